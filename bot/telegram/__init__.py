"""The Telegram front end: python-telegram-bot v22 around the answering core.

`build_application(config)` (in `app`) is the only way the application is built; `run`
holds the `python -m bot run` subcommand. Names are imported lazily so that the CLI's other
subcommands do not pay for importing python-telegram-bot.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ALLOWED_UPDATES", "build_application"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from bot.telegram import app

        return getattr(app, name)
    raise AttributeError(name)
