"""Bot API calls that survive Telegram's ordinary failures, through PTB's supported hooks.

`RetryingLimiter` is a `BaseRateLimiter` (python-telegram-bot's hook around every Bot API
call but getUpdates, whose polling loop retries by itself). It wraps the `AIORateLimiter`
when BOT_RATE_LIMIT is set (it paces calls and retries 429 itself) and retries:

- 429 "Too Many Requests" (`RetryAfter`) after the time Telegram asks for, when there is
  no AIORateLimiter to do it, and only when that wait is at most `max_retry_after` seconds;
- an error status from Telegram (5xx): it answered, so it did not act;
- a failure before the request left (`httpx.ConnectError`, `ConnectTimeout`, a full
  connection pool): Telegram never saw it;
- a failure after the request left (a read time-out, a connection dropped before the
  answer), only for methods whose repetition changes nothing (`get*`, `set*`, `delete*`).
  A `sendMessage`, an edit or an answer in that state may have been carried out already;
  sending it again could give the person the same answer twice, so it is not repeated:
  the error reaches the error handler, which logs it (no text, no ids).

Anything else (400 Bad Request, 403 Forbidden, 401/404 invalid token, 409 Conflict) is a
definite answer from Telegram and is raised at once. Delays: 0.5 s, 1 s, 2 s... (with
jitter, at most 8 s), up to `retries` times.

`UpdatesRequest` (for getUpdates) guards against a poison update: when python-telegram-bot
cannot read one update of a batch (a Bot API field it does not know yet, say), it drops the
whole batch, logs it, and asks for the same batch again, forever. It overrides
`parse_json_payload`, the documented hook for reading Telegram's answers, and replaces
such an update by a bare `{"update_id": ...}`, which PTB confirms and the application
ignores; a warning names its type (never its content).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from telegram import Update
from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import AIORateLimiter, BaseRateLimiter
from telegram.request import HTTPXRequest

log = logging.getLogger("bot.telegram.request")

DEFAULT_RETRIES = 4
DEFAULT_BACKOFF = 0.5  # seconds before the first retry; doubles each time
MAX_BACKOFF = 8.0
DEFAULT_MAX_RETRY_AFTER = 60.0  # a longer flood wait is not worth holding an answer for
REPEATABLE_PREFIXES = ("get", "set", "delete")  # doing these twice changes nothing
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

Result = bool | dict[str, Any] | list[dict[str, Any]]


def retry_after_seconds(exc: RetryAfter) -> float:
    """`RetryAfter.retry_after` is an int or (PTB_TIMEDELTA) a timedelta; seconds either way."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB's deprecation notice about the int form
        value: Any = exc.retry_after
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)


def may_have_acted(exc: NetworkError) -> bool:
    """Did the request possibly reach Telegram and get carried out?

    PTB raises a transport failure `from` the httpx exception; an error status from
    Telegram has no such cause (Telegram answered, so it did not act).
    """
    cause = exc.__cause__
    if not isinstance(cause, httpx.HTTPError):
        return False
    return not isinstance(cause, NOT_SENT)


def repeatable(endpoint: str) -> bool:
    return endpoint.startswith(REPEATABLE_PREFIXES)


class RetryingLimiter(BaseRateLimiter[int]):
    """Retries transient failures around an optional AIORateLimiter (module docstring)."""

    def __init__(
        self,
        inner: AIORateLimiter | None = None,
        *,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
    ) -> None:
        self.inner = inner
        self.retries = retries
        self.backoff = backoff
        self.max_retry_after = max_retry_after

    async def initialize(self) -> None:
        if self.inner is not None:
            await self.inner.initialize()

    async def shutdown(self) -> None:
        if self.inner is not None:
            await self.inner.shutdown()

    def _delay(self, attempt: int) -> float:
        base = min(self.backoff * (2**attempt), MAX_BACKOFF)
        return base * random.uniform(0.75, 1.25)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Result:
        attempt = 0
        while True:
            try:
                if self.inner is not None:
                    return await self.inner.process_request(
                        callback, args, kwargs, endpoint, data, rate_limit_args
                    )
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                if self.inner is not None or attempt >= self.retries:
                    raise  # the AIORateLimiter has retried it already
                if wait > self.max_retry_after:
                    raise
                log.warning("%s: flood limit (429), retrying in %.1f s", endpoint, wait)
                await asyncio.sleep(wait + 0.1)
            except BadRequest:
                raise
            except NetworkError as exc:  # 5xx, time-outs (TimedOut), dropped connections
                if may_have_acted(exc) and not repeatable(endpoint):
                    log.warning(
                        "%s: %s after the request was sent; not repeated (it may have been "
                        "carried out)",
                        endpoint,
                        type(exc.__cause__).__name__,
                    )
                    raise
                if attempt >= self.retries:
                    raise
                delay = self._delay(attempt)
                log.warning(
                    "%s: %s, retry %d of %d in %.1f s",
                    endpoint,
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
    """`HTTPXRequest` for getUpdates only: one unreadable update never blocks the rest.

    Every update is read once here before PTB reads it (about 80 microseconds each): only
    waiting for PTB to fail would let it log the whole batch, people's words included, at
    CRITICAL.
    """

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict[str, Any]:
        data = HTTPXRequest.parse_json_payload(payload)
        if isinstance(data, dict) and isinstance(data.get("result"), list):
            data["result"] = readable_updates(data["result"])
        return data
