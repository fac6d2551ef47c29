"""The baseline of the end-to-end and start-up benchmarks: a bare python-telegram-bot echo bot.

One MessageHandler that sends back the text it got, built with the same builder options as
the real bot (`bot/telegram/app.py`): concurrent updates, and the same AIORateLimiter unless
BOT_RATE_LIMIT=0. `defaults=True` gives PTB's out-of-the-box application instead (its
tutorial echo bot): updates one at a time, no rate limiter.

It imports nothing from `bot`, so its start-up time and memory are python-telegram-bot's own.
Run as a script (bench_startup.py does) it polls like `python -m bot run`:

    TELEGRAM_BOT_TOKEN=... TELEGRAM_API_BASE_URL=http://127.0.0.1:PORT/bot \
        python benchmarks/echo_bot.py
"""

from __future__ import annotations

import os
import sys

from telegram import Update
from telegram.ext import AIORateLimiter, Application, ContextTypes, MessageHandler, filters

MAX_RETRIES_ON_429 = 3  # as bot/telegram/app.py
ALLOWED_UPDATES = ["message"]


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_text(update.message.text)


def build_echo(
    token: str, base_url: str, *, rate_limit: float = 30.0, defaults: bool = False
) -> Application:
    builder = Application.builder().token(token).base_url(base_url)
    if not defaults:
        builder = builder.concurrent_updates(True)
        if rate_limit > 0:
            builder = builder.rate_limiter(
                AIORateLimiter(overall_max_rate=rate_limit, max_retries=MAX_RETRIES_ON_429)
            )
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    return application


def main() -> int:
    application = build_echo(
        os.environ["TELEGRAM_BOT_TOKEN"],
        os.environ.get("TELEGRAM_API_BASE_URL") or "https://api.telegram.org/bot",
        rate_limit=float(os.environ.get("BOT_RATE_LIMIT") or 30),
    )
    application.run_polling(allowed_updates=ALLOWED_UPDATES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
