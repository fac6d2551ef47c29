"""Content reload (SIGHUP) and starting only from valid content.

In-process tests drive `reload_content(application)` on the production application polling
the fake Bot API, over writable copies of content/ and locales/. The subprocess tests run
`python -m bot run` from a copy of the package with its own content, exactly as an operator
would, send SIGHUP and talk to the bot through the fake server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from conftest import (
    ALICE,
    GP,
    Lines,
    copy_app,
    copy_content,
    operator_env,
    running_bot,
    start_operator,
    text_of,
)
from fake_bot_api import TOKEN, FakeBotAPI

from bot.content import validate
from bot.i18n import check_catalogues
from bot.telegram.reload import reload_content

OLD_TITLE = "Registering with a GP"
NEW_TITLE = "Registering with a GP surgery"


def retitle(content: Path, title: str) -> None:
    path = content / "topics" / f"{GP}.yaml"
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^title: .*$", f"title: {title}", text, count=1)
    path.write_text(text, encoding="utf-8")


def break_yaml(content: Path) -> str:
    """An unclosed flow sequence in the topic file; returns what `validate` reports."""
    path = content / "topics" / f"{GP}.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("title: ", "title: [unclosed, ", 1), encoding="utf-8")
    problems = [str(p) for p in validate(content) if not p.warning]
    assert problems and re.search(rf"{GP}\.yaml:\d+: ", problems[0]), problems
    return problems[0]


def po_file(locales: Path) -> Path:
    return sorted(locales.glob("*/LC_MESSAGES/messages.po"))[0]


async def title_shown(bot, user=ALICE) -> str:
    return text_of(await bot.say(user, f"/start {GP}")).split("\n", 1)[0]


@contextlib.asynccontextmanager
async def live_bot(tmp_path: Path) -> AsyncIterator[tuple]:
    content, locales = copy_content(tmp_path / "live")
    build = {"content_dir": content, "locales_dir": locales}
    async with running_bot(None, tmp_path, build=build) as bot:
        yield bot, content, locales


# --------------------------------------------------------------------------- in process


async def test_valid_content_is_swapped_in(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    async with live_bot(tmp_path) as (bot, content, _locales):
        assert await title_shown(bot) == OLD_TITLE
        old = bot.services.engine
        retitle(content, NEW_TITLE)
        assert await reload_content(bot.app) is True
        assert bot.services.engine is not old
        assert await title_shown(bot) == NEW_TITLE
        assert "content reloaded" in caplog.text
        assert bot.errors == []


async def test_invalid_yaml_keeps_the_running_content(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    async with live_bot(tmp_path) as (bot, content, _locales):
        old = bot.services.engine
        expected = break_yaml(content)
        assert await reload_content(bot.app) is False
        assert bot.services.engine is old
        assert await title_shown(bot) == OLD_TITLE  # still answering from the old content
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert f"content error: {expected}" in errors  # file:line: message, as `validate`
        assert any("content reload refused: " in e for e in errors)
        assert "Traceback" not in caplog.text
        # fixed: the next reload takes it
        retitle(content, NEW_TITLE)
        path = content / "topics" / f"{GP}.yaml"
        path.write_text(path.read_text().replace("[unclosed, ", ""), encoding="utf-8")
        assert await reload_content(bot.app) is True
        assert await title_shown(bot) == NEW_TITLE
        assert bot.errors == []


async def test_broken_catalogue_keeps_the_running_content(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    async with live_bot(tmp_path) as (bot, _content, locales):
        old = bot.services.engine
        po = po_file(locales)
        lines = po.read_text(encoding="utf-8").splitlines()
        lines.insert(20, "this is not po syntax")  # becomes line 21
        po.write_text("\n".join(lines) + "\n", encoding="utf-8")
        assert await reload_content(bot.app) is False
        assert bot.services.engine is old
        rel = po.relative_to(locales.parent)
        assert f"content error: {rel}:21: invalid catalogue" in caplog.text
        assert (await bot.say(ALICE, "/start")).ok
        assert bot.errors == []


async def test_translation_with_wrong_placeholder_is_refused(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    async with live_bot(tmp_path) as (bot, _content, locales):
        for po in sorted(locales.glob("*/LC_MESSAGES/messages.po")):
            text = po.read_text(encoding="utf-8")
            at = text.find("{days}", text.find("msgstr", text.find("{days}")))
            if at != -1:
                break
        else:
            pytest.skip("no translated message with a placeholder")
        po.write_text(text[:at] + "{dias}" + text[at + len("{days}") :], encoding="utf-8")
        line = text[:at].count("\n") + 1
        problems = check_catalogues(locales)
        assert problems and problems[0].message.startswith("placeholders differ")
        assert problems[0].line <= line
        assert await reload_content(bot.app) is False
        assert "placeholders differ from the English ({days}, {dias})" in caplog.text
        assert bot.errors == []


async def test_broken_language_file_is_refused(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    async with live_bot(tmp_path) as (bot, _content, locales):
        meta = sorted(locales.glob("*/language.yaml"))[0]
        meta.write_text("name: [unclosed\n", encoding="utf-8")
        assert await reload_content(bot.app) is False
        assert f"{meta.relative_to(locales.parent)}:" in caplog.text
        assert bot.errors == []


async def test_reload_that_ships_a_language_registers_its_commands(tmp_path: Path) -> None:
    content, locales = copy_content(tmp_path / "live")
    meta = sorted(locales.glob("*/language.yaml"))[0]
    code = meta.parent.name
    original = meta.read_text(encoding="utf-8")
    meta.write_text(re.sub(r"(?m)^shipped:.*$", "shipped: false", original), encoding="utf-8")
    build = {"content_dir": content, "locales_dir": locales}
    async with running_bot(None, tmp_path, build=build) as bot:
        assert not bot.services.engine.locales.is_shipped(code)
        meta.write_text(re.sub(r"(?m)^shipped:.*$", "shipped: true", original), encoding="utf-8")
        assert await reload_content(bot.app) is True
        assert bot.services.engine.locales.is_shipped(code)
        if len(code) == 2:  # Telegram takes two-letter codes only
            await bot.api.wait_for(lambda: ("default", code) in bot.api.commands)
        chooser = await bot.say(ALICE, "/language")
        assert any(
            b["callback_data"] == f"lang:{code}"
            for row in chooser.result["reply_markup"]["inline_keyboard"]
            for b in row
        )
        assert bot.errors == []


async def test_answers_continue_during_a_reload(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as (bot, content, _locales):
        retitle(content, NEW_TITLE)
        reloading = asyncio.create_task(reload_content(bot.app))
        replies = [await bot.say(ALICE, "how do i register with a gp") for _ in range(3)]
        assert all(r.ok for r in replies)
        assert await reloading is True
        assert await title_shown(bot) == NEW_TITLE


# --------------------------------------------------------------------------- as an operator


async def test_sighup_reloads_only_valid_content(tmp_path: Path) -> None:
    app_dir = copy_app(tmp_path / "app")
    content = app_dir / "content"
    async with FakeBotAPI() as api:
        env = operator_env(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=api.base_url)
        proc = await start_operator(env, cwd=app_dir)
        stderr = Lines(proc.stderr)
        try:
            await api.wait_for(lambda: api.polls, timeout=60)

            async def title() -> str:
                before = len(api.sent(ALICE.id))
                api.send_text(ALICE, f"/start {GP}")
                await api.wait_for(lambda: len(api.sent(ALICE.id)) > before, timeout=30)
                return text_of(api.sent(ALICE.id)[-1]).split("\n", 1)[0]

            assert await title() == OLD_TITLE
            expected = break_yaml(content)
            proc.send_signal(signal.SIGHUP)
            await stderr.wait_for("content reload refused")
            assert any(f"content error: {expected}" in line for line in stderr.lines)
            assert await title() == OLD_TITLE  # still up, still the old content

            path = content / "topics" / f"{GP}.yaml"
            path.write_text(path.read_text().replace("[unclosed, ", ""), encoding="utf-8")
            retitle(content, NEW_TITLE)
            proc.send_signal(signal.SIGHUP)
            await stderr.wait_for("content reloaded")
            assert await title() == NEW_TITLE
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 60)
            log = await stderr.close()
        assert code == 0, log
        assert "Traceback" not in log


@pytest.mark.parametrize("breakage", ["yaml", "po"])
async def test_the_bot_starts_only_from_valid_content(tmp_path: Path, breakage: str) -> None:
    app_dir = copy_app(tmp_path / "app")
    if breakage == "yaml":
        expected = break_yaml(app_dir / "content")
    else:
        po = po_file(app_dir / "locales")
        lines = po.read_text(encoding="utf-8").splitlines()
        lines.insert(20, "this is not po syntax")
        po.write_text("\n".join(lines) + "\n", encoding="utf-8")
        expected = f"{po.relative_to(app_dir)}:21: invalid catalogue"
    env = operator_env(
        tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL="http://127.0.0.1:9/bot"
    )
    proc = await start_operator(env, cwd=app_dir)
    _out, err = await asyncio.wait_for(proc.communicate(), 60)
    stderr = err.decode()
    assert proc.returncode == 1, stderr
    assert expected in stderr
    assert "before starting the bot" in stderr
    assert "Traceback" not in stderr


def test_a_reload_reads_the_translations_again_even_from_the_default_directory() -> None:
    """SIGHUP after editing locales/ must see the edit: the start-up Locales (shared by the
    process) is reused only at start-up, never by a reload."""
    from bot.i18n import default_locales, default_locales_dir
    from bot.telegram.reload import load_content

    at_start = load_content()
    reloaded = load_content(locales_dir=default_locales_dir(), fresh=True)
    assert at_start.locales is default_locales()
    assert reloaded.locales is not at_start.locales
    assert reloaded.locales.translations("fr").gettext("All topics") != "All topics"
