"""Logging that never carries what people wrote or who they are.

Our own loggers (`bot.*`) log update type, outcome, topic id and timings only, at the level
chosen by LOG_LEVEL. The libraries are another matter: at DEBUG python-telegram-bot logs the
parameters of every Bot API call, httpx logs request URLs (with the token), and aiohttp
(the webhook server) can log a request it failed on. So the library loggers are held at
WARNING or above whatever LOG_LEVEL says, and a `RedactingFilter` on them and on our handler
strips ids, tokens, quoted text and JSON-like payloads from anything they still emit.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback

LIBRARY_LOGGERS = (
    "telegram",
    "httpx",
    "httpcore",
    "aiohttp",
    "tornado",
    "hpack",
    "asyncio",
    "aiolimiter",
)
OUR_LOGGER = "bot"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_TOKEN = re.compile(r"\d{3,}:[A-Za-z0-9_-]{20,}")
_BOT_PATH = re.compile(r"/bot[^/\s\"']+")
_BRACED = re.compile(r"\{.*\}|\[.*\]", re.DOTALL)
_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")
_LONG_NUMBER = re.compile(r"-?\d{5,}")
_TEXT_AFTER_KEY = re.compile(
    r"(?i)\b(text|caption|query|data|body|message|first_name|last_name|username|title)\s*[=:]\s*\S.*"
)
MAX_REDACTED = 300


def redact(text: str) -> str:
    """Remove anything that could be a person's words or identity from a log line."""
    text = _TOKEN.sub("<token>", text)
    text = _BOT_PATH.sub("/bot<token>", text)
    text = _BRACED.sub("<payload>", text)
    text = _QUOTED.sub("<text>", text)
    text = _TEXT_AFTER_KEY.sub(lambda m: f"{m.group(1)}=<redacted>", text)
    text = _LONG_NUMBER.sub("<n>", text)
    if len(text) > MAX_REDACTED:
        text = text[:MAX_REDACTED] + "…"
    return text


def _exception_summary(exc_info) -> str:
    """`ExcType: redacted message` plus the code locations (file:line in function)."""
    typ, value, tb = exc_info
    frames = traceback.extract_tb(tb)[-6:] if tb is not None else []
    where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}" for f in frames)
    name = typ.__name__ if typ is not None else "Exception"
    summary = f"{name}: {redact(str(value))}" if value is not None and str(value) else name
    return f"{summary} [{where}]" if where else summary


class RedactingFilter(logging.Filter):
    """Rewrites records in place: library records are fully redacted; for every record the
    exception is reduced to its type, a redacted message and code locations (no values)."""

    def __init__(self, library_prefixes: tuple[str, ...] = LIBRARY_LOGGERS) -> None:
        super().__init__()
        self.prefixes = library_prefixes

    def _is_library(self, name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in self.prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        ours = record.name == OUR_LOGGER or record.name.startswith(OUR_LOGGER + ".")
        library = self._is_library(record.name) or not ours
        if library:
            try:
                message = record.getMessage()
            except Exception:  # a broken format string must not break logging
                message = str(record.msg)
            record.msg = redact(message)
            record.args = ()
        if record.exc_info:
            record.msg = f"{record.msg} | {_exception_summary(record.exc_info)}"
            record.exc_info = None
            record.exc_text = None
        record.stack_info = None
        record._redacted = True  # type: ignore[attr-defined]
        return True


_installed_handler: logging.Handler | None = None


def setup_logging(level: str = "INFO", stream=None) -> logging.Handler:
    """Configure logging once for the process (safe to call again: it replaces our handler).

    `level` governs the `bot` loggers only; library loggers stay at WARNING or above.
    """
    global _installed_handler
    root = logging.getLogger()
    if _installed_handler is not None:
        root.removeHandler(_installed_handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    _installed_handler = handler

    logging.getLogger(OUR_LOGGER).setLevel(getattr(logging, level.upper(), logging.INFO))
    guard_library_loggers()
    return handler


def guard_library_loggers() -> None:
    """Pin library loggers (and their already-created children) to WARNING+ with the filter."""
    numeric_warning = logging.WARNING
    names = set(LIBRARY_LOGGERS)
    names.update(
        name
        for name in logging.Logger.manager.loggerDict
        if any(name.startswith(p + ".") for p in LIBRARY_LOGGERS)
    )
    for name in sorted(names):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < numeric_warning:
            logger.setLevel(numeric_warning)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
