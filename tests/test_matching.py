"""The matcher's fast path gives exactly the scores of the plain naive-Bayes sum."""

from __future__ import annotations

import pytest

from bot.content import load_catalogue
from bot.matching import Matcher, Thresholds, decide, features
from bot.normalise import normalise
from bot.replies import Outcome


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.from_catalogue(load_catalogue())


QUESTIONS = [
    "can i see a gp without passport",
    "hospital bill i cant pay",
    "hi",
    "будь ласка",  # a script the index does not hold
    "pregnent no visa",
    "zzzz",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_sparse_and_dense_scores_agree(matcher: Matcher, question: str) -> None:
    for model in matcher.models.values():
        norm = model.correct(normalise(question))
        fast = model.posterior(norm)
        weighted = model.weigh(features(norm))
        if not weighted:
            assert fast == {}
            continue
        slow = model._posterior_dense(weighted, None)
        assert fast.keys() == slow.keys()
        for label in fast:
            assert fast[label] == pytest.approx(slow[label], abs=1e-9)


def test_typos_are_corrected_against_known_words(matcher: Matcher) -> None:
    model = matcher.models["latin"]
    assert model.correct("hosptal") == "hospital"
    assert model.correct("surchage") == "surcharge"
    assert model.correct("xqzvbn") == "xqzvbn"  # nothing close: left alone
    assert model.correct("ohspital") == "hospital"  # the first two letters swapped
    # Only words that begin with the first or second letter are candidates (the index
    # stays cheap as the vocabulary grows); a wrong first letter is left to the n-grams.
    assert model.correct("xospital") == "xospital"
    assert dict(matcher.rank("xospital bill"))  # still ranked, through letter n-grams


def test_leaving_an_example_out_changes_its_own_score(matcher: Matcher) -> None:
    phrase = next(p for p in matcher.phrases if p.is_example and p.label == "nhs-debt")
    inside = dict(matcher.rank(phrase.text))["nhs-debt"]
    outside = dict(matcher.rank(phrase.text, exclude=phrase)).get("nhs-debt", 0.0)
    assert outside < inside


def test_decide_outcomes() -> None:
    th = Thresholds(answer=60, margin=20, suggest=30)
    assert decide([("a", 90), ("b", 5)], th).outcome is Outcome.ANSWER
    assert decide([("a", 50), ("b", 45)], th).outcome is Outcome.DID_YOU_MEAN
    assert decide([("a", 20)], th).outcome is Outcome.FALLBACK
    assert decide([], th).outcome is Outcome.FALLBACK
    assert decide([("small-talk:greeting", 95), ("a", 1)], th).outcome is Outcome.SMALL_TALK
    assert decide([("out-of-scope", 95), ("a", 1)], th).outcome is Outcome.OUT_OF_SCOPE
    # a special label that is not confident never turns into a topic answer
    unsure = decide([("out-of-scope", 55), ("a", 44)], th)
    assert unsure.outcome is Outcome.DID_YOU_MEAN and unsure.label is None


def test_fast_threshold_search_uses_the_same_rules_as_decide(matcher: Matcher) -> None:
    from bot import evaluation as ev

    trials = ev.leave_one_out(matcher)[:400]
    for answer, margin, suggest in [(20, 0, 10), (50, 30, 25), (80, 60, 55), (100, 90, 75)]:
        th = Thresholds(answer, margin, suggest)
        for trial in trials:
            fast = ev._fast_verdict(ev._summarise(trial), answer, margin, suggest)
            assert fast == ev.classify(trial, th), (trial.text, th)


def test_leave_one_out_sparse_equals_dense(matcher: Matcher) -> None:
    model = matcher.models["latin"]
    for idx in range(0, len(model.phrases), 97):
        weighted = model.weigh(features(model.phrases[idx].text))
        fast = model._posterior_sparse(weighted, idx)
        slow = model._posterior_dense(weighted, idx)
        for label in fast:
            assert fast[label] == pytest.approx(slow[label], abs=1e-9)
