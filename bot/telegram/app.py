"""`build_application`: the one place the Telegram application is wired.

Production (`python -m bot run`), the end-to-end tests and the benchmarks all call it, so
they exercise exactly the same handlers, limits and lifecycle hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
from pathlib import Path

from telegram import BotCommand
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot.config import Config
from bot.content import default_content_dir
from bot.engine import Engine
from bot.i18n import SOURCE_LANGUAGE, Locales, default_locales, default_locales_dir
from bot.snapshot import load_or_build
from bot.storage import IDLE_DAYS, GuardedStorage, SQLiteStorage, Storage
from bot.telegram import handlers as h
from bot.telegram.reload import load_content, read_content
from bot.telegram.request import RetryingLimiter, UpdatesRequest

log = logging.getLogger("bot.telegram.app")

# Exactly the update types the handlers below handle. Telegram keeps the previous setting
# when allowed_updates is omitted, so it is always passed explicitly.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "inline_query", "my_chat_member"]
PURGE_EVERY_SECONDS = 24 * 60 * 60
STARTING_POLL_SECONDS = 0.5
MAX_RETRIES_ON_429 = 3
# Connections to the Bot API. Telegram takes 30 messages/s, so 16 connections carry that
# rate up to ~0.5 s per round trip; more only cost CPU: httpcore checks every idle
# connection on every request (a pool of 256 left as many connections open as answers in
# flight, and that bookkeeping grew with them). Answers beyond 16 wait for a connection,
# for up to POOL_TIMEOUT seconds, then the call is retried like a time-out.
CONNECTION_POOL = 16
POOL_TIMEOUT = 20.0
STORAGE_COOLDOWN_SECONDS = 10.0  # after a storage failure, skip it this long, then retry
TELEGRAM_LANGUAGE_CODE = re.compile(r"^[a-z]{2}$")


def load_engine(config: Config | None = None) -> Engine:
    """The engine over the shipped content and translations.

    Raises ContentInvalid on any error in content/ or locales/ (see bot.telegram.reload).
    With a `config`, the matcher's index comes from a signed plain-data snapshot in its
    data directory when the files are unchanged since it was written (bot.snapshot), so a
    restart skips indexing; the content is read and checked either way.
    """
    if config is None:
        return load_content()
    engine, reused = load_or_build(
        read_content,
        data_dir=config.data_dir,
        # A key of its own, derived like the webhook secret (bot.config).
        secret=hmac.new(config.hmac_key(), b"engine-snapshot", hashlib.sha256).digest(),
        content_dir=default_content_dir(),
        locales_dir=default_locales_dir(),
    )
    log.info("content: loaded; index %s", "from the snapshot" if reused else "built")
    return engine


def command_list(lang: str, locales: Locales | None = None) -> list[BotCommand]:
    _ = (locales or default_locales()).translations(lang).gettext
    return [
        BotCommand("start", _("Start: what I do and the topics")),
        BotCommand("topics", _("All topics")),
        BotCommand("language", _("Change the language")),
        BotCommand("help", _("How to ask a question")),
        BotCommand("privacy", _("What I store about you")),
        BotCommand("forget", _("Delete what I store about you")),
        BotCommand("card", _("A card to show reception staff")),
    ]


def description(lang: str, locales: Locales | None = None) -> str:
    """Shown in an empty chat before /start (at most 512 characters)."""
    _ = (locales or default_locales()).translations(lang).gettext
    return _(
        "Free, confidential answers about NHS health care for migrants in the UK: registering "
        "with a GP, hospital charges, A&E, maternity care, mental health, interpreters and "
        "more, with links to official sources. I never ask about your immigration status. "
        "General information, not medical advice: in an emergency call 999."
    )


def short_description(lang: str, locales: Locales | None = None) -> str:
    """Shown on the bot's profile and in shared links (at most 120 characters)."""
    _ = (locales or default_locales()).translations(lang).gettext
    return _("What NHS care migrants in the UK can get, and how. Never asks about your status.")


async def register_commands(application: Application) -> None:
    """Commands and descriptions per shipped language, plus the default (English) set."""
    bot = application.bot
    locales = application.bot_data["services"].engine.locales
    codes: list[str | None] = [None]
    for language in locales.shipped():
        if TELEGRAM_LANGUAGE_CODE.match(language.code):
            codes.append(language.code)
        else:  # Telegram takes ISO 639-1 only; these people see the default (English) set
            log.info(
                "commands for %s: Telegram has no two-letter code, default used", language.code
            )
    for code in codes:
        lang = code or SOURCE_LANGUAGE
        try:
            await bot.set_my_commands(command_list(lang, locales), language_code=code)
            await bot.set_my_description(description(lang, locales), language_code=code)
            await bot.set_my_short_description(
                short_description(lang, locales), language_code=code
            )
        except TelegramError as exc:  # cosmetic: never stop the bot from starting
            log.warning("could not register commands for %s (%s)", lang, type(exc).__name__)


async def purge_once(storage: Storage) -> None:
    """Delete rows idle for more than IDLE_DAYS, and any deletion that failed before."""
    removed = await storage.purge_idle(IDLE_DAYS)
    log.info("purge: removed %d idle row(s)", removed)


def schedule_purge(application: Application, every: float = PURGE_EVERY_SECONDS) -> None:
    """A purge now and then once a day, each an `Application.create_task`.

    PTB awaits the tasks it created when the application stops, so each purge is one short
    task (never a loop that would hold up the stop); the timer between them is cancelled
    in post_stop.
    """
    svc: h.Services = application.bot_data["services"]
    loop = asyncio.get_running_loop()

    def run() -> None:
        svc.timers.clear()  # the timer that called this has fired
        if application.running:
            application.create_task(purge_once(svc.storage), name="purge-idle")
            svc.timers.append(loop.call_later(every, run))
        else:  # post_init runs before start(): wait until PTB awaits its tasks
            svc.timers.append(loop.call_later(STARTING_POLL_SECONDS, run))

    svc.timers.append(loop.call_soon(run))


async def post_init(application: Application) -> None:
    """Background work; polling (or the webhook) starts without waiting for it.

    Registering commands and descriptions takes three Bot API calls per language (33 with
    ten): awaited here, they held back the first answer by 33 round trips (3.3 s at 100 ms
    each). They are cosmetic, so they now run beside the first answers.
    """
    svc: h.Services = application.bot_data["services"]
    svc.tasks.append(asyncio.create_task(register_commands(application), name="commands"))
    schedule_purge(application)


async def post_stop(application: Application) -> None:
    """Background tasks end before the bot's HTTP client is shut down.

    python-telegram-bot runs post_shutdown only after `Application.shutdown()`, so command
    registration still under way at a SIGTERM would have called a closed client.
    """
    svc: h.Services = application.bot_data["services"]
    for timer in svc.timers:
        timer.cancel()
    svc.timers.clear()
    for task in svc.tasks:
        task.cancel()
    for task in svc.tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    svc.tasks.clear()


async def post_shutdown(application: Application) -> None:
    await post_stop(application)  # a no-op when it already ran (run_polling, run_webhook)
    await application.bot_data["services"].storage.close()


def add_handlers(application: Application) -> None:
    new = filters.UpdateType.MESSAGE
    for name, callback in (
        ("start", h.start),
        ("topics", h.topics),
        ("language", h.language),
        ("help", h.help_command),
        ("privacy", h.privacy),
        ("forget", h.forget),
        ("card", h.card),
    ):
        application.add_handler(CommandHandler(name, callback, filters=new))
    application.add_handler(MessageHandler(new & filters.COMMAND, h.unknown_command))
    application.add_handler(MessageHandler(new & filters.TEXT & ~filters.COMMAND, h.on_text))
    application.add_handler(
        MessageHandler(filters.UpdateType.EDITED_MESSAGE & filters.TEXT, h.on_edited_text)
    )
    application.add_handler(
        MessageHandler(new & ~filters.TEXT & ~filters.StatusUpdate.ALL, h.on_non_text)
    )
    application.add_handler(CallbackQueryHandler(h.on_callback))
    application.add_handler(InlineQueryHandler(h.on_inline_query))
    application.add_handler(
        ChatMemberHandler(h.on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER)
    )
    application.add_error_handler(h.on_error)


def build_application(
    config: Config,
    engine: Engine | None = None,
    *,
    storage: Storage | None = None,
    content_dir: Path | None = None,
    locales_dir: Path | None = None,
    read_timeout: float | None = None,
) -> Application:
    """The whole bot: handlers, storage, rate limiter, retries, lifecycle hooks.

    `engine` defaults to the content in `content_dir` and `locales_dir` (the shipped ones by
    default; a reload reads them again); `storage` to SQLite in BOT_DATA_DIR keyed by
    BOT_SECRET. Whatever the backend, it is wrapped in GuardedStorage (unless it is one
    already) so that its failures never stop answers. `read_timeout` (seconds to wait for
    Telegram's answer) keeps PTB's default unless given.

    429 "Too Many Requests" is retried by the AIORateLimiter (after the wait Telegram asks
    for), or by `RetryingLimiter` when the limiter is off; other transient failures by
    `RetryingLimiter` (never a send that may have been carried out); getUpdates by PTB's
    own polling loop.
    """
    if engine is None:
        engine = load_content(content_dir, locales_dir)
    if storage is None:
        storage = SQLiteStorage.in_dir(config.data_dir, config.hmac_key())
    timeouts = {} if read_timeout is None else {"read_timeout": read_timeout}
    request = HTTPXRequest(
        connection_pool_size=CONNECTION_POOL, pool_timeout=POOL_TIMEOUT, **timeouts
    )
    pacer = None
    if config.rate_limit > 0:
        pacer = AIORateLimiter(overall_max_rate=config.rate_limit, max_retries=MAX_RETRIES_ON_429)
    builder = (
        Application.builder()
        .token(config.token)
        .base_url(config.api_base_url)
        .request(request)
        .get_updates_request(UpdatesRequest(connection_pool_size=1, **timeouts))
        .concurrent_updates(True)
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .rate_limiter(RetryingLimiter(pacer))
    )
    application = builder.build()
    application.bot_data["services"] = h.Services(
        engine=engine,
        storage=(
            storage
            if isinstance(storage, GuardedStorage)
            else GuardedStorage(storage, cooldown=STORAGE_COOLDOWN_SECONDS)
        ),
        content_dir=content_dir,
        locales_dir=locales_dir,
    )
    add_handlers(application)
    return application
