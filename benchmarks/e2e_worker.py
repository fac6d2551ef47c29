"""One bot for bench_e2e.py, in a process of its own, driven by hand like the e2e tests.

`python benchmarks/e2e_worker.py ours|echo|echo-default --base-url URL [--rate-limit R]`
with TELEGRAM_BOT_TOKEN in the environment. The lifecycle is that of
tests/test_telegram_e2e.py (initialize, post_init, updater.start_polling, start) until
SIGTERM, then the reverse. `ours` is `build_application` with production logging sent to
/dev/null; `echo` and `echo-default` are benchmarks/echo_bot.py, which imports nothing
from `bot`. The worker stops by itself after --lifetime seconds whatever happens.

With --profile PATH, SIGUSR1 starts cProfile and SIGUSR2 stops it and writes the stats.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import signal
import sys

SECRET = "bench-e2e-secret-0123456789abcdef"


def build_bot(kind: str, token: str, base_url: str, rate: float, data_dir: str):
    """(application, allowed_updates) for `ours`, `echo` or `echo-default`."""
    if kind == "ours":
        from bot.config import Config
        from bot.telegram.app import ALLOWED_UPDATES, build_application
        from bot.telegram.logs import setup_logging

        setup_logging("INFO", stream=open(os.devnull, "w"))  # noqa: SIM115 (as production)
        config = Config.from_env(
            {
                "TELEGRAM_BOT_TOKEN": token,
                "TELEGRAM_API_BASE_URL": base_url,
                "BOT_DATA_DIR": data_dir,
                "BOT_SECRET": SECRET,
                "BOT_RATE_LIMIT": str(rate),
            }
        )
        return build_application(config), ALLOWED_UPDATES
    from echo_bot import ALLOWED_UPDATES, build_echo

    application = build_echo(token, base_url, rate_limit=rate, defaults=kind == "echo-default")
    return application, ALLOWED_UPDATES


async def serve(args: argparse.Namespace) -> int:
    token = os.environ["TELEGRAM_BOT_TOKEN"]
    application, allowed = build_bot(
        args.kind, token, args.base_url, args.rate_limit, args.data_dir
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()

        def dump() -> None:
            profiler.disable()
            profiler.dump_stats(args.profile)

        loop.add_signal_handler(signal.SIGUSR1, profiler.enable)
        loop.add_signal_handler(signal.SIGUSR2, dump)
    await application.initialize()
    if application.post_init:
        await application.post_init(application)
    await application.updater.start_polling(
        poll_interval=0, timeout=dt.timedelta(seconds=10), allowed_updates=allowed
    )
    await application.start()
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.lifetime)
    finally:
        await application.updater.stop()
        await application.stop()
        if application.post_shutdown:
            await application.post_shutdown(application)
        await application.shutdown()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("ours", "echo", "echo-default"))
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--rate-limit", type=float, default=0.0)
    parser.add_argument("--data-dir", default="./data")
    parser.add_argument("--lifetime", type=float, default=600.0)
    parser.add_argument("--profile")
    return asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
