"""The independent evaluation set stays independent and complete.

Figures from `make eval` mean something only while no eval question has leaked into the
examples or phrase lists the bot learns from, and while every language has enough of
each kind of message to measure.
"""

from __future__ import annotations

from collections import Counter

import pytest

from bot.alert_eval import TEST, TUNE, read_questions
from bot.alerts import references
from bot.engine import Engine
from bot.normalise import normalise

QUESTIONS = read_questions()
LANGS = sorted({q.lang for q in QUESTIONS})


def test_no_eval_question_is_in_the_examples_or_phrase_lists(engine: Engine) -> None:
    learnt = {normalise(r.text) for r in references(engine.catalogue, engine.locales)}
    for intent in engine.catalogue.small_talk:
        learnt.update(normalise(e) for e in intent.examples)
    for data in engine.locales.data.values():  # languages not shipped yet too
        for items in ((data.examples or {}).get("topics") or {}).values():
            learnt.update(normalise(str(e)) for e in items or ())
    leaked = [q.text for q in QUESTIONS if normalise(q.text) in learnt]
    assert not leaked, f"{len(leaked)} eval questions are also examples: {leaked[:5]}"


def test_every_shipped_language_has_enough_of_each_kind(engine: Engine) -> None:
    shipped = {lang.code for lang in engine.locales.shipped()} | {"en"}
    assert shipped <= set(LANGS)
    counts = Counter((q.lang, q.kind) for q in QUESTIONS)
    for lang in LANGS:
        assert counts[lang, "emergency"] >= 40, lang
        assert counts[lang, "crisis"] >= 20, lang
        assert counts[lang, "ordinary"] >= 100, lang


def test_halves_split_every_group_and_never_share_a_question() -> None:
    halves = {TUNE: set(), TEST: set()}
    for q in QUESTIONS:
        halves[q.half].add((q.lang, q.text))
    assert not halves[TUNE] & halves[TEST]
    for lang in LANGS:
        for kind in ("emergency", "crisis", "ordinary"):
            sizes = Counter(q.half for q in QUESTIONS if q.lang == lang and q.kind == kind)
            assert abs(sizes[TUNE] - sizes[TEST]) <= sizes[TUNE] // 4 + 2, (lang, kind, sizes)


@pytest.mark.parametrize("lang", LANGS)
def test_ordinary_questions_name_real_topics(engine: Engine, lang: str) -> None:
    ids = {t.public_id for t in engine.catalogue.topics.values()}
    for q in QUESTIONS:
        if q.lang == lang and q.kind == "ordinary":
            assert set(q.topics) <= ids, (q.topics, q.text)
