"""Privacy canary: a unique marker in everything people send, and a known Telegram id.

Whole conversations go through every path (answers, buttons, inline mode, groups, media
captions, edits, deep links, language choice and /forget, a blocked person, Telegram
failing with 400, 403, 429 and 5xx, an update python-telegram-bot cannot read, malformed
webhook bodies) at LOG_LEVEL=DEBUG. Then all log output is searched (every record of every
logger in process; stdout and stderr of `python -m bot run`), and every file in the data
directory (the SQLite database with its -wal and -shm files, the secret): neither the
marker nor the id in decimal appears anywhere.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
import sys
import traceback
import uuid
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).parent))

from conftest import (
    CAROL,
    GP,
    SECRET,
    Conversation,
    Lines,
    copy_app,
    free_port,
    operator_env,
    running_bot,
    start_operator,
)
from fake_bot_api import BOT_USERNAME, TOKEN, FakeBotAPI, FakeUser

from bot.engine import Engine
from bot.storage import DB_FILE
from bot.telegram.logs import setup_logging

MARKER = f"Canary{uuid.uuid4().hex[:10]}"
PERSON = FakeUser(7_303_190_467, f"Name{MARKER}", "en", username=f"u{MARKER}"[:32])
RAW_ID = str(PERSON.id)


class Everything(logging.Handler):
    """Every record of every logger, formatted with its exception, as any handler sees it."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:
            text = f"{record.msg} {record.args}"
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        if record.stack_info:
            text += "\n" + record.stack_info
        self.texts.append(f"{record.name} {record.levelname} {text}")


def leaks(text: str) -> list[str]:
    return [needle for needle in (MARKER, RAW_ID) if needle in text]


def assert_data_dir_clean(data_dir: Path) -> None:
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.name == DB_FILE for p in files), files
    for path in files:
        raw = path.read_bytes()
        for needle in (MARKER, RAW_ID):
            for encoded in (needle.encode(), needle.encode("utf-16-le")):
                assert encoded not in raw, (path.name, needle)


def marked(text: str) -> str:
    return f"{text} {MARKER} 07700900123"


async def converse(bot, api: FakeBotAPI) -> None:
    """Every conversational path, the marker in every text the person sends."""
    await bot.say(PERSON, "/start")
    await bot.say(PERSON, marked("how do i register with a gp"))
    await bot.say(PERSON, marked("chest pain cant breathe"))
    await bot.say(PERSON, f"/start {MARKER}")
    await bot.say(PERSON, f"/start {GP}-{MARKER}")
    await bot.say(PERSON, f"/{MARKER.lower()}")
    await bot.say(PERSON, f"/card {MARKER}")
    original = api.send_text(PERSON, marked("hwo do i registr"))
    await api.wait_for(lambda: api.sent(PERSON.id))
    sent = len(api.sent(PERSON.id))
    api.edit_text(original, marked("how do i register"))
    await api.wait_for(lambda: len(api.sent(PERSON.id)) > sent)
    sent = len(api.sent(PERSON.id))
    api.send_other(PERSON, "photo", caption=marked("what is this letter"))
    api.send_forwarded(PERSON, marked("forwarded question about a gp"), origin=CAROL)
    await api.wait_for(lambda: len(api.sent(PERSON.id)) >= sent + 2)
    query = api.inline(PERSON, marked("gp"))
    await api.wait_for(lambda: api.inline_queries[query])
    menu = await bot.say(PERSON, "/topics")
    await bot.press(PERSON, menu.result, f"t:{GP}")
    await bot.press(PERSON, menu.result, f"t:{MARKER}")
    await bot.choose_language(PERSON, "en")  # a stored row
    group = api.group_chat()
    await bot.say(PERSON, f"@{BOT_USERNAME} {marked('can i see a gp')}", chat=group)
    api.send_text(PERSON, marked("group chatter"), chat=group)
    # Telegram failing: 400 (apology), 5xx and 429 (retried), 403 (person forgotten)
    api.fail("sendMessage", 400, f"Bad Request: can't parse {MARKER}", chat_id=PERSON.id)
    api.fail("sendMessage", 502, chat_id=PERSON.id)
    api.fail("sendMessage", 429, retry_after=1, chat_id=PERSON.id)
    sent = len(api.sent(PERSON.id))
    api.send_text(PERSON, marked("first failing question"))
    await api.wait_for(lambda: len(api.sent(PERSON.id)) > sent, timeout=30)
    # an update python-telegram-bot cannot read, carrying the marker
    bad_poll = {"id": MARKER, "question": MARKER, "options": [{"text": MARKER}]}
    message = api._new_message(PERSON, None, poll=bad_poll)
    api.push_update({"message": message})
    ask = await bot.say(PERSON, "/forget")
    await bot.press(PERSON, ask.result, "forget:yes")
    await bot.choose_language(PERSON, "en")
    api.block(PERSON.id)
    api.send_text(PERSON, marked("after blocking"))
    await api.wait_for(lambda: api.calls_to("sendMessage", ok=False)[-1].status == 403)
    api.member_status(PERSON, "kicked")
    await bot.sentinel()


async def test_canary_in_process(engine: Engine, tmp_path: Path, capfd) -> None:
    everything = Everything()
    root = logging.getLogger()
    root.addHandler(everything)
    stream = io.StringIO()
    handler = setup_logging("DEBUG", stream=stream)
    try:
        async with running_bot(engine, tmp_path, LOG_LEVEL="DEBUG") as bot:
            await converse(bot, bot.api)
            await bot.api.wait_for(lambda: not bot.has_row(PERSON))
    finally:
        root.removeHandler(everything)
        root.removeHandler(handler)
        logging.getLogger("bot").setLevel(logging.NOTSET)
    out, err = capfd.readouterr()
    logs = stream.getvalue()
    assert "update=message outcome=" in logs and "update=callback_query" in logs
    assert "update=message outcome=error" in logs  # the 400 reached the error handler
    assert "skipped an update python-telegram-bot cannot read" in logs
    for text in (logs, out, err, *everything.texts):
        assert leaks(text) == [], text[:2000]
    assert_data_dir_clean(tmp_path / "data")


# --------------------------------------------------------------------------- as an operator


async def webhook_abuse(url: str, secret: str) -> list[int]:
    """Bodies that are not updates, all carrying the marker and the id."""
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret}
    bodies = [
        f"{MARKER} {RAW_ID} not json".encode(),
        json.dumps({"update_id": "x", "message": marked(RAW_ID)}).encode(),
        json.dumps([MARKER, int(RAW_ID)]).encode(),
        json.dumps(MARKER).encode(),
        RAW_ID.encode(),
        json.dumps({"update_id": 5, "message": MARKER}).encode(),  # PTB cannot read it
        json.dumps({"update_id": 6, "x": MARKER * 150_000}).encode(),  # too large
        b"\xff" + MARKER.encode(),
    ]
    statuses = []
    async with aiohttp.ClientSession() as session:
        for body in bodies:
            for extra in ({}, {"X-Telegram-Bot-Api-Secret-Token": MARKER}):
                try:
                    async with session.post(url, data=body, headers={**headers, **extra}) as r:
                        statuses.append(r.status)
                except (aiohttp.ClientError, ConnectionError):
                    statuses.append(0)
    return statuses


async def test_canary_as_an_operator(tmp_path: Path) -> None:
    """`python -m bot run` by polling, then `--webhook` with malformed bodies."""
    app_dir = copy_app(tmp_path / "app")
    outputs: list[str] = []
    async with FakeBotAPI() as api:
        env = operator_env(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=api.base_url)
        env["LOG_LEVEL"] = "DEBUG"
        env["BOT_SECRET"] = SECRET  # required by `run`; never in the data dir
        proc = await start_operator(env, cwd=app_dir)
        out, err = Lines(proc.stdout), Lines(proc.stderr)
        try:
            await api.wait_for(lambda: api.polls, timeout=60)
            bot = OperatorBot(api)
            await converse(bot, api)
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 60)
        outputs += [await out.close(), await err.close()]
        assert proc.returncode == 0, outputs[-1]

        port = free_port()
        env.update(WEBHOOK_URL=f"http://127.0.0.1:{port}/hook", PORT=str(port))
        api.blocked.clear()
        proc = await start_operator(env, "--webhook", cwd=app_dir)
        out, err = Lines(proc.stdout), Lines(proc.stderr)
        try:
            await api.wait_for(lambda: api.webhook is not None, timeout=60)
            statuses = await webhook_abuse(f"http://127.0.0.1:{port}/hook", SECRET)
            secret = api.webhook["secret_token"]
            statuses += await webhook_abuse(f"http://127.0.0.1:{port}/hook", secret)
            before = len(api.sent(PERSON.id))
            api.send_text(PERSON, marked("webhook question"))
            await api.wait_for(lambda: len(api.sent(PERSON.id)) > before, timeout=30)
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 60)
        outputs += [await out.close(), await err.close()]
        assert proc.returncode == 0, outputs[-1]
    assert 400 in statuses and 403 in statuses
    logs = "\n".join(outputs)
    assert "update=message outcome=" in logs
    assert "webhook: refused a request with 400 (malformed JSON" in logs
    assert "Traceback" not in logs
    assert leaks(logs) == [], [line for line in logs.splitlines() if leaks(line)]
    assert_data_dir_clean(tmp_path / "data")


class OperatorBot(Conversation):
    """The Harness calls `converse` needs, against a bot running as a subprocess."""

    reply_timeout = 30.0

    def __init__(self, api: FakeBotAPI) -> None:
        self.api = api
