"""Plain data passed from the core to every front end (Telegram, console, tests, benchmarks).

The core never formats for a particular client: a reply carries markup blocks (the small
content markup, see CONTENT.md) and buttons with short stable ids; each front end renders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Alert(StrEnum):
    """How urgently a message may need 999; the values are part of `match --json`.

    `EMERGENCY`: confident; the 999 header and the emergency-care answer come first.
    `CRISIS`: suicidal intent, self-harm or violence happening now; the crisis header
    (999, Samaritans) comes first. `POSSIBLE`: one "call 999 if this is an emergency"
    line above whatever else the reply is: cheap when wrong, so it is raised freely.
    """

    EMERGENCY = "emergency"
    CRISIS = "crisis"
    POSSIBLE = "possible"


class Outcome(StrEnum):
    """What the core decided to do with a message; the values are part of `match --json`."""

    ANSWER = "answer"
    DID_YOU_MEAN = "did-you-mean"
    FALLBACK = "fallback"
    SMALL_TALK = "small-talk"
    OUT_OF_SCOPE = "out-of-scope"
    MENU = "menu"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button: `data` is the callback id (ASCII, at most 64 bytes), `label` the text."""

    data: str
    label: str


@dataclass(frozen=True, slots=True)
class Candidate:
    topic: str
    score: float


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer to one input.

    `blocks` are markup blocks in reading order (emergency header, answer, sources...);
    a front end may split a long reply between blocks, never inside one.
    `buttons` are rows of buttons.
    """

    blocks: tuple[str, ...]
    outcome: Outcome
    lang: str
    topic: str | None = None
    alert: Alert | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    candidates: tuple[Candidate, ...] = ()
    score: float = 0.0
    detected_lang: str | None = None
    rtl: bool = False  # render with right-to-left isolation (bot.markup.to_html(..., rtl))
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def emergency(self) -> bool:
        """True for the two levels that put the 999 header first (kept for `match --json`)."""
        return self.alert in (Alert.EMERGENCY, Alert.CRISIS)

    @property
    def crisis(self) -> bool:
        return self.alert is Alert.CRISIS

    @property
    def markup(self) -> str:
        return "\n\n".join(self.blocks)
