"""python-telegram-bot's webhook server (tornado), with a stricter request handler.

`run_webhook` / `Updater.start_webhook` build their tornado server with
`tornado.httpserver.HTTPServer(...)`. `harden_webhook_server()` configures that class (a
tornado `Configurable`) to be `WebhookHTTPServer`, which

- caps request bodies at `MAX_BODY` bytes (tornado's default is 100 MB; a bigger body is
  refused by closing the connection before it is read), and
- swaps PTB's request handler for `UpdateHandler`, keeping PTB's path, bot, update queue
  and secret. PTB's handler answers 500 to a body that is not JSON, logs the body of a
  webhook request at DEBUG and, at CRITICAL, any JSON that is not an update.

`UpdateHandler` checks the secret first (403, compared in constant time), then the content
type (415), the size (413), the JSON (400) and that it has an update_id (400), and logs
only the reason and the size, never the body. An update with an update_id that PTB cannot
read is acknowledged (200) and skipped, so Telegram does not send it again and again.
Everything else is PTB's: setting the webhook, `allowed_updates`, the lifecycle and
graceful shutdown.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from http import HTTPStatus
from typing import Any

import tornado.web
from telegram import Bot, Update
from telegram.ext import ExtBot
from tornado.httpserver import HTTPServer

log = logging.getLogger("bot.telegram.webhook")

MAX_BODY = 1024 * 1024  # Telegram's updates are a few KB
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_PTB_HANDLER_KWARGS = {"bot", "update_queue", "secret_token"}


class UpdateHandler(tornado.web.RequestHandler):
    """POST <path>: one update from Telegram onto the application's update queue."""

    SUPPORTED_METHODS = ("POST",)  # type: ignore[assignment]

    def initialize(
        self, bot: Bot, update_queue: asyncio.Queue, secret_token: str | None = None
    ) -> None:
        self.bot = bot
        self.update_queue = update_queue
        self.secret_token = secret_token

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", 'application/json; charset="utf-8"')

    def _refuse(self, status: HTTPStatus, reason: str) -> None:
        log.warning(
            "webhook: refused a request with %d (%s, %d bytes)",
            status.value,
            reason,
            len(self.request.body or b""),
        )
        self.set_status(status.value)
        self.finish(json.dumps({"ok": False, "error_code": status.value}))

    def _secret_ok(self) -> bool:
        if self.secret_token is None:
            return True
        given = self.request.headers.get(SECRET_HEADER, "")
        return hmac.compare_digest(
            given.encode("utf-8", "replace"), self.secret_token.encode("utf-8")
        )

    async def post(self) -> None:
        if not self._secret_ok():
            self._refuse(HTTPStatus.FORBIDDEN, "wrong or missing secret token")
            return
        content_type = self.request.headers.get("Content-Type", "").split(";")[0]
        if content_type.strip().lower() != "application/json":
            self._refuse(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "not JSON")
            return
        body = self.request.body or b""
        if len(body) > MAX_BODY:
            self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too large")
            return
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            self._refuse(HTTPStatus.BAD_REQUEST, "malformed JSON")
            return
        if not isinstance(data, dict) or type(data.get("update_id")) is not int:
            self._refuse(HTTPStatus.BAD_REQUEST, "not an update")
            return
        try:
            update = Update.de_json(data, self.bot)
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
        if isinstance(self.bot, ExtBot):
            self.bot.insert_callback_data(update)
        await self.update_queue.put(update)
        self.set_status(HTTPStatus.OK.value)
        self.finish()

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """tornado would log the request and a traceback with values; the type is enough."""
        name = typ.__name__ if typ is not None else "error"
        log.error("webhook: %s while handling a request", name)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish(json.dumps({"ok": False, "error_code": status_code}))


class WebhookHTTPServer(HTTPServer):
    """tornado's HTTPServer; for PTB's webhook application, with `UpdateHandler`."""

    def initialize(self, request_callback: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(request_callback, tornado.web.Application):
            use_update_handler(request_callback)
        super().initialize(request_callback, *args, **kwargs)


def use_update_handler(app: tornado.web.Application) -> bool:
    """Point PTB's webhook route at `UpdateHandler` (same path and arguments)."""
    shared = getattr(app, "shared_objects", None)
    if not isinstance(shared, dict) or not shared.keys() >= _PTB_HANDLER_KWARGS:
        return False
    swapped = False
    for rule in app.wildcard_router.rules:
        target = rule.target
        if isinstance(target, type) and issubclass(target, tornado.web.RequestHandler):
            rule.target = UpdateHandler
            swapped = True
    return swapped


def harden_webhook_server(max_body: int = MAX_BODY) -> None:
    """Make every tornado HTTPServer built from now on a `WebhookHTTPServer`."""
    HTTPServer.configure(WebhookHTTPServer, max_body_size=max_body)
