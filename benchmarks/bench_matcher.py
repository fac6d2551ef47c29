"""Matcher speed against two baselines in the same run, and its growth with the catalogue.

Run with `make bench` (never part of `make test`). Prints a table and writes JSON to
benchmarks/results/matcher.json. Only ratios carry over between machines; absolute
figures are printed for the record.

Baselines, over exactly the same example phrasings:
  (a) difflib.get_close_matches (the standard library's fuzzy matcher);
  (b) rapidfuzz.process.extractOne with no normalisation and no index.
Questions: a few hundred phrasings from every shipped language's examples, each with a
deterministic typo, so no question is an exact copy of what the index holds.
"""

from __future__ import annotations

import difflib
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rapidfuzz import process

from bot.content import load_catalogue
from bot.engine import locale_phrases
from bot.i18n import default_locales
from bot.matching import Matcher, Phrase
from bot.normalise import normalise

RESULTS = Path(__file__).parent / "results"
SEED = 20261123


def typo(text: str, rng: random.Random) -> str:
    """One realistic slip: a dropped, doubled or swapped letter."""
    if len(text) < 6:
        return text
    i = rng.randrange(1, len(text) - 2)
    kind = rng.choice(("drop", "double", "swap"))
    if kind == "drop":
        return text[:i] + text[i + 1 :]
    if kind == "double":
        return text[:i] + text[i] + text[i:]
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def questions(phrases: list[Phrase], n: int, rng: random.Random) -> list[str]:
    by_lang: dict[str, list[Phrase]] = {}
    for p in phrases:
        if p.is_example:
            by_lang.setdefault(p.lang, []).append(p)
    per_lang = max(1, n // len(by_lang))
    out = []
    for items in by_lang.values():
        for p in rng.sample(items, min(per_lang, len(items))):
            out.append(typo(p.text, rng))
    return out


def grow(phrases: list[Phrase], factor: int, *, distinct: bool = True) -> list[Phrase]:
    """A catalogue `factor` times larger: copies of every label.

    distinct=True models a larger real catalogue: each copy is a new set of topics with
    its own vocabulary (every letter of every word shifted by a per-copy cipher, so word
    lengths and frequencies stay realistic but no copy shares words with another).
    distinct=False is the worst case: copies reuse the same words (a suffix on some), so
    every feature belongs to every copy.
    """
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = list(phrases)
    for k in range(1, factor):
        shift = k % 25 + 1
        cipher = str.maketrans(letters, letters[shift:] + letters[:shift])
        salt = str(k // 25) if k >= 25 else ""

        def rewrite(word: str, k: int = k, cipher: dict = cipher, salt: str = salt) -> str:
            if distinct:
                return word.translate(cipher) + salt
            return word + f"x{k}" if len(word) > 3 and hash((word, k)) % 2 else word

        for p in phrases:
            text = " ".join(rewrite(w) for w in p.text.split())
            out.append(Phrase(text, f"{p.label}~{k}", p.lang, p.is_example))
    return out


def timed(fn: Callable[[str], object], qs: list[str], repeat: int = 1) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        for q in qs:
            t = time.perf_counter()
            fn(q)
            times.append(time.perf_counter() - t)
    times.sort()
    total = sum(times)
    return {
        "p50_ms": 1000 * times[len(times) // 2],
        "p99_ms": 1000 * times[min(len(times) - 1, int(len(times) * 0.99))],
        "mean_ms": 1000 * statistics.fmean(times),
        "qps": len(times) / total if total else float("inf"),
    }


def main() -> int:
    rng = random.Random(SEED)
    catalogue = load_catalogue()
    base_phrases = Matcher.from_catalogue(
        catalogue, locale_phrases(catalogue, default_locales())
    ).phrases
    qs = questions(base_phrases, 400, rng)
    raw_examples = [p.text for p in base_phrases if p.is_example]
    rows: dict[str, dict[str, float]] = {}

    matcher = Matcher(base_phrases)
    rows["matcher 1x"] = timed(lambda q: matcher.rank(normalise(q)), qs, repeat=3)
    rows["baseline difflib"] = timed(
        lambda q: difflib.get_close_matches(q, raw_examples, n=3, cutoff=0.0), qs[:100]
    )
    rows["baseline extractOne"] = timed(
        lambda q: process.extractOne(q, raw_examples, processor=None), qs, repeat=3
    )
    for factor in (10, 100):
        grown = Matcher(grow(base_phrases, factor))
        rows[f"matcher {factor}x"] = timed(lambda q, m=grown: m.rank(normalise(q)), qs[:200])
    same_words = Matcher(grow(base_phrases, 10, distinct=False))
    rows["matcher 10x same words"] = timed(lambda q: same_words.rank(normalise(q)), qs[:200])

    ratios = {
        "vs difflib (throughput, target >= 20)": rows["matcher 1x"]["qps"]
        / rows["baseline difflib"]["qps"],
        "vs extractOne (throughput, target >= 3)": rows["matcher 1x"]["qps"]
        / rows["baseline extractOne"]["qps"],
        "cost 10x / 1x (target <= 4)": rows["matcher 10x"]["mean_ms"]
        / rows["matcher 1x"]["mean_ms"],
        "cost 100x / 1x": rows["matcher 100x"]["mean_ms"] / rows["matcher 1x"]["mean_ms"],
        "cost 10x same words / 1x (worst case)": rows["matcher 10x same words"]["mean_ms"]
        / rows["matcher 1x"]["mean_ms"],
    }
    langs = len({p.lang for p in base_phrases})
    print(f"{len(qs)} questions, {len(raw_examples)} examples, {langs} languages")
    print(f"{'':24} {'p50 ms':>9} {'p99 ms':>9} {'q/s':>10}")
    for name, r in rows.items():
        print(f"{name:24} {r['p50_ms']:9.3f} {r['p99_ms']:9.3f} {r['qps']:10.0f}")
    print()
    for name, value in ratios.items():
        print(f"{name:42} {value:8.2f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "matcher.json").write_text(
        json.dumps({"rows": rows, "ratios": ratios, "questions": len(qs)}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
