"""Loading the content and translations, at start-up and again on SIGHUP.

`load_content` reads `content/` (bot.content.load_catalogue), reads `locales/`
(bot.i18n.Locales, which checks every gettext catalogue strictly as it reads it) and
builds a new Engine; any error raises `ContentInvalid` with every problem as
`file:line: message`. The bot starts only
from content that passes, and `reload_content` swaps the running engine for a new one only
when it passes too: otherwise the running catalogue stays and each error is logged.

The catalogue check (bot.i18n.read_catalogue; `python -m bot validate` runs the same through
check_catalogues) is stricter than the loader, which skips what it cannot parse.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from bot.content import (
    Catalogue,
    ContentInvalid,
    Problem,
    default_content_dir,
    errors_only,
    load_catalogue,
)
from bot.engine import Engine
from bot.i18n import Locales, default_locales, default_locales_dir

log = logging.getLogger("bot.telegram.reload")

MAX_LOGGED_PROBLEMS = 50


def read_content(
    content_dir: Path | None = None,
    locales_dir: Path | None = None,
    *,
    fresh: bool = False,
    locales: Locales | None = None,
) -> tuple[Catalogue, Locales]:
    """The catalogue and translations in `content_dir` and `locales_dir`, checked;
    ContentInvalid on any error. `fresh` (a reload) reads the translations again even from
    the default directory; `locales` (from bot.snapshot) are used instead of reading them,
    and checked the same way."""
    content_dir = content_dir or default_content_dir()
    default_dir = not fresh and (locales_dir is None or Path(locales_dir) == default_locales_dir())
    locales_dir = Path(locales_dir or default_locales_dir())
    problems: list[Problem] = []
    catalogue = None
    try:
        catalogue = load_catalogue(content_dir)
    except ContentInvalid as exc:
        problems.extend(exc.problems)
    # At start-up the process-wide default Locales is used (the console and CLI share it);
    # a reload always reads the files afresh. Each catalogue is checked strictly as it is
    # read (bot.i18n.read_catalogue), not parsed a second time here.
    if locales is None:
        locales = default_locales() if default_dir else Locales(locales_dir)
    problems.extend(locales.catalogue_problems)
    problems.extend(locales.problems)
    if catalogue is None or errors_only(problems):
        raise ContentInvalid(problems)
    return catalogue, locales


def load_content(
    content_dir: Path | None = None, locales_dir: Path | None = None, *, fresh: bool = False
) -> Engine:
    """A new Engine over `content_dir` and `locales_dir`; ContentInvalid on any error."""
    catalogue, locales = read_content(content_dir, locales_dir, fresh=fresh)
    return Engine(catalogue, locales=locales)


def log_problems(problems: list[Problem]) -> int:
    errors = errors_only(problems)
    for problem in errors[:MAX_LOGGED_PROBLEMS]:
        log.error("content error: %s", problem)
    if len(errors) > MAX_LOGGED_PROBLEMS:
        log.error("... and %d more content error(s)", len(errors) - MAX_LOGGED_PROBLEMS)
    return len(errors)


async def reload_content(application) -> bool:
    """Reload content and translations; swap the engine only if they are valid.

    Reading and indexing run on a worker thread, so the bot keeps answering meanwhile; the
    swap is one assignment, so every update sees either the old engine or the new one.
    Returns True when the new content is in use.
    """
    from bot.telegram.app import register_commands

    svc = application.bot_data["services"]
    async with svc.reload_lock:
        try:
            engine = await asyncio.to_thread(
                load_content, svc.content_dir, svc.locales_dir, fresh=True
            )
        except ContentInvalid as exc:
            count = log_problems(exc.problems)
            log.error(
                "content reload refused: %d error(s); still answering from the content "
                "loaded before",
                count,
            )
            return False
        except Exception as exc:  # never let a reload take the running bot down
            log.error(
                "content reload failed (%s); still answering from the content loaded before",
                type(exc).__name__,
            )
            return False
        old = svc.engine
        svc.engine = engine
        log.info(
            "content reloaded: %d topics (was %d), %d language(s) shipped",
            len(engine.catalogue.topics),
            len(old.catalogue.topics),
            len(engine.locales.shipped()),
        )
    await register_commands(application)  # shipped languages may have changed
    return True


def install_reload_signal(application) -> None:
    """On SIGHUP, reload the content (for `python -m bot run`; not on Windows)."""
    if not hasattr(signal, "SIGHUP"):
        return
    original = application.post_init
    tasks: set[asyncio.Task] = set()

    def on_sighup() -> None:
        log.info("SIGHUP: reloading the content")
        task = asyncio.get_running_loop().create_task(
            reload_content(application), name="reload-content"
        )
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def post_init(app) -> None:
        if original is not None:
            await original(app)
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, on_sighup)

    application.post_init = post_init
