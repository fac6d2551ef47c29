"""Emergency detection: runs first on every message, before any matching.

A missed emergency costs far more than an unneeded "call 999" line, so phrases are matched
as whole words and also with small typos ("chest pian", "cant breath"): each word of a
phrase is compared with the word in the same place, so a typo in one long word is
forgiven but "not eating" never becomes "not breathing".
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from bot.normalise import normalise

TYPO_SCORE = 85.0
MIN_FUZZY_LENGTH = 5  # shorter words ("fit", "cut", "999") must match exactly
MAX_INSERTED = 1  # words a person may put inside a phrase ("chest [really] pain")


class Alarm(StrEnum):
    EMERGENCY = "emergency"
    CRISIS = "crisis"  # thoughts of suicide or self-harm: also a crisis line


class EmergencyDetector:
    def __init__(self, phrases: Iterable[str], crisis_phrases: Iterable[str]) -> None:
        self._phrases: list[tuple[tuple[str, ...], Alarm]] = []
        for kind, items in ((Alarm.CRISIS, crisis_phrases), (Alarm.EMERGENCY, phrases)):
            for item in items:
                words = tuple(normalise(item).split())
                if words:
                    self._phrases.append((words, kind))

    def detect(self, text: str) -> Alarm | None:
        """The alarm raised by normalised `text`, crisis before emergency, or None."""
        words = text.split()
        if not words:
            return None
        found: Alarm | None = None
        for phrase, kind in self._phrases:
            if self._contains(words, phrase):
                if kind is Alarm.CRISIS:
                    return kind
                found = kind
        return found

    @staticmethod
    def _contains(words: list[str], phrase: tuple[str, ...]) -> bool:
        n = len(phrase)
        glued = "".join(phrase)
        for start in range(0, len(words)):
            if _same_word(words[start], phrase[0]) and _rest_follows(words, start + 1, phrase[1:]):
                return True
            # "kill my self" / "heartattack": the same letters with spaces elsewhere.
            for width in (n - 1, n + 1):
                fits = width >= 1 and start + width <= len(words)
                if fits and "".join(words[start : start + width]) == glued:
                    return True
        return False


def _rest_follows(words: list[str], at: int, rest: tuple[str, ...]) -> bool:
    """The rest of a phrase follows in order, with at most one extra word before each
    ("douleur forte poitrine", "سینے میں شدید درد"): people describe, they don't recite."""
    if not rest:
        return True
    for skip in range(MAX_INSERTED + 1):
        i = at + skip
        if (
            i < len(words)
            and _same_word(words[i], rest[0])
            and _rest_follows(words, i + 1, rest[1:])
        ):
            return True
    return False


_JOINED_CONJUNCTIONS = ("و", "ف")  # Arabic-script "and"/"so", written joined to the next word


def _same_word(typed: str, expected: str) -> bool:
    """Equal, or a small typo: swapped letters ("pian"), or one slip in a long word.

    Short words otherwise match exactly: "hand"/"hang" or "fit"/"bit" differ by one letter.
    In Arabic script "and" is joined to the next word ("وما عم يتنفس"), so it is ignored.
    """
    if typed == expected:
        return True
    if (
        len(typed) > 2
        and typed[0] in _JOINED_CONJUNCTIONS
        and not expected.startswith(typed[0])
        and typed[1:] == expected
    ):
        return True
    if len(expected) >= 4 and sorted(typed) == sorted(expected):
        return Levenshtein.distance(typed, expected, weights=(1, 1, 2)) <= 2  # a transposition
    if len(expected) < MIN_FUZZY_LENGTH or abs(len(typed) - len(expected)) > 2:
        return False
    return fuzz.ratio(typed, expected) >= TYPO_SCORE
