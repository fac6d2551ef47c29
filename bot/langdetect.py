"""Which language a question is written in, from its letters and common words.

Phones often report English whatever the person types, so the reply language alone is
not enough. Script narrows the choice; per-language letters and marker words decide it
(Arabic, Persian, Pashto and Urdu share a script but not all letters). Returns None when
unsure: a wrong guess would switch someone's language for no reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.normalise import script_of


@dataclass(frozen=True, slots=True)
class LanguageProfile:
    code: str
    script: str
    letters: frozenset[str] = frozenset()  # letters that only this language uses
    words: frozenset[str] = frozenset()  # frequent, distinctive words (normalised)


ENGLISH = LanguageProfile(
    "en",
    "latin",
    words=frozenset(
        [
            "i",
            "the",
            "a",
            "to",
            "is",
            "am",
            "are",
            "can",
            "do",
            "my",
            "me",
            "you",
            "will",
            "what",
            "how",
            "if",
            "no",
            "not",
            "for",
            "have",
            "with",
            "in",
            "at",
            "of",
            "and",
            "or",
            "get",
            "go",
            "need",
            "help",
            "doctor",
            "hospital",
            "pay",
            "free",
            "without",
            "when",
            "who",
            "where",
            "why",
            "does",
            "they",
            "am",
            "it",
            "be",
        ]
    ),
)


class LanguageDetector:
    def __init__(self, profiles: list[LanguageProfile]) -> None:
        self.profiles = profiles

    def detect(self, raw: str, norm: str) -> str | None:
        script = script_of(raw)
        if script is None:
            return None
        candidates = [p for p in self.profiles if p.script == script]
        if not candidates:
            return None
        words = set(norm.split())
        scored = []
        for p in candidates:
            score = 3 * sum(1 for ch in raw if ch in p.letters) + len(words & p.words)
            scored.append((score, p.code))
        scored.sort(reverse=True)
        best_score, best = scored[0]
        if len(scored) == 1:
            return best if best_score > 0 or script != "latin" else None
        if best_score == 0 or best_score == scored[1][0]:
            return None
        return best
