"""Leave-one-out self-evaluation and threshold learning.

Each example is taken out of the index in turn and asked as a question; the ranking the
matcher gives it shows how the bot would do on a phrasing it has never seen. Thresholds
are then chosen to give as many correct outright answers as possible while wrong outright
answers stay at or below 5% (a wrong answer costs more than a "did you mean").
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.matching import Matcher, Phrase, Thresholds, decide, is_special
from bot.normalise import normalise
from bot.replies import Outcome

MAX_WRONG_RATE = 0.05
SUGGEST_GAP = 25.0  # "did you mean" starts this far below the outright threshold


@dataclass(frozen=True, slots=True)
class Trial:
    """One held-out question: the label it belongs to and the ranking it got."""

    expected: str
    text: str
    lang: str
    ranking: tuple[tuple[str, float], ...]


@dataclass
class Report:
    thresholds: Thresholds
    trials: list[Trial]
    outcomes: Counter = field(default_factory=Counter)  # correct / wrong / suggested / ...
    per_label: dict[str, Counter] = field(default_factory=dict)
    confusions: Counter = field(default_factory=Counter)  # (expected, got) for top-1 misses

    @property
    def total(self) -> int:
        return len(self.trials)

    def rate(self, key: str) -> float:
        return self.outcomes[key] / self.total if self.total else 0.0


def leave_one_out(matcher: Matcher, langs: set[str] | None = None) -> list[Trial]:
    trials = []
    for phrase in matcher.phrases:
        if not phrase.is_example or (langs and phrase.lang not in langs):
            continue
        ranking = tuple(matcher.rank(phrase.text, exclude=phrase))
        trials.append(Trial(phrase.label, phrase.text, phrase.lang, ranking))
    return trials


def classify(trial: Trial, th: Thresholds) -> str:
    """correct | wrong (outright but wrong) | suggested (right one among the buttons) | missed."""
    match = decide(list(trial.ranking), th)
    expected_special = is_special(trial.expected)
    if match.outcome in (Outcome.ANSWER, Outcome.SMALL_TALK, Outcome.OUT_OF_SCOPE):
        right = match.label == trial.expected or (
            expected_special
            and trial.expected.startswith("small-talk:")
            and match.outcome is Outcome.SMALL_TALK
        )
        return "correct" if right else "wrong"
    if match.outcome is Outcome.DID_YOU_MEAN:
        shown = [t for t, _s in match.topic_candidates()]
        return "suggested" if trial.expected in shown else "missed"
    return "missed"


def evaluate(trials: list[Trial], th: Thresholds) -> Report:
    report = Report(th, trials)
    for trial in trials:
        verdict = classify(trial, th)
        report.outcomes[verdict] += 1
        report.per_label.setdefault(trial.expected, Counter())[verdict] += 1
        top = trial.ranking[0][0] if trial.ranking else None
        report.outcomes["top1"] += top == trial.expected
        if top != trial.expected:
            report.confusions[(trial.expected, top or "(nothing)")] += 1
    return report


@dataclass(frozen=True, slots=True)
class _Summary:
    """What `classify` needs of a trial, computed once so the grid search is cheap."""

    lang: str
    s1: float
    s2: float
    first_special: bool
    second_special: bool
    first_right: bool
    best_topic: float
    expected_shown: bool


def _summarise(trial: Trial) -> _Summary | None:
    if not trial.ranking:
        return None
    (l1, s1), rest = trial.ranking[0], trial.ranking[1:]
    l2, s2 = rest[0] if rest else ("", 0.0)
    topics = [(lab, s) for lab, s in trial.ranking if not is_special(lab)]
    right = l1 == trial.expected or (
        l1.startswith("small-talk:") and trial.expected.startswith("small-talk:")
    )
    return _Summary(
        trial.lang,
        s1,
        s2,
        is_special(l1),
        bool(l2) and is_special(l2),
        right,
        topics[0][1] if topics else 0.0,
        trial.expected in [lab for lab, _s in topics[:3]],
    )


def _fast_verdict(t: _Summary | None, answer: float, margin: float, suggest: float) -> str:
    """`classify` for a summarised trial (the same rules as `decide`)."""
    if t is None or t.s1 < suggest:
        return "missed"
    confident = t.s1 >= answer and t.s1 - t.s2 >= margin
    if t.first_special and (confident or (t.s1 >= answer and t.second_special)):
        return "correct" if t.first_right else "wrong"
    if not t.first_special and confident:
        return "correct" if t.first_right else "wrong"
    if t.best_topic < suggest:
        return "missed"
    return "suggested" if t.expected_shown else "missed"


def tune(trials: list[Trial], min_language_trials: int = 100) -> Thresholds:
    """Grid search: most correct outright answers with wrong ones at or below 5%,
    overall and in every language with enough examples to measure."""
    summaries = [_summarise(t) for t in trials]
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.lang] = counts.get(t.lang, 0) + 1
    checked = {lang for lang, n in counts.items() if n >= min_language_trials}
    best: tuple[int, int, Thresholds] | None = None
    for answer in range(20, 101, 2):
        suggest = max(10.0, answer - SUGGEST_GAP)
        for margin in range(0, 91, 3):
            correct = wrong = 0
            wrong_by_lang: dict[str, int] = {}
            for summary, trial in zip(summaries, trials, strict=True):
                verdict = _fast_verdict(summary, answer, margin, suggest)
                if verdict == "correct":
                    correct += 1
                elif verdict == "wrong":
                    wrong += 1
                    wrong_by_lang[trial.lang] = wrong_by_lang.get(trial.lang, 0) + 1
            if wrong > MAX_WRONG_RATE * len(trials) or any(
                wrong_by_lang.get(lang, 0) > MAX_WRONG_RATE * counts[lang] for lang in checked
            ):
                continue
            if best is None or (correct, -wrong) > best[:2]:
                best = (correct, -wrong, Thresholds(float(answer), float(margin), suggest))
    return best[2] if best else Thresholds(100.0, 90.0, 75.0)


def collisions(matcher: Matcher, limit: int = 20) -> list[tuple[Phrase, Phrase, float]]:
    """Examples of different labels that are nearly the same phrasing: candidates to rewrite."""
    from rapidfuzz import fuzz

    phrases = [p for p in matcher.phrases if p.is_example]
    found = []
    for i, a in enumerate(phrases):
        for b in phrases[i + 1 :]:
            if a.label != b.label:
                score = fuzz.ratio(a.text, b.text)
                if score >= 85:
                    found.append((a, b, score))
    found.sort(key=lambda item: -item[2])
    return found[:limit]


def write_thresholds(root: Path, th: Thresholds, report: Report) -> Path:
    path = root / "thresholds.yaml"
    body = {
        "answer": th.answer,
        "margin": th.margin,
        "suggest": th.suggest,
    }
    header = (
        "# Learnt by `python -m bot check --write` (leave-one-out over the examples).\n"
        f"# correct outright {report.rate('correct'):.1%}, "
        f"wrong outright {report.rate('wrong'):.1%}"
        f", top-1 {report.outcomes['top1'] / max(1, report.total):.1%} over {report.total}.\n"
    )
    path.write_text(header + yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def read_labelled(path: Path) -> list[tuple[str, str]]:
    """A held-out file: `expected<TAB>text` lines (header optional)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or "\t" not in line:
            continue
        expected, text = line.split("\t", 1)
        if expected == "expected":
            continue
        rows.append((expected.strip(), text.strip()))
    return rows


def summarise_by_label(report: Report) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for label, counts in sorted(report.per_label.items()):
        n = sum(v for k, v in counts.items())
        out[label] = {k: counts[k] / n for k in ("correct", "suggested", "wrong", "missed")}
        out[label]["n"] = n
    return out


__all__ = [
    "Report",
    "Trial",
    "collisions",
    "evaluate",
    "leave_one_out",
    "normalise",
    "read_labelled",
    "tune",
    "write_thresholds",
]
