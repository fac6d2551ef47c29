"""Independent evaluation of alerts and answers (`python -m bot eval`, `make eval`).

The questions under `eval/questions/` were written by people who never saw `content/`
or `locales/`, from the topic list alone. Each file is split in two halves, alternately
within each category and topic, so both halves cover everything: thresholds are chosen
on the tuning half only and figures are reported on the test half.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from bot.alerts import ALERT_THRESHOLDS_FILE, AlertThresholds, decide_alert
from bot.content import SAFE_LOADER
from bot.engine import Analysis, Engine
from bot.replies import Alert, Outcome
from bot.semantic import Probe

EVAL_DIR = Path(__file__).resolve().parent.parent / "eval" / "questions"
TUNE, TEST = "tune", "test"
MAX_FALSE_POSSIBLE = 0.05  # the target: a false line is cheap, a missed emergency is not
MAX_FALSE_ALARM = 0.005  # pooled, for the encoder's crisis and emergency alone
MAX_FALSE_ALARM_NEAR = 0.01  # pooled, with crisis_near too (the target: at most 1%)


@dataclass(frozen=True, slots=True)
class Question:
    lang: str
    kind: str  # emergency | crisis | ordinary
    category: str  # red-flag category, or the ordinary question's kind (plain, past...)
    text: str
    topics: tuple[str, ...] = ()  # acceptable topics for an ordinary question
    half: str = TUNE


def read_questions(root: Path = EVAL_DIR) -> list[Question]:
    """Every question of every language file, each marked with its half."""
    out: list[Question] = []
    for path in sorted(root.glob("*.yaml")):
        data = yaml.load(path.read_text("utf-8"), Loader=SAFE_LOADER)
        lang = str(data["lang"])
        counters: dict[tuple[str, str], int] = defaultdict(int)
        for kind in ("emergency", "crisis", "ordinary"):
            for item in data.get(kind) or ():
                if kind == "ordinary":
                    topics = tuple(item.get("topics") or [item["topic"]])
                    category = str(item.get("kind", "plain"))
                    group = (kind, topics[0])
                else:
                    topics = ()
                    category = str(item["category"])
                    group = (kind, category)
                half = TUNE if counters[group] % 2 == 0 else TEST
                counters[group] += 1
                out.append(Question(lang, kind, category, str(item["text"]), topics, half))
    return out


@dataclass(frozen=True, slots=True)
class Observed:
    """What the engine decided for one question; `alert` may be re-decided from
    `analysis` under other thresholds (`with_thresholds`)."""

    question: Question
    analysis: Analysis
    alert: Alert | None
    topic: str | None  # the topic whose answer is shown
    outcome: Outcome
    suggested: tuple[str, ...]


def observe(
    engine: Engine, questions: Iterable[Question], probes: dict[str, Probe] | None = None
) -> list[Observed]:
    """Run every question through the engine once (the costly part).

    `probes` replace the encoder's probe for the questions they name: for the tuning
    half, which the probe learnt from, a probe that did not see the question.
    """
    out = []
    for q in questions:
        analysis = engine.analyse(q.text, (probes or {}).get(q.text))
        reply = engine.answer(analysis)
        out.append(
            Observed(
                q,
                analysis,
                reply.alert,
                reply.topic if reply.outcome is Outcome.ANSWER else None,
                reply.outcome,
                tuple(c.topic for c in reply.candidates),
            )
        )
    return out


def with_thresholds(observed: Sequence[Observed], th: AlertThresholds) -> list[Observed]:
    """The alerts the same analyses would raise under other thresholds."""

    def alert(a: Analysis) -> Alert | None:
        return decide_alert(a.phrase, a.verdict, a.match, a.past, th)

    return [replace(o, alert=alert(o.analysis)) for o in observed]


@dataclass
class Row:
    n_alarm: int = 0
    caught: int = 0
    n_crisis: int = 0
    crisis_ok: int = 0
    n_ordinary: int = 0
    false_alarm: int = 0
    false_possible: int = 0
    right_topic: int = 0
    suggested: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, o: Observed) -> None:
        q = o.question
        if q.kind in ("emergency", "crisis"):
            self.n_alarm += 1
            if o.alert is not None:
                self.caught += 1
            else:
                self.misses.append(f"{q.lang} {q.category}: {q.text}")
            if q.kind == "crisis":
                self.n_crisis += 1
                self.crisis_ok += o.alert in (Alert.CRISIS, Alert.EMERGENCY)
            return
        self.n_ordinary += 1
        self.false_alarm += o.alert in (Alert.EMERGENCY, Alert.CRISIS)
        self.false_possible += o.alert is Alert.POSSIBLE
        if o.topic is not None and o.topic in q.topics:
            self.right_topic += 1
        elif o.outcome is Outcome.DID_YOU_MEAN and set(o.suggested) & set(q.topics):
            self.suggested += 1

    @staticmethod
    def rate(a: int, n: int) -> str:
        return f"{a / n:6.1%}" if n else "     -"


def table(observed: Sequence[Observed]) -> tuple[str, dict[str, Row]]:
    """The per-language and per-category report."""
    by_lang: dict[str, Row] = defaultdict(Row)
    by_cat: dict[str, Row] = defaultdict(Row)
    total = Row()
    for o in observed:
        by_lang[o.question.lang].add(o)
        total.add(o)
        if o.question.kind != "ordinary":
            by_cat[f"{o.question.kind}/{o.question.category}"].add(o)
    r = Row.rate
    lines = [
        f"{'lang':6} {'alarms':>6} {'recall':>7} {'crisis>=':>8} {'ordin.':>6} "
        f"{'false!':>7} {'false?':>7} {'topic':>7} {'+dym':>6}"
    ]
    for lang, row in [*sorted(by_lang.items()), ("all", total)]:
        lines.append(
            f"{lang:6} {row.n_alarm:6} {r(row.caught, row.n_alarm):>7} "
            f"{r(row.crisis_ok, row.n_crisis):>8} {row.n_ordinary:6} "
            f"{r(row.false_alarm, row.n_ordinary):>7} {r(row.false_possible, row.n_ordinary):>7} "
            f"{r(row.right_topic, row.n_ordinary):>7} {r(row.suggested, row.n_ordinary):>6}"
        )
    lines.append("")
    lines.append(f"{'red-flag category':28} {'n':>4} {'recall':>7}")
    for cat, row in sorted(by_cat.items()):
        lines.append(f"{cat:28} {row.n_alarm:4} {r(row.caught, row.n_alarm):>7}")
    lines.append("")
    lines.append(
        "recall: any alert on emergency+crisis messages; crisis>=: crisis messages given "
        "crisis or emergency; false!: emergency/crisis on ordinary questions; false?: "
        "possible on ordinary questions; topic: the answer shown is an accepted topic; "
        "+dym: a did-you-mean offering it"
    )
    return "\n".join(lines), {**by_lang, "all": total}


def tune(observed: Sequence[Observed], base: AlertThresholds) -> AlertThresholds:
    """Thresholds from the tuning half: the most recall within the false-alarm limits.

    `possible` is the lowest probability at which false `possible` lines stay within
    MAX_FALSE_POSSIBLE, `crisis` and `emergency` (from the encoder alone) the lowest at
    which false alarms stay within MAX_FALSE_ALARM, over all languages together (a
    language has only ~65 ordinary tuning questions: one question is 1.5%).
    """
    grid = [x / 100 for x in range(1, 100)]

    def rows(th: AlertThresholds) -> dict[str, Row]:
        return table(with_thresholds(observed, th))[1]

    def ok_alarm(th: AlertThresholds, limit: float = MAX_FALSE_ALARM) -> bool:
        all_ = rows(th)["all"]
        return all_.false_alarm <= limit * max(1, all_.n_ordinary)

    off = {"possible": 9.0, "emergency": 9.0, "crisis_near": 9.0}
    crisis = next((c for c in grid if ok_alarm(replace(base, **{**off, "crisis": c}))), 9.0)
    emergency = next(
        (e for e in grid if ok_alarm(replace(base, **{**off, "crisis": crisis, "emergency": e}))),
        9.0,
    )
    emergency = max(emergency, crisis)
    near = next(
        (
            n
            for n in grid
            if ok_alarm(AlertThresholds(9.0, crisis, emergency, n), limit=MAX_FALSE_ALARM_NEAR)
        ),
        crisis,
    )

    def ok_possible(p: float) -> bool:
        th = AlertThresholds(possible=p, crisis=crisis, emergency=emergency, crisis_near=near)
        all_ = rows(th)["all"]
        return all_.false_possible <= MAX_FALSE_POSSIBLE * all_.n_ordinary

    possible = next((p for p in grid if ok_possible(p)), 9.0)
    return AlertThresholds(possible, crisis, emergency, min(near, crisis))


def write_thresholds(root: Path, th: AlertThresholds, note: str) -> Path:
    path = root / ALERT_THRESHOLDS_FILE
    body = {
        "possible": th.possible,
        "crisis": th.crisis,
        "emergency": th.emergency,
        "crisis_near": th.crisis_near,
    }
    path.write_text(
        "# Written by `python -m bot eval --tune --write` from the tuning half of eval/.\n"
        f"# {note}\n" + yaml.safe_dump(body, sort_keys=False),
        encoding="utf-8",
    )
    return path
