"""`python -m bot run`: the bot on Telegram, by long polling or (`--webhook`) by webhook.

Both modes stop gracefully on SIGINT/SIGTERM (python-telegram-bot's `run_polling`, or
bot.telegram.serve for the webhook: finish the updates in hand, run post_shutdown, close
storage). BOT_SECRET is required: the key that links stored rows to people is kept apart
from the data directory, and without it `run` prints one line and exits with code 2.
SIGHUP reloads content/ and locales/: the new content is used only if it is valid;
otherwise the running content stays and every error is logged as `file:line: message`.
Exit codes: 0 after a clean stop, 2 for configuration problems (one line on stderr, no
traceback), 1 when the content is invalid or Telegram cannot be reached at start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

EXIT_CONFIG = 2
EXIT_FAILURE = 1


def add_run_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the `run` subcommand on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "run",
        help="run the bot on Telegram (long polling; --webhook for a web process)",
        description=(
            "Run the bot on Telegram. Configuration comes from the environment: "
            "TELEGRAM_BOT_TOKEN (required), TELEGRAM_API_BASE_URL, WEBHOOK_URL, "
            "BOT_SECRET (required), WEBHOOK_SECRET, WEBHOOK_LISTEN, PORT, BOT_DATA_DIR, "
            "LOG_LEVEL, BOT_RATE_LIMIT (see .env.example)."
        ),
    )
    parser.add_argument(
        "--webhook",
        action="store_true",
        help="serve WEBHOOK_URL on $WEBHOOK_LISTEN:$PORT (0.0.0.0:8443) instead of polling",
    )
    parser.set_defaults(func=run_command, handler=run_command)
    return parser


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def run_command(args: argparse.Namespace) -> int:
    """Run until stopped; returns the process exit code."""
    from bot.config import MAKE_SECRET, Config, ConfigError

    try:
        config = Config.from_env()
    except ConfigError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    if config.secret is None:
        return _fail(
            "BOT_SECRET is not set: make one with "
            f"{MAKE_SECRET}, keep it out of BOT_DATA_DIR and export BOT_SECRET=<it> "
            "(see README, Security)",
            EXIT_CONFIG,
        )
    webhook = bool(getattr(args, "webhook", False))
    if webhook and not config.webhook_url:
        return _fail(
            "--webhook needs WEBHOOK_URL, the public https:// address Telegram should post "
            "updates to (for example https://your-app.example.org/telegram)",
            EXIT_CONFIG,
        )

    from telegram.error import InvalidToken, NetworkError, TelegramError

    from bot.content import ContentInvalid
    from bot.telegram.app import ALLOWED_UPDATES, build_application, load_engine
    from bot.telegram.logs import setup_logging
    from bot.telegram.reload import install_reload_signal

    setup_logging(config.log_level)
    try:
        engine = load_engine(config)
    except ContentInvalid as exc:
        errors = [p for p in exc.problems if not getattr(p, "warning", False)]
        for problem in errors[:20]:
            print(problem, file=sys.stderr)
        return _fail(
            f"the content or translations have {len(errors)} error(s); fix them "
            "(python -m bot validate, python -m bot coverage) before starting the bot",
            EXIT_FAILURE,
        )

    application = build_application(config, engine)
    install_reload_signal(application)
    log = logging.getLogger("bot.telegram.run")
    topics = len(engine.catalogue.topics)
    try:
        if webhook:
            from bot.telegram.serve import run_webhook

            log.info(
                "starting: webhook server on %s:%d at /%s, %d topics",
                config.listen,
                config.port,
                config.webhook_path(),
                topics,
            )
            asyncio.run(run_webhook(application, config, ALLOWED_UPDATES))
        else:
            log.info("starting: long polling, %d topics", topics)
            application.run_polling(allowed_updates=ALLOWED_UPDATES)
    except InvalidToken:
        return _fail(
            "Telegram rejected TELEGRAM_BOT_TOKEN (unauthorized): copy the current token "
            "from @BotFather (/mybots > API Token)",
            EXIT_CONFIG,
        )
    except NetworkError as exc:
        return _fail(
            f"cannot reach the Telegram Bot API at {config.api_base_url} "
            f"({type(exc).__name__}); check the network or TELEGRAM_API_BASE_URL",
            EXIT_FAILURE,
        )
    except TelegramError as exc:
        return _fail(f"Telegram refused to start the bot: {exc}", EXIT_FAILURE)
    log.info("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.telegram.run [--webhook]`, the same as `python -m bot run`."""
    parser = argparse.ArgumentParser(prog="python -m bot.telegram.run")
    parser.add_argument("--webhook", action="store_true")
    return run_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
