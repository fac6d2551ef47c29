"""Storage on real SQLite files: what is stored, under which key, and how it goes away."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import SECRET_FILE, Config, load_or_create_secret
from bot.storage import (
    DB_FILE,
    GuardedStorage,
    MemoryStorage,
    SQLiteStorage,
    Storage,
    user_key,
)

SECRET = b"test-secret-0123456789abcdef"
USER = 987654321
OTHER = 555000111


class Clock:
    def __init__(self, today: dt.date) -> None:
        self.today = today

    def __call__(self) -> dt.date:
        return self.today


def db_bytes(directory: Path) -> bytes:
    """Everything SQLite keeps on disk: the database, its WAL and shared-memory files."""
    return b"".join(p.read_bytes() for p in sorted(directory.glob(DB_FILE + "*")))


@pytest.fixture
async def store(tmp_path: Path):
    storage = SQLiteStorage.in_dir(tmp_path, SECRET)
    yield storage
    await storage.close()


def test_backends_satisfy_the_protocol(tmp_path: Path) -> None:
    assert isinstance(SQLiteStorage.in_dir(tmp_path, SECRET), Storage)
    assert isinstance(MemoryStorage(), Storage)
    assert isinstance(GuardedStorage(MemoryStorage()), Storage)


async def test_language_round_trip_and_reopen(tmp_path: Path, store: SQLiteStorage) -> None:
    assert await store.get_language(USER) is None
    await store.set_language(USER, "en")
    assert await store.get_language(USER) == "en"
    assert await store.get_language(OTHER) is None
    await store.close()
    reopened = SQLiteStorage.in_dir(tmp_path, SECRET)
    try:
        assert await reopened.get_language(USER) == "en"
    finally:
        await reopened.close()


async def test_rows_are_keyed_by_hmac_and_hold_nothing_else(
    tmp_path: Path, store: SQLiteStorage
) -> None:
    await store.set_language(USER, "en")
    await store.close()
    raw = db_bytes(tmp_path)
    key = user_key(SECRET, USER)
    assert key.encode() in raw
    assert str(USER).encode() not in raw
    assert USER.to_bytes(8, "big") not in raw and USER.to_bytes(8, "little") not in raw
    with sqlite3.connect(tmp_path / DB_FILE) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(people)")]
        rows = conn.execute("SELECT * FROM people").fetchall()
    assert columns == ["key", "language", "last_active"]
    assert rows == [(key, "en", dt.datetime.now(dt.UTC).date().isoformat())]
    # the key depends on the secret: without it the id cannot be recomputed
    assert user_key(b"another-secret-0123456789", USER) != key
    assert len(key) == 64 and int(key, 16) >= 0


async def test_files_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    storage = SQLiteStorage.in_dir(data, SECRET)
    await storage.set_language(USER, "en")
    await storage.close()
    assert stat.S_IMODE(os.stat(data / DB_FILE).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700


async def test_touch_never_creates_rows(store: SQLiteStorage) -> None:
    await store.touch(USER)
    assert await store.count() == 0
    assert await store.get_language(USER) is None


async def test_touch_updates_last_active(tmp_path: Path) -> None:
    clock = Clock(dt.date(2026, 1, 1))
    storage = SQLiteStorage.in_dir(tmp_path, SECRET, today=clock)
    try:
        await storage.set_language(USER, "en")
        clock.today = dt.date(2026, 6, 1)
        await storage.touch(USER)
        clock.today = dt.date(2026, 6, 1) + dt.timedelta(days=180)
        assert await storage.purge_idle(180) == 0  # active 180 days ago: not more than 180
        assert await storage.get_language(USER) == "en"
    finally:
        await storage.close()


async def test_purge_removes_rows_idle_more_than_180_days(tmp_path: Path) -> None:
    today = dt.date(2026, 11, 23)
    clock = Clock(today)
    storage = SQLiteStorage.in_dir(tmp_path, SECRET, today=clock)
    ages = {1001: 400, 1002: 181, 1003: 180, 1004: 10, 1005: 0}
    try:
        for user, age in ages.items():
            clock.today = today - dt.timedelta(days=age)
            await storage.set_language(user, "en")
        clock.today = today
        assert await storage.purge_idle() == 2
        remaining = {u for u in ages if await storage.get_language(u) == "en"}
        assert remaining == {1003, 1004, 1005}
        assert await storage.purge_idle() == 0
    finally:
        await storage.close()
    raw = db_bytes(tmp_path)
    assert user_key(SECRET, 1001).encode() not in raw  # gone from the files, not just hidden
    assert user_key(SECRET, 1004).encode() in raw


async def test_forget_deletes_the_row_from_disk(tmp_path: Path, store: SQLiteStorage) -> None:
    await store.set_language(USER, "en")
    await store.set_language(OTHER, "en")
    assert await store.forget(USER) is True
    assert await store.forget(USER) is False  # nothing left to delete
    assert await store.get_language(USER) is None
    assert await store.get_language(OTHER) == "en"
    await store.close()
    raw = db_bytes(tmp_path)
    assert user_key(SECRET, USER).encode() not in raw
    assert user_key(SECRET, OTHER).encode() in raw


async def test_blocked_user_stays_forgotten_after_restart(tmp_path: Path) -> None:
    """What the bot does on a 403 or a `kicked` my_chat_member: forget, durably."""
    first = SQLiteStorage.in_dir(tmp_path, SECRET)
    await first.set_language(USER, "en")
    assert await GuardedStorage(first).forget(USER) is True
    await first.close()
    second = SQLiteStorage.in_dir(tmp_path, SECRET)
    try:
        assert await second.get_language(USER) is None
        assert await second.count() == 0
    finally:
        await second.close()


async def test_concurrent_calls_are_serialised(store: SQLiteStorage) -> None:
    users = range(1, 201)
    await asyncio.gather(*(store.set_language(u, "en") for u in users))
    results = await asyncio.gather(*(store.get_language(u) for u in users))
    assert results == ["en"] * 200
    assert await store.count() == 200


# --------------------------------------------------------------------------- failures


async def test_corrupt_file_never_stops_answers(tmp_path: Path, caplog) -> None:
    (tmp_path / DB_FILE).write_bytes(b"this is not a database, " * 100)
    guarded = GuardedStorage(SQLiteStorage.in_dir(tmp_path, SECRET))
    with caplog.at_level(logging.INFO, logger="bot.storage"):
        assert await guarded.get_language(USER) is None
        await guarded.set_language(USER, "en")
        await guarded.touch(USER)
        assert await guarded.forget(USER) is None  # unknown: the handler says so
        assert await guarded.purge_idle() == 0
        await guarded.close()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1  # logged once, not once per message
    assert "DatabaseError" in errors[0].getMessage()
    assert str(USER) not in caplog.text


async def test_locked_database_falls_back_then_recovers(tmp_path: Path, caplog) -> None:
    inner = SQLiteStorage.in_dir(tmp_path, SECRET, busy_timeout_ms=50)
    guarded = GuardedStorage(inner)
    await guarded.set_language(USER, "en")
    blocker = sqlite3.connect(tmp_path / DB_FILE, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        with caplog.at_level(logging.INFO, logger="bot.storage"):
            await guarded.set_language(OTHER, "en")  # locked: logged, not raised
            await guarded.set_language(OTHER, "en")
        blocker.execute("ROLLBACK")
        with caplog.at_level(logging.INFO, logger="bot.storage"):
            await guarded.set_language(OTHER, "en")
        assert await guarded.get_language(OTHER) == "en"
    finally:
        blocker.close()
        await guarded.close()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("failed" in m for m in messages) == 1
    assert any("locked" in m for m in messages)
    assert any("works again" in m for m in messages)
    assert str(OTHER) not in caplog.text


async def test_unwritable_data_dir_never_stops_answers(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    guarded = GuardedStorage(SQLiteStorage.in_dir(not_a_dir / "data", SECRET))
    assert await guarded.get_language(USER) is None
    await guarded.set_language(USER, "en")
    await guarded.close()


# --------------------------------------------------------------------------- the secret


def test_secret_is_generated_once_with_0600_in_a_0700_directory(tmp_path: Path, caplog) -> None:
    key_file = tmp_path / "config" / "nested" / SECRET_FILE
    with caplog.at_level(logging.INFO, logger="bot.config"):
        first = load_or_create_secret(key_file)
        second = load_or_create_secret(key_file)
    assert first == second and len(first) == 64
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    for directory in (key_file.parent, key_file.parent.parent):  # every level it created
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    generated = [r for r in caplog.records if "generated" in r.getMessage()]
    assert len(generated) == 1
    assert list(key_file.parent.iterdir()) == [key_file]  # no temporary file left


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "TELEGRAM_BOT_TOKEN": "123:" + "a" * 35,
        "BOT_DATA_DIR": str(tmp_path / "data"),
        "BOT_KEY_FILE": str(tmp_path / "keys" / SECRET_FILE),
        **extra,
    }


def test_bot_secret_from_environment_wins(tmp_path: Path) -> None:
    config = Config.from_env(env_for(tmp_path, BOT_SECRET="s" * 32))
    assert config.hmac_key() == b"s" * 32
    assert not (tmp_path / "keys").exists()
    generated = Config.from_env(env_for(tmp_path))
    key = tmp_path / "keys" / SECRET_FILE
    assert generated.hmac_key() == key.read_text().strip().encode()


def test_the_key_is_resolved_once(tmp_path: Path) -> None:
    """A key file replaced or removed while running changes nothing until a restart."""
    config = Config.from_env(env_for(tmp_path))
    first = config.hmac_key()
    key = tmp_path / "keys" / SECRET_FILE
    key.write_text("another-key-0123456789abcdef\n")
    assert config.hmac_key() == first
    key.unlink()
    assert config.hmac_key() == first


def test_a_key_file_inside_the_data_dir_is_refused(tmp_path: Path) -> None:
    from bot.config import ConfigError

    inside = str(tmp_path / "data" / SECRET_FILE)
    with pytest.raises(ConfigError, match="BOT_KEY_FILE must not be inside BOT_DATA_DIR"):
        Config.from_env(env_for(tmp_path, BOT_KEY_FILE=inside))


def test_the_default_key_file_is_outside_the_data_dir(tmp_path: Path) -> None:
    env = env_for(tmp_path, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    del env["BOT_KEY_FILE"]
    config = Config.from_env(env)
    assert config.key_file == tmp_path / "xdg" / "nhs-rights-bot" / SECRET_FILE


def test_a_full_disk_never_leaves_an_empty_key_file(tmp_path: Path) -> None:
    """The disk fills up while the key is written (RLIMIT_FSIZE in a child process: each
    write past 16 bytes fails with EFBIG): no key file, no temporary file, a key for that
    process only, and the next start (disk freed) writes a whole key."""
    key_file = tmp_path / "keys" / SECRET_FILE
    script = (
        "import resource, signal, sys; from pathlib import Path;"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (16, 16));"
        "from bot.config import load_or_create_secret;"
        "print(len(load_or_create_secret(Path(sys.argv[1]))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(key_file)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "64"  # a key all the same, for that process
    assert "for this process only" in done.stderr
    assert not key_file.exists()
    assert list(key_file.parent.iterdir()) == []
    assert len(load_or_create_secret(key_file)) == 64
    assert len(key_file.read_text().strip()) == 64


def test_an_empty_key_file_from_an_older_version_is_replaced(tmp_path: Path) -> None:
    key_file = tmp_path / SECRET_FILE
    key_file.write_text("")
    assert len(load_or_create_secret(key_file)) == 64
    assert key_file.read_text().strip()


def test_the_data_dir_is_0700_whoever_creates_it(tmp_path: Path) -> None:
    """The database creates missing levels 0700 and tightens an existing data directory."""

    async def go(data: Path) -> None:
        store = SQLiteStorage.in_dir(data, SECRET)
        await store.set_language(USER, "en")
        await store.close()

    fresh = tmp_path / "a" / "b" / "data"
    asyncio.run(go(fresh))
    for directory in (fresh, fresh.parent, fresh.parent.parent):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    asyncio.run(go(loose))
    assert stat.S_IMODE(os.stat(loose).st_mode) == 0o700


# --------------------------------------------------------------------------- honest failures


async def test_a_failed_deletion_is_retried_when_storage_works_again(tmp_path: Path) -> None:
    """/forget or a block while the database is locked: reported as unknown (None), kept,
    and deleted by the next write that works; a purge retries it as well."""
    inner = SQLiteStorage.in_dir(tmp_path, SECRET, busy_timeout_ms=50)
    guarded = GuardedStorage(inner)
    await guarded.set_language(USER, "en")
    await guarded.set_language(OTHER, "en")
    blocker = sqlite3.connect(tmp_path / DB_FILE, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        assert await guarded.forget(USER) is None
        assert await guarded.set_language(OTHER, "fr") is False  # not saved, and says so
        assert guarded.pending_forgets == 1
        blocker.execute("ROLLBACK")
        assert await guarded.set_language(OTHER, "fr") is True  # a write works again...
        assert guarded.pending_forgets == 0
        assert await inner.get_language(USER) is None  # ...and the deletion is done
        assert await inner.get_language(OTHER) == "fr"
        # the same through a purge
        await guarded.set_language(USER, "en")
        blocker.execute("BEGIN EXCLUSIVE")
        assert await guarded.forget(USER) is None
        blocker.execute("ROLLBACK")
        assert await guarded.purge_idle() == 0
        assert guarded.pending_forgets == 0 and await inner.get_language(USER) is None
    finally:
        blocker.close()
        await guarded.close()


async def test_choosing_again_after_a_failed_forget_keeps_the_new_choice(tmp_path: Path) -> None:
    inner = MemoryStorage(SECRET)
    guarded = GuardedStorage(inner)
    await guarded.set_language(USER, "en")

    async def broken(user_id: int) -> bool:
        raise sqlite3.OperationalError("disk I/O error")

    inner.forget = broken  # type: ignore[method-assign]
    assert await guarded.forget(USER) is None
    del inner.forget
    assert await guarded.set_language(USER, "fr") is True
    assert guarded.pending_forgets == 0
    assert await guarded.get_language(USER) == "fr"


def test_an_unusable_key_file_gives_one_key_per_process_not_one_per_call(tmp_path: Path) -> None:
    """The key file cannot be written (its directory is a file): the same process-only key
    on every call, so rows written now can still be found (and forgotten) until a restart."""
    (tmp_path / "keys").write_text("a file where the key's directory should be")
    config = Config.from_env(env_for(tmp_path))
    first = config.hmac_key()
    assert len(first) == 64 and config.hmac_key() == first
