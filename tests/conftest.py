"""Shared fixtures.

- `content_copy`: the small valid content under tests/fixtures/content.
- The Telegram harness used by every end-to-end test file: the production application
  (`build_application`) polling the fake Bot API server (`running_bot`, the `bot` fixture),
  and helpers to run `python -m bot run` as an operator does (`start_operator`...).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import signal
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_bot_api import TOKEN, Call, FakeBotAPI, FakeUser

from bot.config import Config
from bot.engine import Engine
from bot.i18n import default_locales_dir
from bot.storage import DB_FILE, user_key

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parent.parent
SECRET = "e2e-test-secret-0123456789abcdef"
ALICE = FakeUser(424242001, "Amina", "en")
BOB = FakeUser(424242002, "Bilal", "ar")  # the Arabic app: Arabic if it ships, else English
CAROL = FakeUser(424242003, "Chen", None)
GP = "gp-registration"


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    """A writable copy of the small valid fixture content, as `<tmp>/content`."""
    dest = tmp_path / "content"
    shutil.copytree(FIXTURES / "content", dest)
    return dest


# --------------------------------------------------------------------------- Telegram harness


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The engine over the shipped content, built once (it holds no per-person state)."""
    from bot.telegram.app import load_engine

    return load_engine()


class Conversation:
    """A person's side of a chat with a bot that talks to `api`: in process (Harness) or
    run as an operator would, in a subprocess (the privacy canary)."""

    api: FakeBotAPI
    reply_timeout: ClassVar[float] = 20.0

    async def say(self, user: FakeUser, text: str, *, chat: dict | None = None) -> Call:
        """Send a message and return the bot's (last) reply in that chat."""
        chat_id = (chat or {"id": user.id})["id"]
        before = len(self.api.sent(chat_id))
        self.api.send_text(user, text, chat=chat)
        await self.api.wait_for(
            lambda: len(self.api.sent(chat_id)) > before, timeout=self.reply_timeout
        )
        return self.api.sent(chat_id)[-1]

    async def press(self, user: FakeUser, message: dict, data: str) -> str:
        """Press a button and wait until the query is answered and the bot has finished."""
        chat_id = message["chat"]["id"]
        edits = len(self.api.calls_to("editMessageText"))
        sends = len(self.api.sent(chat_id))
        query_id = self.api.press(user, message, data)
        await self.api.wait_for(
            lambda: (
                self.api.callback_queries[query_id]
                and (
                    len(self.api.calls_to("editMessageText")) > edits
                    or len(self.api.sent(chat_id)) > sends
                )
            ),
            timeout=self.reply_timeout,
        )
        return query_id

    async def choose_language(self, user: FakeUser, lang: str) -> None:
        """/language, then press that language's button (the choice is stored)."""
        chooser = await self.say(user, "/language")
        await self.press(user, chooser.result, f"lang:{lang}")

    async def sentinel(self, user: FakeUser = CAROL) -> None:
        """Updates are handled in order of arrival: once this is answered, earlier ones are."""
        await self.say(user, "/help")


@dataclass
class Harness(Conversation):
    api: FakeBotAPI
    app: Any
    config: Config
    data_dir: Path
    errors: list[BaseException] = field(default_factory=list)  # what reached error handlers

    @property
    def services(self) -> Any:
        return self.app.bot_data["services"]

    def stored_keys(self) -> set[str]:
        path = self.data_dir / DB_FILE
        if not path.exists():
            return set()
        with contextlib.closing(sqlite3.connect(path)) as conn:
            try:
                return {row[0] for row in conn.execute("SELECT key FROM people")}
            except sqlite3.DatabaseError:
                return set()

    def has_row(self, user: FakeUser) -> bool:
        return user_key(SECRET.encode(), user.id) in self.stored_keys()

    async def inject(self, update: dict) -> None:
        """Put an update straight on the application's queue, as PTB's updater does: for
        update types Telegram would not deliver with our allowed_updates."""
        from telegram import Update

        update = {"update_id": 990_000_000 + len(self.api.calls), **update}
        await self.app.update_queue.put(Update.de_json(update, self.app.bot))


def config_for(api: FakeBotAPI, data_dir: Path, **extra: str) -> Config:
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": api.base_url,
        "BOT_DATA_DIR": str(data_dir),
        "BOT_SECRET": SECRET,
        **extra,
    }
    return Config.from_env(env)


@contextlib.asynccontextmanager
async def running_bot(
    engine: Engine | None,
    tmp_path: Path,
    *,
    build: dict[str, Any] | None = None,
    poll_timeout: float = 5,
    **env: str,
) -> AsyncIterator[Harness]:
    """The production application, polling the fake server (run_polling minus the signals).

    `build`: extra keyword arguments for build_application; `env`: extra environment."""
    from bot.telegram.app import ALLOWED_UPDATES, build_application

    async with FakeBotAPI() as api:
        config = config_for(api, tmp_path / "data", **env)
        app = build_application(config, engine, **(build or {}))
        harness = Harness(api, app, config, tmp_path / "data")

        async def record(update: object, context: Any) -> None:
            harness.errors.append(context.error)

        app.add_error_handler(record)
        await app.initialize()
        await app.post_init(app)
        await app.updater.start_polling(
            poll_interval=0,
            timeout=dt.timedelta(seconds=poll_timeout),
            allowed_updates=ALLOWED_UPDATES,
        )
        await app.start()
        try:
            yield harness
        finally:
            await app.updater.stop()
            await app.stop()
            await app.post_shutdown(app)
            await app.shutdown()


HOOK_SECRET = "s3cret_token-for-tests"


@dataclass
class WebhookRun:
    """The production application behind our webhook server on a loopback port."""

    api: FakeBotAPI
    app: Any
    server: Any  # bot.telegram.webhook.WebhookServer
    url: str
    errors: list[BaseException] = field(default_factory=list)


@contextlib.asynccontextmanager
async def webhook_bot(
    engine: Engine | None, tmp_path: Path, *, limits: Any = None, **env: str
) -> AsyncIterator[WebhookRun]:
    """`serving_webhook` (what `run --webhook` does) on 127.0.0.1, the fake API posting."""
    from bot.telegram.app import ALLOWED_UPDATES, build_application
    from bot.telegram.serve import serving_webhook

    async with FakeBotAPI() as api:
        port = free_port()
        url = f"http://127.0.0.1:{port}/telegram"
        settings = {"WEBHOOK_SECRET": HOOK_SECRET, **env}
        config = config_for(
            api,
            tmp_path / "data",
            WEBHOOK_URL=url,
            PORT=str(port),
            WEBHOOK_LISTEN="127.0.0.1",
            **settings,
        )
        app = build_application(config, engine)
        run = WebhookRun(api, app, None, url)

        async def record(update: object, context: Any) -> None:
            run.errors.append(context.error)

        app.add_error_handler(record)
        async with serving_webhook(
            app, config, allowed_updates=ALLOWED_UPDATES, limits=limits
        ) as server:
            run.server = server
            yield run


@pytest.fixture
async def bot(engine: Engine, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_bot(engine, tmp_path) as harness:
        yield harness


def buttons(call: Call) -> list[str]:
    markup = call.result.get("reply_markup") or {}
    return [
        b.get("callback_data") or b.get("url")
        for row in markup.get("inline_keyboard", [])
        for b in row
    ]


def text_of(call: Call) -> str:
    return call.result["text"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- as an operator


def operator_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_", "BOT_"))
    }
    env.pop("PORT", None)
    env.pop("LOG_LEVEL", None)
    env.update(
        {
            "BOT_DATA_DIR": str(tmp_path / "data"),
            "BOT_SECRET": SECRET,  # `run` requires it, as in production
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return env


def webhook_operator_env(tmp_path: Path, api: FakeBotAPI, port: int, **extra: str) -> dict:
    """`operator_env` for `python -m bot run --webhook` on 127.0.0.1:`port` against `api`."""
    return operator_env(
        tmp_path,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=api.base_url,
        WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
        PORT=str(port),
        **extra,
    )


async def start_operator(
    env: dict[str, str], *args: str, cwd: Path = ROOT, **options: Any
) -> asyncio.subprocess.Process:
    """`python -m bot run ARGS` (from `cwd`, whose `bot` package is the one run);
    `options` go to the subprocess (a `preexec_fn`, another `stdout`)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        *args,
        cwd=cwd,
        env=env,
        **{"stdout": asyncio.subprocess.PIPE, "stderr": asyncio.subprocess.PIPE, **options},
    )


async def stop_operator(
    proc: asyncio.subprocess.Process, *, terminate: bool = True
) -> tuple[int, str]:
    """SIGTERM (as a platform does on deploy) unless it should exit by itself; collect stderr."""
    code, _out, err = await stop_operator_output(proc, terminate=terminate)
    return code, err


async def stop_operator_output(
    proc: asyncio.subprocess.Process, *, terminate: bool = True
) -> tuple[int, str, str]:
    """Like stop_operator, with stdout too: (exit code, stdout, stderr)."""
    if terminate and proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        raise
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


# --------------------------------------------------------------------------- small apps


def copy_content(dest: Path) -> tuple[Path, Path]:
    """Small content (tests/fixtures/content) and one language's files from locales/: the
    reload machinery is the same as for the full content, and each load takes a moment."""
    content, locales = dest / "content", dest / "locales"
    shutil.copytree(FIXTURES / "content", content)
    folders = sorted(p.parent.parent for p in default_locales_dir().glob("*/LC_MESSAGES/*.po"))
    if not folders:
        pytest.skip("no translation catalogue in locales/")
    source = next((f for f in folders if f.name == "fr"), folders[0])
    shutil.copytree(
        source, locales / source.name, ignore=shutil.ignore_patterns("*.mo", "examples.yaml")
    )
    return content, locales


def copy_app(dest: Path) -> Path:
    """The package with its own (small) content/ and locales/, run as `python -m bot` there."""
    shutil.copytree(ROOT / "bot", dest / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    copy_content(dest)
    return dest


class Lines:
    """Collects a subprocess stream line by line, so tests can wait for a log line."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.lines: list[str] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode(errors="replace").rstrip("\n"))
            self._changed.set()

    async def wait_for(self, needle: str, timeout: float = 60) -> str:
        async def find() -> str:
            while True:
                for line in self.lines:
                    if needle in line:
                        return line
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(find(), timeout)
        except TimeoutError:
            raise AssertionError(f"no line with {needle!r}: {self.lines[-20:]}") from None

    async def close(self) -> str:
        await self._task
        return "\n".join(self.lines)
