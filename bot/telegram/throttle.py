"""Log lines that cannot flood the disk: one line per kind of event per interval.

An attacker decides how often a refused request or a failed accept happens; the log must
not grow with them. The first event of a kind is logged at once; later ones within
`interval` seconds are only counted, and the next line that gets through says how many
were left out. Nothing about the events themselves (no bodies, no addresses) is kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_INTERVAL = 60.0


@dataclass
class ThrottledLog:
    """`log(kind, message, *args)`: at most one line per `kind` every `interval` seconds."""

    logger: logging.Logger
    level: int = logging.WARNING
    interval: float = DEFAULT_INTERVAL
    clock: Callable[[], float] = time.monotonic
    _last: dict[str, float] = field(default_factory=dict)
    _skipped: dict[str, int] = field(default_factory=dict)

    def log(self, kind: str, message: str, *args: object) -> bool:
        """Log now, or count the event; True when a line was written."""
        now = self.clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._skipped[kind] = self._skipped.get(kind, 0) + 1
            return False
        self._last[kind] = now
        skipped = self._skipped.pop(kind, 0)
        if skipped:
            message += " (and %d more like it since the last such line)"
            args = (*args, skipped)
        self.logger.log(self.level, message, *args)
        return True
