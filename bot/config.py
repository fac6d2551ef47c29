"""Configuration of the Telegram bot, read once from the environment.

Every setting is documented in `.env.example` and the README. A missing or malformed value
raises `ConfigError` with one sentence that says how to fix it; the CLI prints that line and
exits with code 2 (no traceback).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bot.private_dir import make_private_dir

log = logging.getLogger("bot.config")

TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]{30,}$")
WEBHOOK_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_PORT = 8443
DEFAULT_DATA_DIR = "./data"
DEFAULT_RATE_LIMIT = 30.0
DEFAULT_LISTEN = "0.0.0.0"  # platforms route to the container; behind a proxy use 127.0.0.1
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SECRET_FILE = "secret.key"
MIN_SECRET_LENGTH = 16
MAKE_SECRET = "python -c 'import secrets; print(secrets.token_hex(32))'"
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
    listen: str = DEFAULT_LISTEN
    key_file: Path = field(default_factory=lambda: default_key_file())
    # The HMAC key, resolved on first use and then never read again (see hmac_key).
    _key: list[bytes] = field(default_factory=list, repr=False, compare=False)

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
                f"with: {MAKE_SECRET}"
            )

        listen = get("WEBHOOK_LISTEN") or DEFAULT_LISTEN
        try:
            ipaddress.ip_address(listen)
        except ValueError:
            raise ConfigError(
                "WEBHOOK_LISTEN must be an IP address to bind the webhook server to: 0.0.0.0 "
                f"(every interface, the default) or 127.0.0.1 behind a proxy (got {listen!r})"
            ) from None

        data_dir = Path(get("BOT_DATA_DIR") or DEFAULT_DATA_DIR)
        key_file = Path(get("BOT_KEY_FILE") or default_key_file(env))
        if _inside(key_file, data_dir):
            raise ConfigError(
                "BOT_KEY_FILE must not be inside BOT_DATA_DIR: a copy of the data directory "
                "would then carry the key that links its rows to people"
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
            data_dir=data_dir,
            secret=secret,
            log_level=log_level,
            rate_limit=rate_limit,
            listen=listen,
            key_file=key_file,
        )

    # ------------------------------------------------------------------ derived values

    def hmac_key(self) -> bytes:
        """The HMAC key for user ids, resolved once: BOT_SECRET, else a generated key file.

        `run` refuses to start without BOT_SECRET (bot.telegram.run); the key file, outside
        BOT_DATA_DIR, serves tests and tools that build the bot without `run`. Resolved on
        the first call and kept: a key that changed while running would file the same
        person under two codes.
        """
        if not self._key:
            if self.secret is not None:
                self._key.append(self.secret.encode("utf-8"))
            else:
                self._key.append(load_or_create_secret(self.key_file).encode("utf-8"))
        return self._key[0]

    def effective_webhook_secret(self) -> str:
        """WEBHOOK_SECRET, else one derived from the HMAC key (same on every replica)."""
        if self.webhook_secret:
            return self.webhook_secret
        return hmac.new(self.hmac_key(), b"telegram-webhook-secret", hashlib.sha256).hexdigest()

    def webhook_path(self) -> str:
        """The local path the webhook server listens on: the path of WEBHOOK_URL."""
        if not self.webhook_url:
            return ""
        return urlsplit(self.webhook_url).path.lstrip("/")


def default_key_file(env: Mapping[str, str] | None = None) -> Path:
    """Where a generated key lives when BOT_SECRET is unset: the user's config directory."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME", "").strip() or str(Path.home() / ".config")
    return Path(base) / "nhs-rights-bot" / SECRET_FILE


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
    except ValueError:
        return False
    return True


def load_or_create_secret(path: Path) -> str:
    """Read the key file `path`, creating it (mode 0600, its directory 0700) on first use.

    The key is written to a temporary file, flushed to disk, then linked into place, so a
    full disk or a crash never leaves an empty or partial key file, and two processes that
    start together end up with the same key. If the file can be neither read nor written,
    a key for this process only is used, with a warning (the caller keeps it).
    """
    try:
        existing = path.read_text(encoding="ascii").strip()
        if existing:
            return existing
        log.warning("%s is empty; writing a new key", path)
        path.unlink(missing_ok=True)  # left by an older version that crashed mid-write
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("cannot read %s (%s); using a key for this process only", path, exc)
        return secrets.token_hex(32)
    value = secrets.token_hex(32)
    try:
        make_private_dir(path.parent)
        handle, tmp = tempfile.mkstemp(prefix=".secret-", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="ascii") as out:  # mkstemp: mode 0600
                out.write(value + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.link(tmp, path)  # fails if another process got there first
        finally:
            os.unlink(tmp)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text(encoding="ascii").strip() or value
    except OSError as exc:
        log.warning(
            "cannot write %s (%s); using a key for this process only: set BOT_SECRET",
            path,
            type(exc).__name__,
        )
        return value
    log.warning("BOT_SECRET is not set: generated a key into %s (mode 0600)", path)
    return value
