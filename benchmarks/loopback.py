"""Shared plumbing of the end-to-end and start-up benchmarks (not a benchmark itself).

`BenchBotAPI` is the test suite's fake Bot API server (tests/fake_bot_api.py, unchanged)
with three additions, all on 127.0.0.1:

- `latency`: seconds slept before every Bot API method is handled (a distant Telegram);
- overlap: how many Bot API requests other than getUpdates are in flight at once (the
  maximum, and the time-weighted mean over a measured phase);
- reply clocks: `ask()` pushes a person's message and returns a future that resolves with
  (pushed, first reply, last reply) on the monotonic clock, which is system-wide on Linux,
  so the clocks of two processes can be compared; `first_call_at` and `first_poll_at`
  mark when a starting bot first reached the API and first asked for updates.

Also: the questions (examples from content/ and locales/ with one typo each, the same
deterministic sample every run), percentiles, and CPU / memory readings from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench_matcher import typo  # noqa: E402
from fake_bot_api import TOKEN, FakeBotAPI, FakeUser  # noqa: E402

__all__ = ["TOKEN", "BenchBotAPI", "FakeUser", "Question"]

RESULTS = Path(__file__).parent / "results"
SEED = 20261123
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Question:
    text: str
    lang: str  # the language it is written in, also the sender's Telegram language_code
    messages: int = 1  # how many sendMessage calls the bot answers it with


@dataclass
class _Expect:
    remaining: int
    pushed: float
    future: asyncio.Future
    first: float = 0.0

    def arrived(self, at: float) -> None:
        if not self.first:
            self.first = at
        self.remaining -= 1
        if self.remaining <= 0 and not self.future.done():
            self.future.set_result((self.pushed, self.first, at))


class BenchBotAPI(FakeBotAPI):
    """The fake Bot API with added latency, overlap counting and reply clocks."""

    def __init__(self, latency: float = 0.0) -> None:
        super().__init__()
        self.latency = latency
        self.inflight = 0
        self.max_inflight = 0
        self._area = 0.0
        self._since = self._start = time.monotonic()
        self._expect: dict[int, _Expect] = {}
        self.first_call_at: float | None = None  # the bot's first Bot API request arrived
        self.first_poll_at: float | None = None  # its first getUpdates arrived
        self.calls_before_poll = 0  # Bot API requests made before that

    # ------------------------------------------------------------------ overlap

    def _count(self, delta: int) -> None:
        now = time.monotonic()
        self._area += self.inflight * (now - self._since)
        self._since = now
        self.inflight += delta
        self.max_inflight = max(self.max_inflight, self.inflight)

    def reset_overlap(self) -> None:
        self._count(0)
        self._area = 0.0
        self._start = self._since
        self.max_inflight = self.inflight

    def overlap(self) -> dict[str, float]:
        """Requests in flight (getUpdates excluded) since reset_overlap: max and mean."""
        self._count(0)
        span = self._since - self._start
        return {"max": self.max_inflight, "mean": self._area / span if span > 0 else 0.0}

    async def _handle(self, request):  # every Bot API method goes through here
        method = request.match_info.get("method", "").lower()
        now = time.monotonic()
        if self.first_call_at is None:
            self.first_call_at = now
        if method == "getupdates" and self.first_poll_at is None:
            self.first_poll_at = now
        elif self.first_poll_at is None:
            self.calls_before_poll += 1
        counted = method != "getupdates"
        if counted:
            self._count(+1)
        try:
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            return await super()._handle(request)
        finally:
            if counted:
                self._count(-1)

    # ------------------------------------------------------------------ reply clocks

    async def api_sendmessage(self, params: dict) -> dict:
        message = await super().api_sendmessage(params)
        expect = self._expect.get(message["chat"]["id"])
        if expect is not None:
            expect.arrived(time.monotonic())
        return message

    def ask(self, user: FakeUser, question: Question) -> asyncio.Future:
        """Push `user`'s message; the future resolves to (pushed, first reply, last reply)."""
        future = asyncio.get_running_loop().create_future()
        self._expect[user.id] = _Expect(question.messages, time.monotonic(), future)
        self.send_text(user, question.text)
        return future

    def failed_calls(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for call in self.calls:
            if not call.ok:
                counts[call.method] = counts.get(call.method, 0) + 1
        return counts


# --------------------------------------------------------------------------- questions


def sample_questions(n_per_lang: int, seed: int = SEED) -> list[Question]:
    """Example phrasings of every language that has examples, each with one typo.

    English comes from content/, the others from locales/<lang>/examples.yaml (through the
    same loader the bot uses); the sample is the same in every run.
    """
    from bot.content import load_catalogue
    from bot.engine import locale_phrases
    from bot.i18n import default_locales
    from bot.matching import Matcher

    rng = random.Random(seed)
    catalogue = load_catalogue()
    phrases = Matcher.from_catalogue(catalogue, locale_phrases(catalogue, default_locales()))
    by_lang: dict[str, list[str]] = {}
    for p in phrases.phrases:
        if p.is_example:
            by_lang.setdefault(p.lang, []).append(p.text)
    out = []
    for lang in sorted(by_lang, key=lambda code: (code != "en", code)):
        texts = sorted(by_lang[lang])
        for text in rng.sample(texts, min(n_per_lang, len(texts))):
            out.append(Question(typo(text, rng), lang))
    return out


def with_reply_counts(questions: Sequence[Question]) -> list[Question]:
    """How many messages our bot answers each question with (long answers are split)."""
    from bot.i18n import resolve_language
    from bot.telegram.app import load_engine
    from bot.telegram.render import render_reply

    engine = load_engine()
    out = []
    for q in questions:
        reply = engine.ask(q.text, resolve_language(None, q.lang))
        out.append(Question(q.text, q.lang, max(1, len(render_reply(reply).chunks))))
    return out


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (as in bench_matcher.py)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --------------------------------------------------------------------------- /proc


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (peak resident) in kB from /proc/<pid>/status."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def environment() -> dict[str, Any]:
    """What the figures were measured on (they only mean something next to each other)."""
    import platform

    import telegram

    return {
        "python": platform.python_version(),
        "python-telegram-bot": telegram.__version__,
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
    }


# --------------------------------------------------------------------------- running


def save_report(name: str, report: dict[str, Any], started: float) -> None:
    """Write benchmarks/results/<name>.json (with the run's duration) and say so."""
    report["seconds"] = time.monotonic() - started
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2))
    print(f"bench_{name}: {report['seconds']:.0f} s")


def run_main(
    doc: str | None,
    main_async: Callable[[argparse.Namespace], Awaitable[int]],
    repeats: int,
    most: int,
) -> int:
    """The command line every benchmark here shares: --repeats N, --no-profile."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=repeats, choices=range(1, most + 1))
    parser.add_argument("--no-profile", action="store_true", help="never profile")
    return asyncio.run(main_async(parser.parse_args()))
