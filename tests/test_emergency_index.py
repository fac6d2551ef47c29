"""The indexed emergency detector decides exactly as a phrase-by-phrase scan would.

`bot.emergency.EmergencyDetector` looks a message's words up in an index instead of
comparing every phrase with every word (that scan cost three quarters of the bot's CPU per
update). The scan is kept here, word for word as it was, as the reference: both must give
the same alarm for every example in every language, for those examples with typos, glued
or split words and inserted words, and for arbitrary text from the phrases' own words.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.alerts import alarm_phrases
from bot.emergency import MAX_INSERTED, Alarm, EmergencyDetector, _same_word
from bot.engine import Engine
from bot.normalise import normalise


class ScanDetector:
    """The reference: every phrase against every position of the message."""

    def __init__(self, phrases, crisis_phrases) -> None:
        self.phrases = []
        for kind, items in ((Alarm.CRISIS, crisis_phrases), (Alarm.EMERGENCY, phrases)):
            for item in items:
                words = tuple(normalise(item).split())
                if words:
                    self.phrases.append((words, kind))

    def detect(self, text: str) -> Alarm | None:
        words = text.split()
        found = None
        for phrase, kind in self.phrases:
            if self.contains(words, phrase):
                if kind is Alarm.CRISIS:
                    return kind
                found = kind
        return found

    @staticmethod
    def contains(words, phrase) -> bool:
        glued = "".join(phrase)
        for start in range(len(words)):
            if _same_word(words[start], phrase[0]) and follows(words, start + 1, phrase[1:]):
                return True
            for width in (len(phrase) - 1, len(phrase) + 1):
                fits = width >= 1 and start + width <= len(words)
                if fits and "".join(words[start : start + width]) == glued:
                    return True
        return False


def follows(words, at, rest) -> bool:
    if not rest:
        return True
    return any(
        at + skip < len(words)
        and _same_word(words[at + skip], rest[0])
        and follows(words, at + skip + 1, rest[1:])
        for skip in range(MAX_INSERTED + 1)
    )


@pytest.fixture(scope="module")
def detectors(engine: Engine) -> tuple[EmergencyDetector, ScanDetector, list[str]]:
    emergency, crisis = alarm_phrases(engine.catalogue, engine.locales)
    phrases = emergency + crisis
    return EmergencyDetector(emergency, crisis), ScanDetector(emergency, crisis), phrases


def mangled(text: str, rng: random.Random) -> str:
    """One of: a swapped pair, a dropped or doubled letter, a word glued or split, a word added."""
    words = text.split()
    if not words:
        return text
    i = rng.randrange(len(words))
    word = words[i]
    how = rng.randrange(6)
    if how == 0 and len(word) > 3:
        j = rng.randrange(len(word) - 1)
        words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    elif how == 1 and len(word) > 4:
        j = rng.randrange(len(word))
        words[i] = word[:j] + word[j + 1 :]
    elif how == 2:
        j = rng.randrange(len(word))
        words[i] = word[:j] + word[j] + word[j:]
    elif how == 3 and i + 1 < len(words):
        words[i : i + 2] = [word + words[i + 1]]
    elif how == 4 and len(word) > 3:
        words[i : i + 1] = [word[:2], word[2:]]
    else:
        words.insert(i, rng.choice(("really", "very", "شدید", "très", "дуже", "و")))
    return " ".join(words)


def test_same_decisions_on_every_example_and_its_typos(engine: Engine, detectors) -> None:
    fast, scan, phrases = detectors
    # The scan costs ~13 ms a message, so a fixed sample keeps this test to seconds (the
    # whole set, ~37,000 texts with two mangled copies of each, agreed when it was written).
    rng = random.Random(20261123)
    examples = [p.text for p in engine.matcher.phrases if p.is_example]
    texts = rng.sample(phrases, 400) + rng.sample(examples, 400)
    texts += [mangled(t, rng) for t in texts]
    alarms = 0
    for text in texts:
        norm = normalise(text)
        expected = scan.detect(norm)
        assert fast.detect(norm) == expected, text
        alarms += expected is not None
    # The comparison means something only if both kinds of decision were made many times.
    assert 300 < alarms < len(texts) - 300


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_same_decisions_on_arbitrary_text(detectors, data) -> None:
    fast, scan, phrases = detectors
    vocabulary = sorted({w for p in phrases for w in normalise(p).split()})
    words = data.draw(
        st.lists(st.sampled_from(vocabulary) | st.text(min_size=1, max_size=12), max_size=12)
    )
    text = normalise(" ".join(words))
    assert fast.detect(text) == scan.detect(text)


def test_crisis_wins_over_emergency_whatever_the_order() -> None:
    detector = EmergencyDetector(["chest pain"], ["kill myself"])
    assert detector.detect("chest pain i want to kill myself") is Alarm.CRISIS
    assert detector.detect("kill my self and chest pain") is Alarm.CRISIS
    assert detector.detect("chest pian") is Alarm.EMERGENCY
    assert detector.detect("chestpain") is Alarm.EMERGENCY
    assert detector.detect("chest") is None
