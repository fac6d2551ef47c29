"""Configuration of the Telegram bot, read once from the environment.

Every setting is documented in `.env.example` and the README. A missing or malformed value
raises `ConfigError` with one sentence that says how to fix it; the CLI prints that line and
exits with code 2 (no traceback).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger("bot.config")

TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]{30,}$")
WEBHOOK_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_PORT = 8443
DEFAULT_DATA_DIR = "./data"
DEFAULT_RATE_LIMIT = 30.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SECRET_FILE = "secret.key"
MIN_SECRET_LENGTH = 16
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


class ConfigError(ValueError):
    """A setting is missing or malformed; str(error) is one line meant for the operator."""


@dataclass(frozen=True)
class Config:
    token: str = field(repr=False)
    api_base_url: str = DEFAULT_API_BASE_URL
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    port: int = DEFAULT_PORT
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    secret: str | None = field(default=None, repr=False)
    log_level: str = "INFO"
    rate_limit: float = DEFAULT_RATE_LIMIT

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Read and validate the environment (no side effects: nothing is written here)."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        token = get("TELEGRAM_BOT_TOKEN")
        if token is None:
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather on Telegram and "
                "export TELEGRAM_BOT_TOKEN=<the token it gives you> (see .env.example)"
            )
        if not TOKEN_RE.match(token):
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN is malformed: it should look like 123456789:AAE... "
                "(digits, a colon, then at least 30 letters, digits, '_' or '-'); "
                "copy it again from @BotFather"
            )

        api_base_url = get("TELEGRAM_API_BASE_URL") or DEFAULT_API_BASE_URL
        parts = urlsplit(api_base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                "TELEGRAM_API_BASE_URL must be an http(s) URL such as "
                f"{DEFAULT_API_BASE_URL} (the token is appended to it)"
            )

        webhook_url = get("WEBHOOK_URL")
        if webhook_url is not None:
            parts = urlsplit(webhook_url)
            if not parts.netloc or parts.scheme not in ("http", "https"):
                raise ConfigError(
                    "WEBHOOK_URL must be a full URL such as https://bot.example.org/tg"
                )
            if parts.scheme != "https" and parts.hostname not in _LOOPBACK_HOSTS:
                raise ConfigError("WEBHOOK_URL must start with https:// (Telegram requires TLS)")

        webhook_secret = get("WEBHOOK_SECRET")
        if webhook_secret is not None and not WEBHOOK_SECRET_RE.match(webhook_secret):
            raise ConfigError(
                "WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, '_' or '-'"
            )

        port_text = get("PORT")
        port = DEFAULT_PORT
        if port_text is not None:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ConfigError(f"PORT must be a number from 1 to 65535 (got {port_text!r})")
            port = int(port_text)

        secret = get("BOT_SECRET")
        if secret is not None and len(secret) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"BOT_SECRET is too short (at least {MIN_SECRET_LENGTH} characters); make one "
                "with: python -c 'import secrets; print(secrets.token_hex(32))'"
            )

        log_level = (get("LOG_LEVEL") or "INFO").upper()
        if log_level not in LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")

        rate_text = get("BOT_RATE_LIMIT")
        rate_limit = DEFAULT_RATE_LIMIT
        if rate_text is not None:
            try:
                rate_limit = float(rate_text)
            except ValueError:
                rate_limit = -1.0
            if not 0 <= rate_limit < float("inf"):
                raise ConfigError(
                    "BOT_RATE_LIMIT must be messages per second (a number >= 0; 0 turns the "
                    f"limiter off), got {rate_text!r}"
                )

        return cls(
            token=token,
            api_base_url=api_base_url,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            port=port,
            data_dir=Path(get("BOT_DATA_DIR") or DEFAULT_DATA_DIR),
            secret=secret,
            log_level=log_level,
            rate_limit=rate_limit,
        )

    # ------------------------------------------------------------------ derived values

    def hmac_key(self) -> bytes:
        """The HMAC key for user ids: BOT_SECRET, else one generated once into the data dir."""
        if self.secret is not None:
            return self.secret.encode("utf-8")
        return load_or_create_secret(self.data_dir).encode("utf-8")

    def effective_webhook_secret(self) -> str:
        """WEBHOOK_SECRET, else one derived from the HMAC key (same on every replica)."""
        if self.webhook_secret:
            return self.webhook_secret
        return hmac.new(self.hmac_key(), b"telegram-webhook-secret", hashlib.sha256).hexdigest()

    def webhook_path(self) -> str:
        """The local path PTB's webhook server listens on: the path of WEBHOOK_URL."""
        if not self.webhook_url:
            return ""
        return urlsplit(self.webhook_url).path.lstrip("/")


def load_or_create_secret(data_dir: Path) -> str:
    """Read `<data_dir>/secret.key`, creating it (mode 0600) on first use.

    If the directory cannot be written, a per-process secret is used and a warning logged:
    answering matters more than remembering language choices across restarts.
    """
    path = data_dir / SECRET_FILE
    try:
        existing = path.read_text(encoding="ascii").strip()
        if existing:
            return existing
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("cannot read %s (%s); using a temporary secret", path, type(exc).__name__)
        return secrets.token_hex(32)
    value = secrets.token_hex(32)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        if path.exists() and path.stat().st_size == 0:
            path.unlink()  # an empty file left by a crash: start again
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(value + "\n")
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text(encoding="ascii").strip() or value
    except OSError as exc:
        log.warning(
            "cannot write %s (%s); using a temporary secret: set BOT_SECRET so language "
            "choices survive restarts",
            path,
            type(exc).__name__,
        )
        return value
    log.warning(
        "BOT_SECRET is not set: generated one into %s (mode 0600); hosts with ephemeral "
        "disks must set BOT_SECRET instead",
        path,
    )
    return value
