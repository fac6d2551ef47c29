"""Start-up time to the first answer, and resident memory after start-up, versus an echo bot.

Run with `make bench` (never part of `make test`). Prints a table and writes JSON to
benchmarks/results/startup.json. Only ratios carry over between machines; absolute
figures are printed for the record.

Each run starts a fresh fake Bot API server (tests/fake_bot_api.py through
loopback.BenchBotAPI, on 127.0.0.1) with a person's question already waiting, then starts
the bot as an operator does: `python -m bot run` for ours, `python benchmarks/echo_bot.py`
for the baseline (a bare python-telegram-bot echo bot, same builder options, run_polling
as well). Start-up time runs from just before the process is spawned until the answer
reaches the server; it is split into: until the first Bot API request (interpreter,
imports, content, building the application), until the first getUpdates (initialize,
post_init: registering commands), and until the answer. Memory is VmRSS from
/proc/<pid>/status the moment the answer has arrived (VmHWM, the peak, alongside). Then
the bot gets SIGTERM and must stop by itself. The same is measured once more with 100 ms
added to every Bot API call (a distant Telegram), for the record: requests made before
polling starts then show.

One untimed run of each bot comes first (bytecode and file caches), then runs alternate
in ABBA order and medians are reported. Our bot restarts with the data directory of that
first run, where it left its engine snapshot (bot.snapshot: content and index unchanged,
so nothing is parsed or indexed again); "ours, first start" starts with an empty data
directory each time, as after a deploy that changed the content or the code, and is
reported next to it. When a target is missed, the stages of our start-up
are measured one by one (time and VmRSS after each, in a fresh interpreter) and the loading
of the engine is profiled, to show where the time and memory go.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from loopback import (
    RESULTS,
    ROOT,
    TOKEN,
    BenchBotAPI,
    FakeUser,
    Question,
    environment,
    median,
    memory_kb,
    run_main,
    save_report,
)

REPEATS = 5
ANSWER_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
SLOW_API = 0.100  # a distant Telegram, for the extra rows
TARGET_TIME = 2.0
TARGET_MEMORY = 2.0
SECRET = "bench-startup-secret-0123456789abcdef"
FIRST = "ours, first start"
QUESTION = Question("can i regster with a gp withut pasport", "en")
PERSON = FakeUser(700_000_001, "Amina", "en")
COMMANDS = {
    "ours": [sys.executable, "-m", "bot", "run"],
    "echo": [sys.executable, str(Path(__file__).with_name("echo_bot.py"))],
}

# Stages of our start-up, each timed in a fresh interpreter (see profile_stages).
STAGES = """
import json, os, sys, time
from pathlib import Path
def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
marks = [("interpreter", time.perf_counter(), rss())]
import telegram.ext
marks.append(("import telegram.ext", time.perf_counter(), rss()))
import bot.__main__, bot.telegram.app, bot.telegram.run
marks.append(("import bot (CLI, app, run)", time.perf_counter(), rss()))
from bot.telegram.app import load_engine
engine = load_engine()
marks.append(("load_engine() (content, locales, index)", time.perf_counter(), rss()))
from bot.config import Config
from bot.telegram.app import build_application
app = build_application(Config.from_env(), engine)
marks.append(("build_application()", time.perf_counter(), rss()))
engine.ask("can i regster with a gp withut pasport", "en")
marks.append(("first Engine.ask()", time.perf_counter(), rss()))
print(json.dumps(marks))
"""


async def start_once(
    kind: str, latency: float = 0.0, data_dir: Path | None = None
) -> dict[str, Any]:
    """One start of `kind` against a fresh server; times from just before the spawn.

    Without `data_dir` the data directory is new (a first start: ours builds its engine
    and writes the snapshot); with one, a previous start's snapshot is there (a restart).
    """
    async with BenchBotAPI(latency) as api:
        with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
            env = {
                **os.environ,
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_API_BASE_URL": api.base_url,
                "BOT_DATA_DIR": str(data_dir or Path(tmp) / "data"),
                "BOT_SECRET": SECRET,
                "LOG_LEVEL": "INFO",
            }
            env.pop("BOT_RATE_LIMIT", None)  # the default limiter, as deployed
            log_path = Path(tmp) / "bot.log"
            answer = api.ask(PERSON, QUESTION)  # waiting when the bot starts
            with open(log_path, "wb") as log:
                spawned = time.monotonic()
                proc = await asyncio.create_subprocess_exec(
                    *COMMANDS[kind], stdout=log, stderr=log, cwd=ROOT, env=env
                )
            try:
                _pushed, _first, answered = await asyncio.wait_for(answer, ANSWER_TIMEOUT)
                memory = memory_kb(proc.pid)
            except BaseException:
                with contextlib.suppress(OSError):
                    sys.stderr.write(log_path.read_text()[-2000:])
                raise
            finally:
                stopped = time.monotonic()
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
                    except TimeoutError:
                        proc.kill()
                        await proc.wait()
                stop_seconds = time.monotonic() - stopped
    assert api.first_call_at is not None and api.first_poll_at is not None
    return {
        "startup_s": answered - spawned,
        "to_first_request_s": api.first_call_at - spawned,
        "to_first_poll_s": api.first_poll_at - spawned,
        "calls_before_poll": api.calls_before_poll,
        "rss_mb": memory["VmRSS"] / 1024,
        "peak_rss_mb": memory["VmHWM"] / 1024,
        "exit_code": proc.returncode,
        "stop_s": stop_seconds,
    }


def profile_stages(repeats: int = 3) -> list[tuple[str, float, float]]:
    """Our start-up in stages, each in a fresh interpreter: (stage, seconds, VmRSS MB after
    it), medians of `repeats` runs."""
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "BOT_SECRET": SECRET}
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
            env["BOT_DATA_DIR"] = str(Path(tmp) / "data")
            out = subprocess.run(
                [sys.executable, "-c", STAGES],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
        marks = json.loads(out.stdout.strip().splitlines()[-1])
        runs.append(
            [
                (name, at - prev_at, kb / 1024)
                for (name, at, kb), (_n, prev_at, _kb) in zip(marks[1:], marks[:-1], strict=True)
            ]
        )
    return [
        (stage[0], median([r[i][1] for r in runs]), median([r[i][2] for r in runs]))
        for i, stage in enumerate(runs[0])
    ]


ENGINE_PARTS = (  # (file, function) -> label, for the summary of profile_engine
    (("app.py", "load_engine"), "load_engine() in all"),
    (("content.py", "load_catalogue"), "  content/ (load_catalogue)"),
    (("i18n.py", "default_locales"), "  locales/ (default_locales)"),
    (("pofile.py", "read_po"), "    of which gettext catalogues (Babel read_po)"),
    (("__init__.py", "safe_load"), "  (all YAML: yaml.safe_load, pure-Python loader)"),
    (("__init__.py", "compose"), "  (all YAML: yaml.compose, for line numbers)"),
    (("matching.py", "from_catalogue"), "  matcher index (Matcher.from_catalogue)"),
    (("matching.py", "features"), "    of which features() per phrase"),
    (("emergency.py", "__init__"), "  emergency phrases (EmergencyDetector)"),
)


def profile_engine(listing: Path) -> list[tuple[str, float]]:
    """cProfile of load_engine() in a fresh interpreter: cumulative seconds of its parts."""
    code = (
        "import cProfile, io, json, pstats\n"
        "from bot.telegram.app import load_engine\n"
        "p = cProfile.Profile(); p.enable(); load_engine(); p.disable()\n"
        "s = io.StringIO(); st = pstats.Stats(p, stream=s)\n"
        "st.sort_stats('cumulative').print_stats(40); st.sort_stats('tottime').print_stats(20)\n"
        "print(s.getvalue())\n"
        "rows = [(k[0].rsplit('/', 1)[-1], k[2], v[3]) for k, v in st.stats.items()]\n"
        "print('JSON' + json.dumps(rows))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    text, _, rows = out.stdout.rpartition("JSON")
    listing.write_text(text)
    cumulative: dict[tuple[str, str], float] = {}
    for filename, function, seconds in json.loads(rows):
        key = (filename, function)
        cumulative[key] = max(cumulative.get(key, 0.0), seconds)
    return [(label, cumulative[key]) for key, label in ENGINE_PARTS if key in cumulative]


async def start_all(args: argparse.Namespace, kept: Path) -> dict[str, list[dict[str, Any]]]:
    """Every timed start, ABBA order. `ours` restarts with the data directory `kept` (its
    engine snapshot written by the untimed first start); `ours, first start` begins each
    time with an empty one, as after a deploy that changed content or code."""
    await start_once("echo")  # untimed: bytecode caches and the page cache
    await start_once("ours", data_dir=kept)  # untimed: the same, and writes the snapshot
    runs: dict[str, list[dict[str, Any]]] = {}
    order = (["ours", "echo", "echo", "ours"] * args.repeats)[: 2 * args.repeats]
    for kind in order:
        runs.setdefault(kind, []).append(
            await start_once(kind, data_dir=kept if kind == "ours" else None)
        )
    for _ in range(min(3, args.repeats)):
        runs.setdefault(FIRST, []).append(await start_once("ours"))
    # The same with a distant Telegram: what requests before polling would cost.
    slow_order = ["ours", "echo", "echo", "ours", "ours", "echo"]
    for kind in slow_order[: 2 * min(3, args.repeats)]:
        runs.setdefault(f"{kind}, {SLOW_API * 1000:.0f} ms API", []).append(
            await start_once(kind, SLOW_API, data_dir=kept if kind == "ours" else None)
        )
    return runs


async def main_async(args: argparse.Namespace) -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-startup-kept-") as kept:
        runs = await start_all(args, Path(kept) / "data")

    keys = ("startup_s", "to_first_request_s", "to_first_poll_s", "rss_mb", "peak_rss_mb")
    keys += ("calls_before_poll",)
    medians = {kind: {k: median([r[k] for r in rs]) for k in keys} for kind, rs in runs.items()}
    print("Start-up to the first answer and memory after it (medians; seconds from the spawn)")
    print(
        f"{'':19} {'runs':>4} {'1st answer':>10} {'(min..max)':>11} {'1st request':>11} "
        f"{'1st poll':>8} {'calls before':>12} {'VmRSS MB':>8} {'VmHWM MB':>8}"
    )
    for kind, m in medians.items():
        spread = [r["startup_s"] for r in runs[kind]]
        print(
            f"{kind:19} {len(runs[kind]):4d} {m['startup_s']:10.3f} "
            f"{min(spread):5.2f}..{max(spread):<4.2f} {m['to_first_request_s']:11.3f} "
            f"{m['to_first_poll_s']:8.3f} {m['calls_before_poll']:12.0f} "
            f"{m['rss_mb']:8.1f} {m['peak_rss_mb']:8.1f}"
        )
    print("calls before = Bot API requests made before the first getUpdates.")
    print()
    exits = sorted({r["exit_code"] for rs in runs.values() for r in rs})
    time_ratio = medians["ours"]["startup_s"] / medians["echo"]["startup_s"]
    memory_ratio = medians["ours"]["rss_mb"] / medians["echo"]["rss_mb"]
    slow = f", {SLOW_API * 1000:.0f} ms API"
    slow_ratio = medians["ours" + slow]["startup_s"] / medians["echo" + slow]["startup_s"]
    first_ratio = medians[FIRST]["startup_s"] / medians["echo"]["startup_s"]
    targets = [
        ("start-up to first answer, ours / echo", time_ratio, TARGET_TIME),
        ("  the same, ours' first start (info)", first_ratio, TARGET_TIME),
        ("VmRSS after start-up, ours / echo", memory_ratio, TARGET_MEMORY),
        (f"start-up, ours / echo{slow} (info)", slow_ratio, TARGET_TIME),
    ]
    print(f"{'ratio':42} {'measured':>9}  {'target':8} verdict")
    for name, value, target in targets:
        verdict = "(info)" if "(info)" in name else "met" if value <= target else "MISSED"
        print(f"{name:42} {value:9.2f}  <= {target:<5} {verdict}")
    print(f"exit codes after SIGTERM (every run): {exits}")
    print()

    stages: list[tuple[str, float, float]] = []
    engine_profile: list[tuple[str, float]] = []
    missed = time_ratio > TARGET_TIME or memory_ratio > TARGET_MEMORY
    if missed and not args.no_profile:
        listing = RESULTS / "startup_profile.txt"
        RESULTS.mkdir(exist_ok=True)
        stages = profile_stages()
        print("A target is missed: our start-up in stages (fresh interpreter, no server)")
        print(f"{'stage':44} {'seconds':>8} {'VmRSS MB after':>15}")
        for name, seconds, rss in stages:
            print(f"{name:44} {seconds:8.3f} {rss:15.1f}")
        print()
        engine_profile = profile_engine(listing)
        print(f"load_engine() profiled (cumulative seconds under cProfile; {listing}):")
        for name, seconds in engine_profile:
            print(f"  {name:52} {seconds:7.3f}")
        print()

    report = {
        "environment": environment(),
        "runs": runs,
        "medians": medians,
        "targets": [
            {"name": n, "measured": v, "target": f"<= {t}", "met": v <= t} for n, v, t in targets
        ],
        "stages": stages,
        "engine_profile": engine_profile,
    }
    save_report("startup", report, started)
    return 0


def main() -> int:
    return run_main(__doc__, main_async, REPEATS, 9)


if __name__ == "__main__":
    sys.exit(main())
