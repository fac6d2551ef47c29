"""Command line: `python -m bot chat | validate | check | match | run`."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

from bot.content import ContentInvalid, default_content_dir, errors_only, load_catalogue, validate
from bot.i18n import default_locales_dir


def _content_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--content",
        type=Path,
        default=default_content_dir(),
        help="content folder (default: the bundled content)",
    )


def _engine(content: Path):
    from bot.engine import Engine

    try:
        return Engine(load_catalogue(content))
    except ContentInvalid as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print("The content has errors; run `python -m bot validate`.", file=sys.stderr)
        raise SystemExit(1) from None


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.console import chat

    return chat(_engine(args.content), args.lang)


def cmd_validate(args: argparse.Namespace) -> int:
    from bot.i18n import Locales, check_catalogues

    problems = validate(args.content)
    locales = Locales(args.locales)
    problems += locales.problems + check_catalogues(args.locales)
    for problem in problems:
        print(problem)
    errors = errors_only(problems)
    if not errors:
        print(_encoder_status(args.content, locales))
    warnings = len(problems) - len(errors)
    print(f"{len(errors)} error(s), {warnings} warning(s)", file=sys.stderr)
    return 1 if errors else 0


def _encoder_status(content: Path, locales) -> str:
    """One line on the encoder stage of emergency detection (bot.semantic)."""
    from bot.alerts import references
    from bot.semantic import VECTORS_FILE, Encoder, VectorFile

    if Encoder.load() is None:
        return "note: the sentence encoder cannot run here; emergencies use the phrase stage only"
    probe = VectorFile.read()
    if probe.weights is None:
        return f"warning: no probe in {VECTORS_FILE}; run `make vectors`"
    known = set(probe.texts)
    new = [r for r in references(load_catalogue(content), locales) if r.text not in known]
    if new:
        return (
            f"note: {len(new)} phrases or examples are newer than {VECTORS_FILE.name}; "
            "the encoder stage still runs; `make vectors` retrains it with them"
        )
    return f"encoder stage: ready ({len(probe.texts)} training texts)"


def cmd_check(args: argparse.Namespace) -> int:
    from bot import evaluation as ev

    engine = _engine(args.content)
    trials = ev.leave_one_out(engine.matcher)
    learnt = ev.tune(trials)
    current = engine.thresholds
    report = ev.evaluate(trials, current)
    print(f"Leave-one-out over {report.total} examples (thresholds in use: {current})")
    print(f"{'label':34} {'n':>4} {'correct':>8} {'suggest':>8} {'wrong':>6} {'missed':>7}")
    for label, row in ev.summarise_by_label(report).items():
        print(
            f"{label:34} {int(row['n']):>4} {row['correct']:>8.0%} {row['suggested']:>8.0%}"
            f" {row['wrong']:>6.0%} {row['missed']:>7.0%}"
        )
    print()
    print(f"top-1 accuracy:           {report.outcomes['top1'] / max(1, report.total):.1%}")
    print(f"correct outright answers: {report.rate('correct'):.1%}")
    print(f"did-you-mean with right:  {report.rate('suggested'):.1%}")
    print(f"wrong outright answers:   {report.rate('wrong'):.1%} (limit 5%)")
    print(f"missed (fallback/wrong suggestions): {report.rate('missed'):.1%}")
    print()
    print("Per language (leave-one-out over that language's examples):")
    for lang in sorted({t.lang for t in trials}):
        sub = ev.evaluate([t for t in trials if t.lang == lang], current)
        print(
            f"  {lang:4} n={sub.total:5}  top-1 {sub.outcomes['top1'] / max(1, sub.total):6.1%}"
            f"  correct {sub.rate('correct'):6.1%}  wrong {sub.rate('wrong'):5.1%}"
        )
    print()
    print("Most frequent confusions (expected -> ranked first):")
    for (expected, got), n in report.confusions.most_common(10):
        print(f"  {n:3}  {expected} -> {got}")
    print()
    print("Examples that collide between topics (rewrite one of each pair):")
    pairs = ev.collisions(engine.matcher)
    for a, b, score in pairs:
        print(f"  {score:5.1f}  {a.label}: {a.text!r}  ~  {b.label}: {b.text!r}")
    if not pairs:
        print("  none")
    if learnt != current:
        print(f"\nThresholds learnt from this content: {learnt}")
        if args.write:
            path = ev.write_thresholds(args.content, learnt, ev.evaluate(trials, learnt))
            print(f"written to {path}")
        else:
            print("run `python -m bot check --write` to use them")
    for held_out in args.held_out or []:
        rows = ev.read_labelled(held_out)
        _print_held_out(engine, rows, held_out)
    ok = report.rate("wrong") <= ev.MAX_WRONG_RATE
    return 0 if ok else 1


def _print_held_out(engine, rows: list[tuple[str, str]], path: Path) -> None:
    from collections import Counter

    counts: Counter = Counter()
    misses = []
    for expected, text in rows:
        reply = engine.ask(text)
        if expected == "emergency":
            verdict = "correct" if reply.emergency else "missed"
        elif expected in ("small-talk", "out-of-scope"):
            verdict = (
                "correct"
                if reply.outcome.value == expected
                else ("wrong" if reply.outcome.value == "answer" else "missed")
            )
        elif reply.outcome.value == "answer" and not reply.emergency:
            verdict = "correct" if reply.topic == expected else "wrong"
        elif reply.emergency:
            verdict = (
                "correct" if expected in [c.topic for c in reply.candidates[:1]] else "missed"
            )
        elif reply.outcome.value == "did-you-mean":
            verdict = "suggested" if expected in [c.topic for c in reply.candidates] else "missed"
        else:
            verdict = "missed"
        counts[verdict] += 1
        if verdict in ("wrong", "missed"):
            misses.append((verdict, expected, reply.topic or reply.outcome.value, text))
    n = max(1, len(rows))
    print(f"\nHeld-out questions from {path} ({len(rows)}):")
    for key in ("correct", "suggested", "wrong", "missed"):
        print(f"  {key:10} {counts[key] / n:6.1%}")
    for verdict, expected, got, text in misses[:40]:
        print(f"  {verdict:7} {expected:28} -> {got:28} {text}")


def cmd_coverage(args: argparse.Namespace) -> int:
    from bot.coverage import extract_messages, measure, report
    from bot.i18n import Locales

    catalogue = _engine(args.content).catalogue
    locales = Locales(args.locales)
    for problem in locales.problems:
        print(problem)
    messages = extract_messages(args.content.resolve().parent)
    text, ok = report(measure(catalogue, locales, messages), verbose=args.verbose)
    print(text)
    return 0 if ok and not locales.problems else 1


def cmd_eval(args: argparse.Namespace) -> int:
    """Alerts and answers on the independent questions in eval/ (see bot.alert_eval)."""
    from bot import alert_eval as ae

    engine = _engine(args.content)
    if engine.semantic is None:
        print("NOTE: the sentence encoder is not available here; phrase stage only")
    questions = ae.read_questions(args.questions or ae.EVAL_DIR)
    tuning = [q for q in questions if q.half == ae.TUNE]
    testing = [q for q in questions if q.half == ae.TEST]
    current = engine.alert_thresholds
    if args.tune:
        from bot.semantic import VectorFile

        observed = ae.observe(engine, tuning, VectorFile.read().held_out_probes())
        learnt = ae.tune(observed, current)
        print(f"Tuning half ({len(tuning)} questions), thresholds in use: {current}")
        print(ae.table(observed)[0])
        print(f"\nLearnt from the tuning half: {learnt}")
        print(ae.table(ae.with_thresholds(observed, learnt))[0])
        if args.write:
            note = f"{len(tuning)} tuning questions, {len({q.lang for q in tuning})} languages"
            print("written to", ae.write_thresholds(args.content, learnt, note))
        return 0
    observed = ae.observe(engine, testing)
    text, rows = ae.table(observed)
    print(f"Test half of eval/ ({len(testing)} questions; thresholds {current})")
    print(text)
    if args.misses:
        print("\nMissed emergencies and crises:")
        for line in rows["all"].misses:
            print("  " + line)
    return 0


def cmd_vectors(args: argparse.Namespace) -> int:
    """Embed the probe's training texts and train it (see bot.semantic)."""
    import time

    import numpy as np

    from bot.alert_eval import TUNE, read_questions
    from bot.alerts import references
    from bot.i18n import Locales
    from bot.semantic import (
        CRISIS,
        EMERGENCY,
        VECTORS_FILE,
        Encoder,
        VectorFile,
        train_probe,
    )

    catalogue = _engine(args.content).catalogue
    refs = references(catalogue, Locales(args.locales))
    labels = {r.text: {EMERGENCY: 1, CRISIS: 2}.get(r.label, 0) for r in refs}
    classes = {"emergency": 1, "crisis": 2, "ordinary": 0}
    tune_texts = set()
    for q in read_questions():
        if q.half == TUNE and q.text not in labels:  # never the test half (`make eval`)
            labels[q.text] = classes[q.kind]
            tune_texts.add(q.text)
    encoder = Encoder.load()
    if encoder is None:
        print("the sentence encoder cannot load on this machine", file=sys.stderr)
        return 1
    out = args.out or VECTORS_FILE
    known = VectorFile.read(out).lookup()
    texts = list(labels)
    todo = [t for t in texts if t not in known]
    print(f"{len(texts)} training texts, {len(todo)} to embed", file=sys.stderr)
    started = time.monotonic()
    for i in range(0, len(todo), 64):
        batch = todo[i : i + 64]
        known.update(zip(batch, encoder.embed(batch), strict=True))
        if i % 1280 == 0:
            done = i + len(batch)
            print(f"  {done}/{len(todo)} {time.monotonic() - started:.0f} s", file=sys.stderr)
    vectors = np.array([known[t] for t in texts], dtype=np.float32)
    classes_ = np.array([labels[t] for t in texts])
    weights, bias = train_probe(vectors, classes_)
    # Thresholds are chosen on the tuning half, which the probe learnt from: its
    # verdicts there would be too sure. Five more probes, each without one fifth of the
    # tuning questions, give each of them a verdict from a probe that did not see it.
    tuning = np.array([t in tune_texts for t in texts])
    fold = np.cumsum(tuning) % 5
    fold_weights, fold_bias = [], []
    for k in range(5):
        leave = tuning & (fold == k)
        w, b = train_probe(vectors[~leave], classes_[~leave])
        fold_weights.append(w)
        fold_bias.append(b)
    VectorFile(
        texts,
        vectors,
        weights,
        bias,
        np.array(fold_weights),
        np.array(fold_bias),
        [t for t, keep in zip(texts, tuning, strict=True) if keep],
        fold[tuning],
    ).write(out)
    print(f"wrote {out} ({len(texts)} vectors and the probe)", file=sys.stderr)
    return 0


def cmd_match(args: argparse.Namespace) -> int:
    engine = _engine(args.content)
    questions = args.text or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    lang = args.lang or "en"
    for text in questions:
        reply = engine.ask(text, lang)
        record = {
            "text": text,
            "lang": reply.detected_lang,
            "topic": reply.topic if reply.outcome.value == "answer" else None,
            "outcome": reply.outcome.value,
            "score": float(reply.score),
            "alert": reply.alert.value if reply.alert else None,
            "emergency": reply.emergency,
            "candidates": [{"topic": c.topic, "score": float(c.score)} for c in reply.candidates],
        }
        if args.json:
            print(json.dumps(record, ensure_ascii=False))
        else:
            shown = record["topic"] or ", ".join(c["topic"] for c in record["candidates"]) or "-"
            flag = f" ALERT:{reply.alert.value}" if reply.alert else ""
            print(f"{record['outcome']:13} {record['score']:5.1f} {shown}{flag}  <- {text}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("chat", help="talk to the bot in this terminal")
    _content_arg(p)
    p.add_argument("--lang", default="en", help="reply language (default en)")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("validate", help="check content and translations; exit 1 on any error")
    _content_arg(p)
    p.add_argument("--locales", type=Path, default=default_locales_dir())
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("check", help="leave-one-out evaluation of matching")
    _content_arg(p)
    p.add_argument("--write", action="store_true", help="save the learnt thresholds")
    p.add_argument(
        "--held-out", type=Path, action="append", help="also score a file of expected<TAB>text"
    )
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("coverage", help="translation coverage per language; exit 1 if incomplete")
    _content_arg(p)
    p.add_argument("--locales", type=Path, default=default_locales_dir())
    p.add_argument("--verbose", action="store_true", help="list every missing msgid")
    p.set_defaults(func=cmd_coverage)

    p = sub.add_parser("eval", help="alerts and answers on the independent questions in eval/")
    _content_arg(p)
    p.add_argument("--questions", type=Path, default=None)
    p.add_argument("--tune", action="store_true", help="choose thresholds on the tuning half")
    p.add_argument("--write", action="store_true", help="with --tune: save them")
    p.add_argument("--misses", action="store_true", help="list what the test half missed")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("vectors", help="embed alarm phrases and examples for the encoder stage")
    _content_arg(p)
    p.add_argument("--locales", type=Path, default=default_locales_dir())
    p.add_argument("--out", type=Path, default=None)
    p.set_defaults(func=cmd_vectors)

    p = sub.add_parser("match", help="match questions (arguments, or one per stdin line)")
    _content_arg(p)
    p.add_argument("--lang", default=None, help="the language the person's app reports")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("text", nargs="*")
    p.set_defaults(func=cmd_match)

    if importlib.util.find_spec("bot.telegram") and importlib.util.find_spec("bot.telegram.run"):
        from bot.telegram.run import add_run_parser

        add_run_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
