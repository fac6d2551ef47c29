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
    problems += Locales(args.locales).problems + check_catalogues(args.locales)
    for problem in problems:
        print(problem)
    errors = errors_only(problems)
    warnings = len(problems) - len(errors)
    print(f"{len(errors)} error(s), {warnings} warning(s)", file=sys.stderr)
    return 1 if errors else 0


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
            "emergency": reply.emergency,
            "candidates": [{"topic": c.topic, "score": float(c.score)} for c in reply.candidates],
        }
        if args.json:
            print(json.dumps(record, ensure_ascii=False))
        else:
            shown = record["topic"] or ", ".join(c["topic"] for c in record["candidates"]) or "-"
            flag = " EMERGENCY" if reply.emergency else ""
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
