"""Bot API calls that survive Telegram's ordinary failures.

python-telegram-bot retries `getUpdates` itself (its polling loop backs off after errors),
but a failed `sendMessage` is simply raised, so a 502 from Telegram or a dropped connection
would lose a person's answer. `ResilientRequest` retries every other Bot API call:

- 5xx answers, time-outs and dropped connections (`NetworkError` other than `BadRequest`):
  again after 0.5 s, 1 s, 2 s... (with jitter), up to `retries` times;
- 429 "Too Many Requests" (`RetryAfter`): after the time Telegram asks for, when no
  `AIORateLimiter` does it already (it retries 429 itself and pauses every request while it
  waits), and only when that wait is at most `max_retry_after` seconds.

Anything else (400 Bad Request, 403 Forbidden, 401/404 invalid token, 409 Conflict) is a
definite answer from Telegram and is raised at once. A retried call may reach Telegram
twice when the first attempt timed out after Telegram had already acted on it: a person can
then see an answer twice, which is better than never.

`UpdatesRequest` (for getUpdates) guards against a poison update: when python-telegram-bot
cannot read one update of a batch (a Bot API field it does not know yet, say), it drops the
whole batch, logs it, and asks for the same batch again, forever: the bot would never answer
anyone again. Such an update is replaced by a bare `{"update_id": ...}`, which PTB confirms
and the application ignores, and a warning names its type (never its content).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import warnings
from typing import Any

from telegram import Update
from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.request import HTTPXRequest

log = logging.getLogger("bot.telegram.request")

DEFAULT_RETRIES = 4
DEFAULT_BACKOFF = 0.5  # seconds before the first retry; doubles each time
MAX_BACKOFF = 8.0
DEFAULT_MAX_RETRY_AFTER = 60.0  # a longer flood wait is not worth holding an answer for
NOT_RETRIED = ("getUpdates",)  # python-telegram-bot's polling loop retries these itself


def retry_after_seconds(exc: RetryAfter) -> float:
    """`RetryAfter.retry_after` is an int or (PTB_TIMEDELTA) a timedelta; seconds either way."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB's deprecation notice about the int form
        value: Any = exc.retry_after
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)


def method_of(url: str) -> str:
    return url.rsplit("/", 1)[-1]


class ResilientRequest(HTTPXRequest):
    """`HTTPXRequest` that retries transient failures (see the module docstring)."""

    def __init__(
        self,
        *,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        retry_429: bool = True,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.retries = retries
        self.backoff = backoff
        self.retry_429 = retry_429
        self.max_retry_after = max_retry_after

    def _delay(self, attempt: int) -> float:
        base = min(self.backoff * (2**attempt), MAX_BACKOFF)
        return base * random.uniform(0.75, 1.25)

    async def post(self, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        method = method_of(url)
        if method in NOT_RETRIED:
            return await super().post(url, *args, **kwargs)
        attempt = 0
        while True:
            try:
                return await super().post(url, *args, **kwargs)
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                if not self.retry_429 or attempt >= self.retries or wait > self.max_retry_after:
                    raise
                log.warning("%s: flood limit (429), retrying in %.1f s", method, wait)
                await asyncio.sleep(wait + 0.1)
            except BadRequest:
                raise
            except NetworkError as exc:  # 5xx, time-outs (TimedOut), dropped connections
                if attempt >= self.retries:
                    raise
                delay = self._delay(attempt)
                log.warning(
                    "%s: %s, retry %d of %d in %.1f s",
                    method,
                    type(exc).__name__,
                    attempt + 1,
                    self.retries,
                    delay,
                )
                await asyncio.sleep(delay)
            attempt += 1


def readable_updates(result: list[Any]) -> list[Any]:
    """The getUpdates result with every update PTB cannot read replaced by a bare one."""
    readable: list[Any] = []
    for raw in result:
        try:
            Update.de_json(raw, None)
        except Exception as exc:
            update_id = raw.get("update_id") if isinstance(raw, dict) else None
            kind = "unknown"
            if isinstance(raw, dict):
                kind = next((str(k) for k in raw if k != "update_id"), "none")[:40]
            log.warning(
                "skipped an update python-telegram-bot cannot read (type=%s, %s)",
                kind,
                type(exc).__name__,
            )
            if type(update_id) is not int:
                continue  # nothing to confirm it by; Telegram never sends these
            raw = {"update_id": update_id}
        readable.append(raw)
    return readable


class UpdatesRequest(HTTPXRequest):
    """`HTTPXRequest` for getUpdates that never lets one unreadable update block the rest.

    Every update is read once here before PTB reads it (about 80 microseconds each): only
    waiting for PTB to fail would let it log the whole batch, people's words included, at
    CRITICAL.
    """

    async def post(self, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        result = await super().post(url, *args, **kwargs)
        if method_of(url) == "getUpdates" and isinstance(result, list):
            return readable_updates(result)
        return result
