"""Which language a question is written in, from its letters and common words.

Phones often report English whatever the person types, so the reply language alone is
not enough. Script narrows the choice; each language's marker letters and words (from
its `language.yaml`) decide it: Arabic, Persian, Pashto and Urdu share a script but not
all letters (پ چ ژ گ; ټ ډ ړ ښ; ٹ ڈ ڑ ں ے) nor their commonest words. Returns None when
unsure: a wrong guess would offer someone the wrong language.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.i18n import Language
from bot.normalise import normalise, script_of

LETTER_WEIGHT = 3  # one distinctive letter is stronger evidence than one common word


class LanguageDetector:
    def __init__(self, languages: Iterable[Language]) -> None:
        self.profiles: list[tuple[Language, str | None, frozenset[str], frozenset[str]]] = []
        for lang in languages:
            words = frozenset(normalise(w) for w in lang.words if normalise(w))
            script = script_of(lang.letters + " ".join(lang.words))
            self.profiles.append((lang, script, frozenset(lang.letters.casefold()), words))

    def detect(self, raw: str, norm: str) -> str | None:
        script = script_of(raw)
        if script is None:
            return None
        words = set(norm.split())
        folded = raw.casefold()  # "ВІЛ" counts like "віл"
        scored: list[tuple[int, str]] = []
        for lang, lang_script, letters, markers in self.profiles:
            if lang_script != script:
                continue
            score = LETTER_WEIGHT * sum(1 for ch in folded if ch in letters)
            score += len(words & markers)
            scored.append((score, lang.code))
        if not scored:
            return None
        scored.sort(reverse=True)
        best_score, best = scored[0]
        if best_score == 0:
            # No evidence: Arabic letters alone could be Persian, Cyrillic could be Russian.
            return None
        if len(scored) > 1 and scored[1][0] == best_score:
            return None
        return best
