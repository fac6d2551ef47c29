"""The webhook server: Telegram's updates in over HTTP, onto the application's update queue.

python-telegram-bot's own webhook server (tornado) waits forever for slow headers and slow
bodies, checks the secret only once the whole body has arrived, answers 500 to a body that
is not JSON, and, when file descriptors run out, logs the failed accept on every turn of
the event loop (megabytes a second). This one follows PTB's custom-webhook pattern
(`examples/customwebhookbot`): our own endpoint, built on aiohttp's low-level server and
configured only through its public options, puts `Update`s on
`application.update_queue`; PTB does everything else.

Why aiohttp rather than tornado: aiohttp (3.14) closes a connection that has not completed
a request head within its keep-alive time-out, counted from the connection's start, and
reads a body only when the handler asks, so the secret is checked before a byte of body is
read; it serves through asyncio's `create_server`, whose accept loop pauses a second after
"too many open files" and reports through the loop's exception handler, where one
throttled line is written. tornado's accept handler raises out of an I/O callback instead,
every turn of the loop.

Limits (`Limits`): the request head within `header_timeout` seconds of connecting (and of
the previous answer on a kept-alive connection), the body within `body_timeout`, at most
`max_body` bytes announced by Content-Length (411 without one, 413 above), JSON nested at
most `max_depth` deep (400, never 500), at most `max_connections` open: a new connection
beyond that closes the oldest one that has not sent a complete request head, so idle
connections cannot keep Telegram out. A GET gets 405 and a wrong path 404, quietly.
Refusals are logged by kind, at most one line a minute each (`ThrottledLog`), with the
reason and the size only: never a body, a header value or an address.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application, ExtBot

from bot.telegram.throttle import ThrottledLog

log = logging.getLogger("bot.telegram.webhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1024 * 1024  # Telegram's updates are a few KB
ACCEPT_FAILED = "socket.accept() out of system resource"  # asyncio's message


@dataclass(frozen=True)
class Limits:
    """What one client may cost the server (see the module docstring)."""

    header_timeout: float = 5.0
    body_timeout: float = 5.0
    max_body: int = MAX_BODY
    max_connections: int = 256  # well under the usual 1,024 file descriptors
    max_depth: int = 64  # an update nests about ten deep
    backlog: int = 128
    shutdown_timeout: float = 5.0


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """True when `value` nests lists/objects more than `limit` deep (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class _Connection(web.RequestHandler):
    """aiohttp's handler for one connection, telling the server when it ends.

    The cap is counted from the moment a connection is accepted: asyncio accepts up to
    `backlog` connections in one go and only then calls their `connection_made`, so
    aiohttp's own list lags behind by a whole batch.
    """

    def __init__(
        self, on_lost: Callable[[_Connection], None], manager: web.Server, **kwargs: Any
    ) -> None:
        super().__init__(manager, **kwargs)
        self._on_lost = on_lost

    def connection_lost(self, exc: BaseException | None) -> None:
        self._on_lost(self)
        super().connection_lost(exc)


class _Refused(asyncio.Protocol):
    """A connection over the cap with nothing idle to make room: closed at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class WebhookServer:
    """POST `path` with the secret header: one update onto the application's queue."""

    def __init__(
        self,
        application: Application,
        *,
        path: str,
        secret: str | None,
        listen: str,
        port: int,
        limits: Limits | None = None,
    ) -> None:
        self.application = application
        self.path = "/" + path.lstrip("/")
        self._secret = secret.encode("utf-8") if secret else None
        self.listen = listen
        self.port = port
        self.limits = limits or Limits()
        self.refusals = ThrottledLog(log)
        self._server: web.Server | None = None
        self._listener: asyncio.Server | None = None
        self._open: dict[_Connection, None] = {}  # oldest first
        self._busy: set[object] = set()  # connections whose request head is complete
        self._previous_handler: Any = None
        self.evicted = 0  # idle connections closed to make room (for tests and operators)

    @property
    def open_connections(self) -> int:
        return len(self._open)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # handler_cancellation: a client that hangs up stops its handler
        self._server = web.Server(self._handle, handler_cancellation=True)
        self._previous_handler = loop.get_exception_handler()
        loop.set_exception_handler(self._on_loop_error)
        try:
            self._listener = await loop.create_server(
                self._connection,
                host=self.listen,
                port=self.port,
                backlog=self.limits.backlog,
                reuse_address=True,
            )
        except BaseException:
            loop.set_exception_handler(self._previous_handler)
            raise
        self.port = self._listener.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop accepting, let requests in hand finish (briefly), close every connection."""
        if self._listener is not None:
            self._listener.close()
        if self._server is not None:
            self._server.pre_shutdown()  # idle keep-alive connections close now
            await self._server.shutdown(self.limits.shutdown_timeout)
        if self._listener is not None:
            await self._listener.wait_closed()
            self._listener = None
        asyncio.get_running_loop().set_exception_handler(self._previous_handler)

    # ------------------------------------------------------------------ connections

    def _connection(self) -> asyncio.BaseProtocol:
        """The protocol for a new connection; over the cap, the oldest idle one goes."""
        assert self._server is not None
        if len(self._open) >= self.limits.max_connections:
            idle = next(
                (c for c in self._open if c not in self._busy and c.transport is not None), None
            )
            self.refusals.log(
                "cap",
                "webhook: %d connections open (the cap); %s",
                len(self._open),
                "closing the oldest idle ones" if idle else "refusing new ones",
            )
            if idle is None:
                return _Refused()
            del self._open[idle]
            idle.force_close()
            self.evicted += 1
        connection = _Connection(
            self._closed,
            self._server,
            loop=asyncio.get_running_loop(),
            # from the start of the connection (aiohttp >= 3.10) and after each answer:
            # a client that has not sent a whole request head by then is disconnected
            keepalive_timeout=self.limits.header_timeout,
            lingering_time=0,  # never read the rest of a refused body
            access_log=None,
        )
        self._open[connection] = None
        return connection

    def _closed(self, connection: _Connection) -> None:
        self._open.pop(connection, None)

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if str(context.get("message", "")).startswith(ACCEPT_FAILED):
            error = context.get("exception")
            self.refusals.log(
                "accept",
                "webhook: cannot accept connections (%s); retrying every second",
                type(error).__name__ if error is not None else "error",
            )
            return
        if self._previous_handler is not None:
            self._previous_handler(loop, context)
        else:
            loop.default_exception_handler(context)

    # ------------------------------------------------------------------ requests

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        connection = request.protocol
        self._busy.add(connection)
        try:
            return await self._answer(request)
        finally:
            self._busy.discard(connection)

    def _refuse(
        self, status: HTTPStatus, reason: str, size: int = 0, *, quiet: bool = False
    ) -> web.Response:
        if not quiet:
            self.refusals.log(
                f"{status.value}:{reason}",
                "webhook: refused a request with %d (%s, %d bytes)",
                status.value,
                reason,
                size,
            )
        response = web.json_response({"ok": False, "error_code": status.value}, status=status)
        response.force_close()  # a body may still be coming: never read it
        return response

    def _secret_ok(self, request: web.BaseRequest) -> bool:
        if self._secret is None:
            return True
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        return hmac.compare_digest(given, self._secret)

    async def _answer(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path != self.path:
            return self._refuse(HTTPStatus.NOT_FOUND, "unknown path", quiet=True)
        if request.method != "POST":
            response = self._refuse(HTTPStatus.METHOD_NOT_ALLOWED, "not POST", quiet=True)
            response.headers["Allow"] = "POST"
            return response
        if not self._secret_ok(request):
            return self._refuse(HTTPStatus.FORBIDDEN, "wrong or missing secret token")
        if request.content_type != "application/json":
            return self._refuse(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "not JSON")
        length = request.content_length
        if length is None:
            return self._refuse(HTTPStatus.LENGTH_REQUIRED, "no Content-Length")
        if length > self.limits.max_body:
            return self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too large", length)
        try:
            async with asyncio.timeout(self.limits.body_timeout):
                body = await request.content.readexactly(length)
        except TimeoutError:
            return self._refuse(HTTPStatus.REQUEST_TIMEOUT, "body too slow", length)
        except asyncio.IncompleteReadError as exc:
            return self._refuse(HTTPStatus.BAD_REQUEST, "body cut short", len(exc.partial))
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self._refuse(HTTPStatus.BAD_REQUEST, "malformed JSON", length)
        except RecursionError:
            return self._refuse(HTTPStatus.BAD_REQUEST, "JSON nested too deep", length)
        if json_depth_exceeds(data, self.limits.max_depth):
            return self._refuse(HTTPStatus.BAD_REQUEST, "JSON nested too deep", length)
        if not isinstance(data, dict) or type(data.get("update_id")) is not int:
            return self._refuse(HTTPStatus.BAD_REQUEST, "not an update", length)
        await self._enqueue(data)
        return web.Response(status=HTTPStatus.OK)

    async def _enqueue(self, data: dict[str, Any]) -> None:
        bot = self.application.bot
        try:
            update = Update.de_json(data, bot)
        except Exception as exc:
            # An update python-telegram-bot cannot read (a Bot API field it does not know
            # yet): acknowledged, or Telegram would send it again and again.
            kind = next((str(k) for k in data if k != "update_id"), "none")[:40]
            log.warning(
                "webhook: skipped an update python-telegram-bot cannot read (type=%s, %s)",
                kind,
                type(exc).__name__,
            )
            update = Update(update_id=data["update_id"])
        if isinstance(bot, ExtBot):
            bot.insert_callback_data(update)
        await self.application.update_queue.put(update)
