"""Webhook mode's lifecycle: python-telegram-bot's `run_webhook` steps, with our server.

PTB's custom-webhook pattern leaves the order of things to us; it is the order
`Application.run_webhook` keeps: initialize, post_init, the server and setWebhook, start;
and on the way out: the server, stop, post_stop, shutdown, post_shutdown. `run` and the
tests both go through `serving_webhook`, so they exercise the same sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from telegram.ext import Application

from bot.config import Config
from bot.telegram.webhook import Limits, WebhookServer

log = logging.getLogger("bot.telegram.serve")


@contextlib.asynccontextmanager
async def serving_webhook(
    application: Application,
    config: Config,
    *,
    allowed_updates: list[str],
    listen: str | None = None,
    limits: Limits | None = None,
) -> AsyncIterator[WebhookServer]:
    """The application answering updates posted to WEBHOOK_URL, until the block ends."""
    await application.initialize()
    try:
        if application.post_init is not None:
            await application.post_init(application)
        server = WebhookServer(
            application,
            path=config.webhook_path(),
            secret=config.effective_webhook_secret(),
            listen=listen or config.listen,
            port=config.port,
            limits=limits,
        )
        await server.start()
        try:
            await application.bot.set_webhook(
                url=config.webhook_url or "",
                secret_token=config.effective_webhook_secret(),
                allowed_updates=allowed_updates,
            )
            await application.start()
        except BaseException:
            await server.stop()
            raise
        try:
            yield server
        finally:
            await server.stop()  # no new updates; those in hand are finished by stop()
            await application.stop()
            if application.post_stop is not None:
                await application.post_stop(application)
    finally:
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)


async def run_webhook(application: Application, config: Config, allowed: list[str]) -> None:
    """Serve until SIGINT or SIGTERM (what a platform sends on deploy)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    async with serving_webhook(application, config, allowed_updates=allowed) as server:
        log.info("webhook server listening on %s:%d", server.listen, server.port)
        await stop.wait()
