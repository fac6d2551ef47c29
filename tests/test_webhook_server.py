"""The webhook server under attack, on real loopback sockets (bot.telegram.webhook).

Slow clients, idle connections by the thousand, wrong secrets by the hundred, deep JSON:
each test checks that the attacker is dropped or refused, that Telegram's own delivery
(the fake Bot API posting with the secret) is still answered, and that the log stays
short. Every client is bounded in count and waits on conditions, with an overall limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import resource
import signal
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from conftest import (
    ALICE,
    HOOK_SECRET,
    Lines,
    free_port,
    start_operator,
    webhook_bot,
    webhook_operator_env,
)
from fake_bot_api import FakeBotAPI

from bot.engine import Engine
from bot.telegram.webhook import ACCEPT_FAILED, Limits, json_depth_exceeds

QUICK = Limits(header_timeout=1.0, body_timeout=1.0)
JSON = {"Content-Type": "application/json"}
WITH_SECRET = {**JSON, "X-Telegram-Bot-Api-Secret-Token": HOOK_SECRET}


def webhook_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.telegram.webhook"]


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


async def answered(run) -> None:
    """Telegram's delivery still works: an update posted with the secret is answered."""
    before = len(run.api.sent(ALICE.id))
    run.api.send_text(ALICE, "/start")
    await run.api.wait_for(lambda: len(run.api.sent(ALICE.id)) > before, timeout=20)


async def closed_by_server(reader: asyncio.StreamReader, limit: float = 10.0) -> bytes:
    """Read until the server closes the connection (or `limit` passes: a failure)."""
    chunks = []
    async with asyncio.timeout(limit):
        while chunk := await reader.read(4096):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_slow_headers_and_slow_bodies_are_dropped_and_service_goes_on(
    engine: Engine, tmp_path: Path
) -> None:
    async with webhook_bot(engine, tmp_path, limits=QUICK) as run:
        host, port = address(run.url)
        head = f"POST /telegram HTTP/1.1\r\nHost: {host}\r\nX-Padding: ".encode()

        async def trickle(first: bytes, count: int) -> tuple[bytes, int]:
            """Send `first`, then one byte every 0.1 s (`count` of them) until the server
            closes; returns what the server sent and how many bytes got through."""
            reader, writer = await asyncio.open_connection(host, port)
            got = bytearray()

            async def read_all() -> None:
                with contextlib.suppress(ConnectionError):
                    while chunk := await reader.read(4096):
                        got.extend(chunk)

            reading = asyncio.create_task(read_all())
            sent = 0
            try:
                writer.write(first)
                for _ in range(count):
                    await asyncio.sleep(0.1)
                    if reading.done():
                        break
                    try:
                        writer.write(b"a")
                        await writer.drain()
                    except ConnectionError:
                        break
                    sent += 1
                async with asyncio.timeout(10):
                    await reading
            finally:
                reading.cancel()
                writer.close()
            return bytes(got), sent

        # finishing the head would take a minute
        slow_headers = trickle(head, 600)
        # the secret and a whole head, then a body of 1,000 bytes at 10 bytes a second
        slow_body = trickle(
            b"POST /telegram HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"X-Telegram-Bot-Api-Secret-Token: {HOOK_SECRET}\r\n".encode()
            + b"Content-Length: 1000\r\n\r\n",
            1000,
        )
        headers_task = asyncio.create_task(slow_headers)
        body_task = asyncio.create_task(slow_body)
        await answered(run)  # while both are trickling
        (_, header_bytes), (response, body_bytes) = await asyncio.gather(headers_task, body_task)
        assert header_bytes < 600  # dropped long before the head was complete
        assert body_bytes < 1000
        assert response.startswith(b"HTTP/1.1 408")  # the body was too slow
        await answered(run)
        assert run.errors == []


async def test_the_secret_is_checked_before_the_body_is_read(
    engine: Engine, tmp_path: Path
) -> None:
    """A wrong secret announcing 100 KB gets 403 at once, without sending a byte of body."""
    async with webhook_bot(engine, tmp_path, limits=QUICK) as run:
        host, port = address(run.url)
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(
                b"POST /telegram HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"X-Telegram-Bot-Api-Secret-Token: wrong\r\nContent-Length: 100000\r\n\r\n"
            )
            await writer.drain()
            response = await closed_by_server(reader)
        finally:
            writer.close()
        assert response.startswith(b"HTTP/1.1 403")
        await answered(run)


async def test_a_thousand_idle_connections_neither_stop_service_nor_flood_the_log(
    engine: Engine, tmp_path: Path, caplog
) -> None:
    """More idle connections than the cap (and than a common 1,024-descriptor limit leaves
    room for): the oldest idle ones are closed to make room, so Telegram still gets in."""
    caplog.set_level(logging.DEBUG)
    limits = Limits(header_timeout=60.0, body_timeout=1.0, max_connections=200)
    async with webhook_bot(engine, tmp_path, limits=limits) as run:
        host, port = address(run.url)
        idle: list[socket.socket] = []
        try:
            for _ in range(1000):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                sock.connect_ex((host, port))
                idle.append(sock)
                if len(idle) % 100 == 0:
                    await asyncio.sleep(0.05)  # let the server accept
            await run.api.wait_for(
                lambda: run.server.evicted >= 500, timeout=30
            )  # the server has seen (most of) them
            assert run.server.open_connections <= limits.max_connections
            await answered(run)
            await answered(run)
        finally:
            for sock in idle:
                sock.close()
        lines = webhook_lines(caplog)
        assert len(lines) <= 2, lines  # one throttled line, not one per connection
        assert run.errors == []


async def test_repeated_wrong_secrets_log_one_line(engine: Engine, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    body = json.dumps({"update_id": 1, "message": {"message_id": 1}}).encode()
    async with webhook_bot(engine, tmp_path, limits=QUICK) as run:
        async with aiohttp.ClientSession() as session:
            for i in range(500):
                headers = {**JSON, "X-Telegram-Bot-Api-Secret-Token": f"guess-{i}"}
                async with session.post(run.url, data=body, headers=headers) as response:
                    assert response.status == 403
            async with session.get(run.url) as response:  # a browser, a scanner
                assert response.status == 405
        await answered(run)
    lines = webhook_lines(caplog)
    assert len([m for m in lines if "403" in m]) == 1, lines
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 200_000 + b"]" * 200_000, id="200k deep list"),
        pytest.param(b'{"a":' * 50_000 + b"1" + b"}" * 50_000, id="50k deep object"),
        pytest.param(
            json.dumps({"update_id": 7, "message": json.loads("[" * 100 + "]" * 100)}).encode(),
            id="an update 100 deep",
        ),
    ],
)
async def test_deep_json_gets_400_never_500(
    engine: Engine, tmp_path: Path, caplog, body: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    async with webhook_bot(engine, tmp_path, limits=QUICK) as run:
        async with (
            aiohttp.ClientSession() as session,
            session.post(run.url, data=body, headers=WITH_SECRET) as response,
        ):
            assert response.status == 400
        await answered(run)
        assert run.errors == []
    assert "JSON nested too deep" in caplog.text
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text


async def test_accept_failures_log_one_line(engine: Engine, tmp_path: Path, caplog) -> None:
    """asyncio reports "too many open files" on accept through the loop's exception
    handler (and pauses accepting for a second); the server's handler writes one line."""
    caplog.set_level(logging.DEBUG)
    async with webhook_bot(engine, tmp_path, limits=QUICK) as run:
        loop = asyncio.get_running_loop()
        for _ in range(1000):
            loop.call_exception_handler(
                {"message": ACCEPT_FAILED, "exception": OSError(24, "Too many open files")}
            )
        await answered(run)
    lines = [m for m in webhook_lines(caplog) if "cannot accept" in m]
    assert len(lines) == 1, lines
    assert "OSError" in lines[0]


def test_json_depth() -> None:
    assert not json_depth_exceeds({"a": [1, {"b": 2}]}, 3)
    assert json_depth_exceeds({"a": [1, {"b": [2]}]}, 3)
    assert not json_depth_exceeds("text", 0)


FEW_DESCRIPTORS = 64


def few_descriptors() -> None:
    """In the child before exec: a descriptor limit the test can exhaust quickly."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (FEW_DESCRIPTORS, FEW_DESCRIPTORS))


async def test_running_out_of_descriptors_logs_a_line_not_a_flood(tmp_path: Path) -> None:
    """`python -m bot run --webhook` with 64 file descriptors, and more connections than
    that: accepting fails with EMFILE for as long as they stay open. asyncio backs off a
    second each time and the server logs one line; once they go, Telegram gets in."""
    async with FakeBotAPI() as api:
        port = free_port()
        env = webhook_operator_env(tmp_path, api, port, WEBHOOK_LISTEN="127.0.0.1")
        proc = await start_operator(
            env, "--webhook", stdout=asyncio.subprocess.DEVNULL, preexec_fn=few_descriptors
        )
        stderr = Lines(proc.stderr)
        idle: list[socket.socket] = []
        try:
            await api.wait_for(lambda: api.webhook is not None, timeout=60)
            for _ in range(FEW_DESCRIPTORS * 2):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", port))
                idle.append(sock)
            await stderr.wait_for("cannot accept connections", timeout=30)
            await asyncio.sleep(2)  # asyncio retries every second: a flood would show
            for sock in idle:
                sock.close()
            idle.clear()
            api.send_text(ALICE, "/start")
            await api.wait_for(lambda: api.sent(ALICE.id), timeout=30)
        finally:
            for sock in idle:
                sock.close()
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 60)
        logs = await stderr.close()
    assert proc.returncode == 0, logs[-2000:]
    assert logs.count("cannot accept connections") == 1, logs[-2000:]
    assert len(logs) < 20_000
    assert "Traceback" not in logs
