"""Cost of the alert stages per message, against the phrase-only detector, in one run.

Run with `make bench` (never part of `make test`). Messages: every question in eval/
(realistic lengths: a median of ~24 encoder tokens), in a fixed shuffled order. Measured
per message, single thread:
  (a) the phrase detector alone (what decided emergencies before the encoder stage);
  (b) the whole analysis with the encoder stage (phrase detector, matcher, encoder);
  (c) the whole analysis without the encoder stage (Engine(semantic=None)).
Only ratios carry over between machines; absolute figures are printed for the record.
Writes benchmarks/results/alerts.json.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from loopback import environment, percentile, save_report

from bot.alert_eval import read_questions
from bot.engine import Engine
from bot.normalise import normalise
from bot.telegram.app import load_engine

SEED = 20261205


def timed(fn, messages: list[str], results: list | None = None) -> list[float]:
    """Milliseconds per message; what `fn` returned goes to `results` when given."""
    out = []
    for text in messages:
        started = time.perf_counter()
        result = fn(text)
        out.append((time.perf_counter() - started) * 1000)
        if results is not None:
            results.append(result)
    return out


def main() -> None:
    started = time.monotonic()
    engine = load_engine()
    if engine.semantic is None:
        print("the encoder stage is not available here: nothing to compare")
        return
    phrase_only = Engine(
        engine.catalogue, engine.matcher, engine.thresholds, engine.locales, semantic=None
    )
    messages = [q.text for q in read_questions()]
    random.Random(SEED).shuffle(messages)
    for text in messages[:20]:  # warm caches (typo windows, the model's pages)
        engine.analyse(text)
    rows = {
        "phrase detector alone (before)": timed(
            lambda t: engine.detector.detect(normalise(t)), messages
        ),
        "analysis without encoder": timed(phrase_only.analyse, messages),
        "analysis with encoder (now)": timed(engine.analyse, messages, analyses := []),
    }
    ran = sum(1 for a in analyses if a.verdict is not None)
    print(f"{len(messages)} messages from eval/; the encoder ran on {ran} of them")
    print(f"{'stage':34} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    report: dict[str, dict[str, float]] = {}
    for name, values in rows.items():
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        mean = sum(values) / len(values)
        report[name] = {"p50_ms": p50, "p99_ms": p99, "mean_ms": mean}
        print(f"{name:34} {p50:8.2f} {p99:8.2f} {mean:8.2f}")
    base = report["phrase detector alone (before)"]["p50_ms"]
    now = report["analysis with encoder (now)"]["p50_ms"]
    without = report["analysis without encoder"]["p50_ms"]
    print(f"p50 ratio, analysis with encoder / phrase detector alone: {now / base:.0f}x")
    print(f"p50 ratio, analysis with / without encoder: {now / without:.1f}x")
    save_report(
        "alerts",
        {
            "messages": len(messages),
            "encoder_ran": ran,
            "stages": report,
            "environment": environment(),
        },
        started,
    )


if __name__ == "__main__":
    main()
