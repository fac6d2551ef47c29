"""Emergency detection: runs first on every message, before any matching.

A missed emergency costs far more than an unneeded "call 999" line, so phrases are matched
as whole words and also with small typos ("chest pian", "cant breath"): each word of a
phrase is compared with the word in the same place, so a typo in one long word is
forgiven but "not eating" never becomes "not breathing".
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from bot.normalise import normalise

TYPO_SCORE = 85.0
MIN_FUZZY_LENGTH = 5  # shorter words ("fit", "cut", "999") must match exactly
MAX_INSERTED = 1  # words a person may put inside a phrase ("chest [really] pain")


class Alarm(StrEnum):
    EMERGENCY = "emergency"
    CRISIS = "crisis"  # thoughts of suicide or self-harm: also a crisis line


class EmergencyDetector:
    """Phrases indexed by their first word and by their letters without spaces.

    Comparing every phrase with every word of a message cost ~13 ms per message with the
    ten languages' ~1,900 phrases, three quarters of the bot's CPU per update. Instead,
    each distinct word of a message is compared once with the phrases' vocabulary (exact,
    conjunction, anagram and length-bucketed fuzzy candidates, each confirmed by
    `_same_word`, so the decisions are those of a phrase-by-phrase scan), and only phrases
    that begin with a matching word are followed.
    """

    def __init__(self, phrases: Iterable[str], crisis_phrases: Iterable[str]) -> None:
        self._by_first: dict[str, list[tuple[tuple[str, ...], Alarm]]] = {}
        self._glued: dict[str, list[tuple[int, Alarm]]] = {}
        vocabulary: set[str] = set()
        for kind, items in ((Alarm.CRISIS, crisis_phrases), (Alarm.EMERGENCY, phrases)):
            for item in items:
                words = tuple(normalise(item).split())
                if not words:
                    continue
                self._by_first.setdefault(words[0], []).append((words, kind))
                self._glued.setdefault("".join(words), []).append((len(words), kind))
                vocabulary.update(words)
        self._vocabulary = frozenset(vocabulary)
        self._longest = max((n for entries in self._glued.values() for n, _ in entries), default=0)
        self._anagrams: dict[str, list[str]] = {}
        self._by_length: dict[int, list[str]] = {}
        for word in sorted(vocabulary):
            if len(word) >= 4:
                self._anagrams.setdefault("".join(sorted(word)), []).append(word)
            if len(word) >= MIN_FUZZY_LENGTH:
                self._by_length.setdefault(len(word), []).append(word)

    def detect(self, text: str) -> Alarm | None:
        """The alarm raised by normalised `text`, crisis before emergency, or None."""
        words = text.split()
        if not words:
            return None
        known = {word: self._similar(word) for word in set(words)}
        similar = [known[word] for word in words]
        found: Alarm | None = None
        for start in range(len(words)):
            for first in similar[start]:
                for phrase, kind in self._by_first.get(first, ()):
                    if kind is not found and _rest_follows(similar, start + 1, phrase[1:]):
                        if kind is Alarm.CRISIS:
                            return kind
                        found = kind
            # "kill my self" / "heartattack": the same letters with spaces elsewhere.
            glued = ""
            for width in range(1, min(self._longest + 1, len(words) - start) + 1):
                glued += words[start + width - 1]
                for n, kind in self._glued.get(glued, ()):
                    if width in (n - 1, n + 1):
                        if kind is Alarm.CRISIS:
                            return kind
                        found = kind
        return found

    def _similar(self, typed: str) -> frozenset[str]:
        """The phrase words `typed` may stand for (see `_same_word`)."""
        candidates: set[str] = set()
        if typed in self._vocabulary:
            candidates.add(typed)
        if len(typed) > 2 and typed[0] in _JOINED_CONJUNCTIONS:
            candidates.add(typed[1:])
        if len(typed) >= 4:
            candidates.update(self._anagrams.get("".join(sorted(typed)), ()))
        for length in range(len(typed) - 2, len(typed) + 3):
            bucket = self._by_length.get(length)
            if bucket:
                hits = process.extract(
                    typed, bucket, scorer=fuzz.ratio, score_cutoff=TYPO_SCORE, limit=None
                )
                candidates.update(hit[0] for hit in hits)
        return frozenset(word for word in candidates if _same_word(typed, word))


def _rest_follows(similar: list[frozenset[str]], at: int, rest: tuple[str, ...]) -> bool:
    """The rest of a phrase follows in order, with at most one extra word before each
    ("douleur forte poitrine", "سینے میں شدید درد"): people describe, they don't recite."""
    if not rest:
        return True
    for skip in range(MAX_INSERTED + 1):
        i = at + skip
        if i < len(similar) and rest[0] in similar[i] and _rest_follows(similar, i + 1, rest[1:]):
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
