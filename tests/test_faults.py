"""Telegram failing in every documented way, and storage failing under the bot.

The real application polls the fake Bot API server, which injects the faults: 429 with
retry_after, 5xx, time-outs (no answer until the client gives up), dropped connections,
403 and 400. Storage faults use real SQLite files: locked, read-only, corrupt.
Waits are on conditions; the only time check is a lower bound (a 429 reply is not sent
before the wait Telegram asked for), which a slow machine cannot break.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from conftest import (
    ALICE,
    BOB,
    CAROL,
    GP,
    SECRET,
    Conversation,
    Lines,
    copy_app,
    operator_env,
    running_bot,
    start_operator,
    text_of,
)
from fake_bot_api import TOKEN, FakeBotAPI, FakeUser

from bot.engine import Engine
from bot.i18n import Locales, default_locales, default_locales_dir
from bot.storage import DB_FILE, GuardedStorage, SQLiteStorage
from bot.telegram.app import register_commands
from bot.telegram.render import render_reply, visible_text

FAST_TIMEOUTS = {"read_timeout": 1.0}
NOT_SAVED = (
    "I could not save this choice just now, so I may not remember it next time. Please "
    "choose your language again later."
)
DANA = FakeUser(424242004, "Dana", "en")  # an English app: her default is English


def network_errors(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if "network error" in r.getMessage()]


# --------------------------------------------------------------------------- 429


@pytest.mark.parametrize("rate_limit", ["30", "0"], ids=["limiter", "no-limiter"])
async def test_429_reply_is_sent_after_the_wait(
    engine: Engine, tmp_path: Path, rate_limit: str
) -> None:
    """With the AIORateLimiter (it retries 429 itself) and without it (RetryingLimiter)."""
    async with running_bot(engine, tmp_path, BOT_RATE_LIMIT=rate_limit) as bot:
        bot.api.fail("sendMessage", 429, retry_after=1, chat_id=ALICE.id)
        reply = await bot.say(ALICE, "how do i register with a gp")
        failed = [c for c in bot.api.calls_to("sendMessage", ok=False) if c.status == 429]
        assert len(failed) == 1
        assert reply.at - failed[0].at >= 0.9  # waited as Telegram asked, then sent
        assert len(bot.api.sent(ALICE.id)) == 1  # sent once, not dropped, not doubled
        assert bot.errors == []


async def test_429_on_a_button_press(engine: Engine, tmp_path: Path) -> None:
    async with running_bot(engine, tmp_path, BOT_RATE_LIMIT="0") as bot:
        menu = await bot.say(ALICE, "/topics")
        bot.api.fail("editMessageText", 429, retry_after=1)
        bot.api.fail("answerCallbackQuery", 429, retry_after=1)
        bot.api.press(ALICE, menu.result, f"t:{GP}")
        await bot.api.wait_for(lambda: bot.api.calls_to("editMessageText", ok=True))
        await bot.api.wait_for(lambda: bot.api.calls_to("answerCallbackQuery", ok=True))
        assert len(bot.api.calls_to("editMessageText", ok=False)) == 1
        assert bot.errors == []


# --------------------------------------------------------------------------- 5xx, time-outs, drops


@pytest.mark.parametrize(
    "inject",
    [
        pytest.param(lambda api: api.fail("sendMessage", 500, chat_id=ALICE.id), id="500"),
        pytest.param(lambda api: api.fail("sendMessage", 502, chat_id=ALICE.id), id="502"),
        pytest.param(
            lambda api: api.fail("sendMessage", 503, "Service Unavailable", times=2), id="503x2"
        ),
        pytest.param(
            lambda api: (api.fail("sendMessage", 500), api.fail("sendMessage", 504)), id="mixed"
        ),
    ],
)
async def test_send_message_failures_are_retried(engine: Engine, tmp_path: Path, inject) -> None:
    """Telegram answered with an error status: it did not act, so sending again is safe."""
    async with running_bot(engine, tmp_path, build=FAST_TIMEOUTS) as bot:
        inject(bot.api)
        reply = await bot.say(ALICE, "how do i register with a gp")
        assert reply.ok
        failed = [c for c in bot.api.calls_to("sendMessage") if not c.ok]
        assert failed, "the fault happened"
        assert len(bot.api.sent(ALICE.id)) == 1  # the answer arrived once
        assert (await bot.say(CAROL, "/start")).ok  # and the bot carries on
        assert bot.errors == []


async def test_act_then_drop_gives_one_answer_not_two(
    engine: Engine, tmp_path: Path, caplog
) -> None:
    """Telegram delivers the answer, then the connection drops before the bot hears so.
    Sending it again would show the person the same answer twice: it is not repeated."""
    caplog.set_level(logging.INFO, logger="bot")
    async with running_bot(engine, tmp_path, build=FAST_TIMEOUTS) as bot:
        bot.api.drop_after("sendMessage", chat_id=ALICE.id)
        bot.api.send_text(ALICE, "how do i register with a gp")
        await bot.api.wait_for(lambda: "not repeated" in caplog.text)
        await bot.sentinel()  # everything before it is handled
        answers = bot.api.sent(ALICE.id)
        assert len(answers) == 1 and text_of(answers[0]).startswith("Registering with a GP")
        assert len(bot.api.calls_to("sendMessage", ok=True)) == len(bot.api.sent()) == 2
        assert (await bot.say(ALICE, "/start")).ok  # and the bot carries on
        assert "how do i register" not in caplog.text


@pytest.mark.parametrize(
    "inject",
    [
        pytest.param(lambda api: api.stall("sendMessage", chat_id=ALICE.id), id="timeout"),
        pytest.param(lambda api: api.drop("sendMessage", chat_id=ALICE.id), id="dropped"),
    ],
)
async def test_a_send_that_may_have_been_delivered_is_not_repeated(
    engine: Engine, tmp_path: Path, caplog, inject
) -> None:
    """A time-out or a connection lost after the request left: the bot cannot tell whether
    Telegram acted (see the test above), so it never sends twice; it logs and carries on."""
    caplog.set_level(logging.INFO, logger="bot")
    async with running_bot(engine, tmp_path, build=FAST_TIMEOUTS) as bot:
        inject(bot.api)
        bot.api.send_text(ALICE, "how do i register with a gp")
        await bot.api.wait_for(lambda: network_errors(caplog.records))
        assert len(bot.api.calls_to("sendMessage")) == 1  # tried once, not repeated
        assert "not repeated" in caplog.text
        assert (await bot.say(ALICE, "/start")).ok
        assert "how do i register" not in caplog.text


@pytest.mark.parametrize("inject", ["stall", "drop", "drop_after"])
async def test_repeatable_calls_are_retried_after_any_failure(
    engine: Engine, tmp_path: Path, inject: str
) -> None:
    """setMyCommands twice changes nothing, so it is retried whatever happened."""
    async with running_bot(engine, tmp_path, build=FAST_TIMEOUTS) as bot:
        await bot.api.wait_for(lambda: ("default", "") in bot.api.commands)
        bot.api.commands.clear()
        getattr(bot.api, inject)("setMyCommands")
        await register_commands(bot.app)
        assert ("default", "") in bot.api.commands
        assert bot.errors == []


async def test_when_retries_run_out_the_bot_carries_on(
    engine: Engine, tmp_path: Path, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    async with running_bot(engine, tmp_path, build=FAST_TIMEOUTS) as bot:
        limiter = bot.app.bot.rate_limiter
        limiter.retries, limiter.backoff = 2, 0.01
        bot.api.fail("sendMessage", 502, times=3, chat_id=ALICE.id)
        bot.api.send_text(ALICE, "how do i register with a gp")
        await bot.api.wait_for(lambda: network_errors(caplog.records))
        assert len(bot.api.calls_to("sendMessage", ok=False)) == 3  # first try + 2 retries
        assert (await bot.say(ALICE, "/start")).ok
        assert "update=message network error: NetworkError" in caplog.text
        assert "how do i register" not in caplog.text


@pytest.mark.parametrize(
    "inject",
    [
        pytest.param(lambda api: api.fail("getUpdates", 502, times=2), id="502x2"),
        pytest.param(lambda api: api.fail("getUpdates", 500), id="500"),
        pytest.param(lambda api: api.stall("getUpdates"), id="timeout"),
        pytest.param(lambda api: api.drop("getUpdates", times=2), id="dropped"),
    ],
)
async def test_get_updates_failures_are_retried(engine: Engine, tmp_path: Path, inject) -> None:
    async with running_bot(engine, tmp_path, build=FAST_TIMEOUTS, poll_timeout=1) as bot:
        await bot.sentinel()  # polling works
        inject(bot.api)
        bot.api.send_text(ALICE, "/start")
        bot.api.send_text(ALICE, "how do i register with a gp")
        await bot.api.wait_for(lambda: len(bot.api.sent(ALICE.id)) == 2)
        assert [c for c in bot.api.calls_to("getUpdates") if not c.ok], "the fault happened"
        await bot.sentinel()
        assert len(bot.api.sent(ALICE.id)) == 2  # nothing lost, nothing twice
        assert bot.errors == []


async def test_slow_telegram_keeps_every_answer(engine: Engine, tmp_path: Path) -> None:
    async with running_bot(engine, tmp_path) as bot:
        bot.api.slow("sendMessage", 0.3)
        users = [ALICE, BOB, CAROL]
        for user in users:
            bot.api.send_text(user, "/topics")
        await bot.api.wait_for(lambda: all(bot.api.sent(u.id) for u in users))
        assert bot.errors == []


# --------------------------------------------------------------------------- 4xx


async def test_blocked_while_pressing_a_button_deletes_the_row(
    engine: Engine, tmp_path: Path
) -> None:
    async with running_bot(engine, tmp_path) as bot:
        await bot.choose_language(ALICE, "en")
        assert bot.has_row(ALICE)
        menu = await bot.say(ALICE, "/topics")
        bot.api.fail("editMessageText", 403, chat_id=ALICE.id)
        bot.api.press(ALICE, menu.result, f"t:{GP}")
        await bot.api.wait_for(lambda: not bot.has_row(ALICE))


async def test_message_not_modified_is_ignored(engine: Engine, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    async with running_bot(engine, tmp_path) as bot:
        chooser = await bot.say(ALICE, "/language")
        await bot.press(ALICE, chooser.result, "lang")  # the same menu: not modified
        failed = bot.api.calls_to("editMessageText", ok=False)
        assert failed and "not modified" in failed[-1].response["description"]
        await bot.sentinel()
        assert len(bot.api.sent(ALICE.id)) == 1  # no apology, no new message
        assert bot.errors == []
        assert "outcome=error" not in caplog.text


# --------------------------------------------------------------------------- storage


@pytest.fixture(scope="module")
def two_languages(engine: Engine, tmp_path_factory) -> tuple[Engine, str]:
    """The shipped content with a second language shipped (a copy of locales/)."""
    locales_dir = tmp_path_factory.mktemp("locales") / "locales"
    shutil.copytree(default_locales_dir(), locales_dir)
    folders = sorted(p.name for p in locales_dir.iterdir() if p.is_dir())
    other = "fr" if "fr" in folders else folders[0]
    meta = locales_dir / other / "language.yaml"
    text = re.sub(r"(?m)^shipped:.*$", "shipped: true", meta.read_text(encoding="utf-8"))
    meta.write_text(text, encoding="utf-8")
    two = Engine(engine.catalogue, matcher=engine.matcher, locales=Locales(locales_dir))
    assert two.locales.is_shipped(other)
    return two, other


def menu_text(engine: Engine, lang: str) -> str:
    return visible_text(render_reply(engine.menu(lang)).chunks[0])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def store_with_busy_timeout(tmp_path: Path) -> SQLiteStorage:
    return SQLiteStorage.in_dir(tmp_path / "data", SECRET.encode(), busy_timeout_ms=100)


def guarded_store(tmp_path: Path, clock: Clock, cooldown: float = 60) -> GuardedStorage:
    """What build_application makes of SQLite, with a clock the test moves on."""
    return GuardedStorage(store_with_busy_timeout(tmp_path), cooldown=cooldown, clock=clock)


def storage_log(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.storage"]


async def test_locked_database(two_languages, tmp_path: Path, caplog) -> None:
    """A long write transaction elsewhere: saved languages still read (WAL), new choices
    cannot be saved, one report, and everything works again once the lock is gone."""
    engine, other = two_languages
    assert menu_text(engine, other) != menu_text(engine, "en")
    caplog.set_level(logging.INFO, logger="bot")
    clock = Clock()
    build = {"storage": guarded_store(tmp_path, clock)}
    async with running_bot(engine, tmp_path, build=build) as bot:
        await bot.choose_language(ALICE, other)
        assert text_of(await bot.say(ALICE, "/topics")) == menu_text(engine, other)
        blocker = sqlite3.connect(bot.data_dir / DB_FILE, isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            await bot.choose_language(DANA, other)  # cannot be saved: still answered
            for _ in range(3):
                assert text_of(await bot.say(ALICE, "/topics")) == menu_text(engine, other)
                assert text_of(await bot.say(DANA, "/topics")) == menu_text(engine, "en")
            failures = [m for m in storage_log(caplog) if "failed" in m]
            assert len(failures) == 1 and "locked" in failures[0]
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        clock.now += 61  # the cool-down is over: the next write is tried again
        await bot.choose_language(DANA, other)
        assert text_of(await bot.say(DANA, "/topics")) == menu_text(engine, other)
        assert any("works again" in m for m in storage_log(caplog))
        assert len([m for m in storage_log(caplog) if "failed" in m]) == 1
        assert bot.errors == []
    assert str(DANA.id) not in caplog.text


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make a file read-only for this process (root ignores modes: use the immutable flag)."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o600)
        return
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: cannot make a file read-only")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("running as root and the file system refuses chattr +i")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


async def test_read_only_database(two_languages, tmp_path: Path, caplog) -> None:
    """Opened read-only: saved languages are read, new choices cannot be saved, one report;
    once the file is writable again, the next write opens it afresh and works."""
    engine, other = two_languages
    seed = store_with_busy_timeout(tmp_path)
    await seed.set_language(ALICE.id, other)
    await seed.close()
    db = tmp_path / "data" / DB_FILE
    caplog.set_level(logging.INFO, logger="bot")
    clock = Clock()
    build = {"storage": guarded_store(tmp_path, clock)}
    protected = read_only(db)
    protected.__enter__()
    try:
        async with running_bot(engine, tmp_path, build=build) as bot:
            for _ in range(3):  # saved choices are still read
                assert text_of(await bot.say(ALICE, "/topics")) == menu_text(engine, other)
            await bot.choose_language(DANA, other)  # cannot be saved: answered all the same
            chosen = visible_text(bot.api.calls_to("editMessageText", ok=True)[-1].params["text"])
            _ = engine.locales.translations(other).gettext
            assert chosen.startswith(_("Language: {language}.").split("{")[0])  # in `other`
            assert _(NOT_SAVED) in chosen and _(NOT_SAVED) != NOT_SAVED  # and says so
            assert text_of(await bot.say(DANA, "/topics")) == menu_text(engine, "en")
            failures = [m for m in storage_log(caplog) if "failed" in m]
            assert len(failures) == 1 and "readonly" in failures[0].replace("-", "")
            assert not bot.has_row(DANA)

            protected.__exit__(None, None, None)  # the operator fixes the permissions
            protected = None
            clock.now += 61
            await bot.choose_language(DANA, other)
            assert bot.has_row(DANA)
            chosen = visible_text(bot.api.calls_to("editMessageText", ok=True)[-1].params["text"])
            assert engine.locales.translations(other).gettext(NOT_SAVED) not in chosen
            assert text_of(await bot.say(DANA, "/topics")) == menu_text(engine, other)
            assert any("works again" in m for m in storage_log(caplog))
            assert bot.errors == []
    finally:
        if protected is not None:
            protected.__exit__(None, None, None)


async def test_corrupt_database_then_replaced(two_languages, tmp_path: Path, caplog) -> None:
    engine, other = two_languages
    data = tmp_path / "data"
    data.mkdir()
    (data / DB_FILE).write_bytes(b"this is not a database " * 200)
    caplog.set_level(logging.INFO, logger="bot")
    build = {"storage": guarded_store(tmp_path, Clock(), cooldown=0)}
    async with running_bot(engine, tmp_path, build=build) as bot:
        await bot.choose_language(ALICE, other)
        for _ in range(3):
            assert text_of(await bot.say(ALICE, "/topics")) == menu_text(engine, "en")
        failures = [m for m in storage_log(caplog) if "failed" in m]
        assert len(failures) == 1 and "DatabaseError" in failures[0]
        for path in data.glob(DB_FILE + "*"):  # the operator moves the broken file away
            path.unlink()
        await bot.choose_language(ALICE, other)
        assert text_of(await bot.say(ALICE, "/topics")) == menu_text(engine, other)
        assert bot.has_row(ALICE)
        assert any("works again" in m for m in storage_log(caplog))
        assert bot.errors == []


def full_disk() -> None:
    """In the child before exec: every write that would grow a file fails (EFBIG), as on a
    full disk; SIGXFSZ ignored so that the write fails instead of killing the process."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


async def test_a_full_disk_gives_honest_replies(tmp_path: Path) -> None:
    """`python -m bot run` on a disk with no room from the first start: it answers, says
    a language choice could not be saved (in that language), says /forget could not
    delete, and leaves no key file anywhere (the key is BOT_SECRET)."""
    async with FakeBotAPI() as api:
        env = operator_env(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=api.base_url)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=full_disk,
        )
        stderr = Lines(proc.stderr)
        try:
            await api.wait_for(lambda: api.polls, timeout=60)
            person = Person(api)
            assert (await person.say(ALICE, "how do i register with a gp")).ok
            await person.choose_language(ALICE, "fr")
            chosen = visible_text(api.calls_to("editMessageText", ok=True)[-1].params["text"])
            _ = default_locales().translations("fr").gettext
            assert _(NOT_SAVED) != NOT_SAVED and _(NOT_SAVED) in chosen
            asked = await person.say(ALICE, "/forget")
            await person.press(ALICE, asked.result, "forget:yes")
            done = visible_text(api.calls_to("editMessageText", ok=True)[-1].params["text"])
            assert "could not delete it just now" in done
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 60)
        logs = await stderr.close()
    assert proc.returncode == 0, logs
    assert "storage" in logs and "failed" in logs
    assert "Traceback" not in logs
    data = tmp_path / "data"
    assert not list(data.rglob("*.key")) and not list(data.rglob("*.tmp"))
    assert not any(p.stat().st_size for p in data.rglob("*") if p.is_file())


class Person(Conversation):
    """Someone talking to a bot that runs as a subprocess."""

    reply_timeout = 30.0

    def __init__(self, api: FakeBotAPI) -> None:
        self.api = api


async def test_storage_cool_down_spares_the_bot_a_wait_per_message(tmp_path: Path) -> None:
    """While storage fails, calls are skipped (not each waiting for SQLite's busy
    timeout) until the cool-down is over; then one call tries again."""
    inner = store_with_busy_timeout(tmp_path)
    calls = 0

    class Counting:
        def __getattr__(self, name):
            method = getattr(inner, name)

            async def counted(*args):
                nonlocal calls
                calls += 1
                return await method(*args)

            return counted

    clock = Clock()
    guarded = GuardedStorage(Counting(), cooldown=10, clock=clock)
    await guarded.set_language(ALICE.id, "en")
    blocker = sqlite3.connect(tmp_path / "data" / DB_FILE, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        calls = 0
        for _ in range(5):
            await guarded.set_language(DANA.id, "en")
        assert calls == 1  # one failure, then skipped
        assert await guarded.get_language(ALICE.id) == "en"  # reads still work (WAL)
        clock.now += 11
        await guarded.touch(DANA.id)
        assert calls == 3  # the read, and one write tried again after the cool-down
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    clock.now += 11
    await guarded.set_language(DANA.id, "en")
    assert await guarded.get_language(DANA.id) == "en"
    await guarded.close()


# --------------------------------------------------------------------------- SIGTERM under load


async def test_sigterm_under_load_finishes_in_flight_updates_and_loses_none(
    tmp_path: Path,
) -> None:
    """`python -m bot run` with replies hanging (a slow Telegram) and more updates queued:
    on SIGTERM it confirms what it fetched, finishes every update in hand (each gets its
    reply) and exits 0; after a restart the rest are answered, and nothing twice."""
    app_dir = copy_app(tmp_path / "app")
    in_flight = [FakeUser(510_000_000 + i, f"P{i}", "en") for i in range(10)]
    queued = [FakeUser(520_000_000 + i, f"Q{i}", "en") for i in range(20)]
    late = [FakeUser(530_000_000 + i, f"L{i}", "en") for i in range(5)]  # after polling stops
    everyone = in_flight + queued + late
    async with FakeBotAPI() as api:
        env = operator_env(
            tmp_path,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=api.base_url,
            BOT_SECRET=SECRET,
            LOG_LEVEL="DEBUG",
        )
        proc = await start_operator(env, cwd=app_dir)
        stderr = Lines(proc.stderr)
        try:
            await api.wait_for(lambda: api.polls, timeout=60)
            releases = [api.hold(user.id) for user in in_flight]
            update_of = {}
            for user in in_flight:
                message = api.send_text(user, "how do i register with a gp")
                update_of[user.id] = api._queue[-1]["update_id"]
                assert message
            await api.wait_for(lambda: {u.id for u in in_flight} <= set(api.waiting))
            for user in queued:
                api.send_text(user, "/start")
                update_of[user.id] = api._queue[-1]["update_id"]
            polls = len(api.polls)
            proc.send_signal(signal.SIGTERM)
            # PTB stops polling and confirms the updates it fetched (offset, no long poll)
            await api.wait_for(
                lambda: any(int(p.get("timeout") or 0) == 0 for p in api.polls[polls:]),
                timeout=30,
            )
            for user in late:
                api.send_text(user, "/help")
                update_of[user.id] = api._queue[-1]["update_id"]
            for release in releases:
                release.set()
            code = await asyncio.wait_for(proc.wait(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        log = await stderr.close()
        assert code == 0, log
        assert "Traceback" not in log
        for user in in_flight:  # every update in hand was finished, with its reply
            assert len(api.sent(user.id)) == 1, user
        answered = {u.id for u in everyone if api.sent(u.id)}
        pending = set(api.pending_update_ids())
        assert not {update_of[uid] for uid in answered} & pending  # confirmed: never again
        assert {update_of[u.id] for u in late} <= pending  # not fetched: kept by Telegram

        polls = len(api.polls)
        proc = await start_operator(env, cwd=app_dir)
        stderr = Lines(proc.stderr)
        try:
            await api.wait_for(lambda: len(api.polls) > polls, timeout=60)
            await api.wait_for(lambda: all(api.sent(u.id) for u in everyone), timeout=60)
            await api.wait_idle()
        finally:
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 60)
        log = await stderr.close()
        assert code == 0, log
        for user in everyone:
            assert len(api.sent(user.id)) == 1, user  # nothing lost, nothing twice


async def test_the_daily_purge_is_an_application_task_and_retries_failed_deletions(
    engine: Engine, tmp_path: Path, caplog
) -> None:
    """The purge runs through Application.create_task (PTB awaits it at stop) and deletes
    what a failed /forget left; its timer is gone once the bot has stopped."""
    caplog.set_level(logging.INFO, logger="bot")
    async with running_bot(engine, tmp_path) as bot:
        await bot.api.wait_for(lambda: "purge: removed" in caplog.text)
        storage = bot.services.storage
        await storage.set_language(ALICE.id, "en")
        assert bot.has_row(ALICE)
        storage._pending_forget.add(ALICE.id)  # as after a /forget that failed
        await schedule_purge_now(bot.app)
        await bot.api.wait_for(lambda: not bot.has_row(ALICE))
        assert storage.pending_forgets == 0
        assert "deletion(s) that had failed are done now" in caplog.text
    assert bot.services.timers == []


async def schedule_purge_now(app) -> None:
    from bot.telegram.app import purge_once

    await app.create_task(purge_once(app.bot_data["services"].storage), name="purge-test")
