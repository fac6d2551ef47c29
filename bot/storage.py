"""What the bot remembers about a person: their chosen language and the date they were last
active. Nothing else, ever: no message text, names, usernames or Telegram ids.

A person is known only by `user_key(secret, user_id)`, an HMAC-SHA256 of their Telegram id
under BOT_SECRET, so the database alone cannot be linked back to anyone. A row exists only
once a person chooses a language; it is deleted by /forget, when they block the bot, and
automatically after `IDLE_DAYS` without activity.

Handlers use the `Storage` protocol, so another backend (Redis for several webhook
replicas) can be added without touching them; `GuardedStorage` wraps any backend so that a
storage failure is logged once and the bot keeps answering in the default language.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import logging
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

from bot.private_dir import make_private_dir

log = logging.getLogger("bot.storage")

IDLE_DAYS = 180
DB_FILE = "bot.sqlite3"
T = TypeVar("T")


def user_key(secret: bytes, user_id: int) -> str:
    """The only identifier ever stored: HMAC-SHA256(secret, str(user_id)) as hex."""
    return hmac.new(secret, str(int(user_id)).encode("ascii"), hashlib.sha256).hexdigest()


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@runtime_checkable
class Storage(Protocol):
    """Per-person settings. Implementations hash ids themselves and store nothing else."""

    async def get_language(self, user_id: int) -> str | None:
        """The language the person chose, or None."""
        ...

    async def set_language(self, user_id: int, lang: str) -> None:
        """Remember the person's language choice (and mark them active today)."""
        ...

    async def touch(self, user_id: int) -> None:
        """Mark an existing row active today; never creates a row."""
        ...

    async def forget(self, user_id: int) -> bool:
        """Delete everything stored about the person; True if there was something."""
        ...

    async def purge_idle(self, days: int = IDLE_DAYS) -> int:
        """Delete rows idle for more than `days` days; returns how many."""
        ...

    async def close(self) -> None: ...


class SQLiteStorage:
    """SQLite (standard library) in WAL mode; every call runs on one worker thread.

    The connection opens lazily on first use, so a broken file never stops the bot from
    starting. `secure_delete` and a WAL checkpoint after deletions make forgotten rows
    disappear from the files on disk, not just from query results.
    """

    def __init__(
        self,
        path: Path,
        secret: bytes,
        *,
        today: Callable[[], dt.date] = utc_today,
        busy_timeout_ms: int = 2000,
    ) -> None:
        if not secret:
            raise ValueError("the HMAC secret must not be empty")
        self.path = Path(path)
        self._secret = secret
        self._today = today
        self._busy_timeout_ms = busy_timeout_ms
        self._conn: sqlite3.Connection | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._closed = False

    @classmethod
    def in_dir(cls, data_dir: Path, secret: bytes, **kwargs) -> SQLiteStorage:
        return cls(Path(data_dir) / DB_FILE, secret, **kwargs)

    # ------------------------------------------------------------------ plumbing

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise RuntimeError("storage is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._open()
            try:
                return fn(self._conn)
            except sqlite3.Error as exc:
                # Start afresh: a connection that saw a corrupt or replaced file keeps
                # seeing it, and one opened while the file was read-only stays read-only
                # even once the file is writable again, so that case is retried at once.
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None
                if attempt == 1 and _is_read_only(exc):
                    continue
                raise
        raise AssertionError("unreachable")

    def _open(self) -> sqlite3.Connection:
        make_private_dir(self.path.parent)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        conn = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout_ms / 1000,
            isolation_level=None,  # autocommit: every statement is its own transaction
            check_same_thread=False,  # only ever used from the single worker thread
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS people ("
                " key TEXT PRIMARY KEY,"
                " language TEXT NOT NULL,"
                " last_active TEXT NOT NULL"
                ") WITHOUT ROWID"
            )
            conn.execute("CREATE INDEX IF NOT EXISTS people_last_active ON people(last_active)")
        except BaseException:
            conn.close()
            raise
        return conn

    def _key(self, user_id: int) -> str:
        return user_key(self._secret, user_id)

    def _date(self) -> str:
        return self._today().isoformat()

    @staticmethod
    def _scrub(conn: sqlite3.Connection) -> None:
        """After a deletion, fold the WAL back so deleted rows leave no copy in it."""
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # ------------------------------------------------------------------ Storage

    async def get_language(self, user_id: int) -> str | None:
        key = self._key(user_id)

        def op(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT language FROM people WHERE key = ?", (key,)).fetchone()
            return row[0] if row else None

        return await self._run(op)

    async def set_language(self, user_id: int, lang: str) -> None:
        key, today = self._key(user_id), self._date()

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO people (key, language, last_active) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET language = excluded.language, "
                "last_active = excluded.last_active",
                (key, lang, today),
            )

        await self._run(op)

    async def touch(self, user_id: int) -> None:
        key, today = self._key(user_id), self._date()

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE people SET last_active = ? WHERE key = ? AND last_active <> ?",
                (today, key, today),
            )

        await self._run(op)

    async def forget(self, user_id: int) -> bool:
        key = self._key(user_id)

        def op(conn: sqlite3.Connection) -> bool:
            deleted = conn.execute("DELETE FROM people WHERE key = ?", (key,)).rowcount > 0
            if deleted:
                self._scrub(conn)
            return deleted

        return await self._run(op)

    async def purge_idle(self, days: int = IDLE_DAYS) -> int:
        cutoff = (self._today() - dt.timedelta(days=days)).isoformat()

        def op(conn: sqlite3.Connection) -> int:
            count = conn.execute("DELETE FROM people WHERE last_active < ?", (cutoff,)).rowcount
            if count:
                self._scrub(conn)
            return count

        return await self._run(op)

    async def count(self) -> int:
        """Number of rows (for tests and the operator; not part of the protocol)."""
        return await self._run(lambda c: c.execute("SELECT COUNT(*) FROM people").fetchone()[0])

    async def close(self) -> None:
        if self._closed:
            return

        def op() -> None:
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._conn.close()
                self._conn = None

        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, op)
        finally:
            self._closed = True
            self._executor.shutdown(wait=False)


class MemoryStorage:
    """A dict-backed Storage with the same semantics, for tests and the console."""

    def __init__(self, secret: bytes = b"memory", today: Callable[[], dt.date] = utc_today):
        self._secret = secret
        self._today = today
        self.rows: dict[str, tuple[str, dt.date]] = {}

    async def get_language(self, user_id: int) -> str | None:
        row = self.rows.get(user_key(self._secret, user_id))
        return row[0] if row else None

    async def set_language(self, user_id: int, lang: str) -> None:
        self.rows[user_key(self._secret, user_id)] = (lang, self._today())

    async def touch(self, user_id: int) -> None:
        key = user_key(self._secret, user_id)
        if key in self.rows:
            self.rows[key] = (self.rows[key][0], self._today())

    async def forget(self, user_id: int) -> bool:
        return self.rows.pop(user_key(self._secret, user_id), None) is not None

    async def purge_idle(self, days: int = IDLE_DAYS) -> int:
        cutoff = self._today() - dt.timedelta(days=days)
        stale = [k for k, (_lang, last) in self.rows.items() if last < cutoff]
        for key in stale:
            del self.rows[key]
        return len(stale)

    async def close(self) -> None:
        return None


class GuardedStorage:
    """Wraps any Storage so that its failures never stop the bot from answering.

    A failing call answers as if nothing were stored (no language, nothing deleted) and the
    problem is logged once (error class only: no ids, no values) until storage works again.
    Reads and writes are watched separately: a read-only or locked file still serves
    languages while writes fail, without flapping between "failed" and "works again".

    `cooldown`: after a failure, calls of that kind are skipped for this many seconds and
    then one is tried again. A locked database makes every call wait for SQLite's busy
    timeout on the storage's single thread; without the pause a busy bot would queue behind
    it. 0 (the default here) tries every call; the application sets a few seconds.
    """

    def __init__(
        self,
        inner: Storage,
        *,
        cooldown: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.cooldown = cooldown
        self.clock = clock
        self._down: dict[str, float] = {}  # kind ("read"/"write") -> earliest next try
        self._reported = False
        # People whose row could not be deleted (/forget, a block): deleted again as soon
        # as a write works, and at every purge. Kept in memory only, like an update in
        # hand: storing them would need the storage that is failing.
        self._pending_forget: set[int] = set()

    @property
    def failing(self) -> bool:
        return bool(self._down)

    async def _guard(self, kind: str, op: str, call: Callable[[], Awaitable[T]], default: T) -> T:
        retry_at = self._down.get(kind)
        if retry_at is not None and self.clock() < retry_at:
            return default  # still cooling down after a failure: don't wait on it again
        try:
            result = await call()
        except Exception as exc:  # any backend error: locked, read-only, corrupt, network
            self._down[kind] = self.clock() + self.cooldown
            if not self._reported:
                self._reported = True
                log.error(
                    "storage %s failed (%s: %s); answering in the default language until "
                    "storage works again",
                    op,
                    type(exc).__name__,
                    _short_reason(exc),
                )
            return default
        if kind in self._down:
            del self._down[kind]
            if not self._down and self._reported:
                self._reported = False
                log.warning("storage works again")
        if kind == "write" and self._pending_forget:
            await self.retry_forgets()
        return result

    @property
    def pending_forgets(self) -> int:
        """How many deletions failed and wait to be retried."""
        return len(self._pending_forget)

    async def retry_forgets(self) -> int:
        """Delete the rows whose deletion failed before; returns how many were retried."""
        done = 0
        for user_id in list(self._pending_forget):
            try:
                await self.inner.forget(user_id)
            except Exception:
                break  # still failing: the next write or purge tries again
            self._pending_forget.discard(user_id)
            done += 1
        if done:
            log.info("storage: %d deletion(s) that had failed are done now", done)
        return done

    async def get_language(self, user_id: int) -> str | None:
        return await self._guard("read", "read", lambda: self.inner.get_language(user_id), None)

    async def set_language(self, user_id: int, lang: str) -> bool:  # type: ignore[override]
        """True when the choice is saved; False when it could not be (the caller says so)."""

        async def save() -> bool:
            await self.inner.set_language(user_id, lang)
            self._pending_forget.discard(user_id)  # chose again after a failed /forget
            return True

        return await self._guard("write", "write", save, False)

    async def touch(self, user_id: int) -> None:
        await self._guard("write", "write", lambda: self.inner.touch(user_id), None)

    async def forget(self, user_id: int) -> bool | None:  # type: ignore[override]
        """True deleted, False nothing stored, None unknown (the backend failed; the
        deletion is retried when storage works again)."""
        result = await self._guard("write", "delete", lambda: self.inner.forget(user_id), None)
        if result is None:
            self._pending_forget.add(user_id)
        else:
            self._pending_forget.discard(user_id)
        return result

    async def purge_idle(self, days: int = IDLE_DAYS) -> int:
        """Idle rows, and first any deletion that failed before (whatever the cool-down)."""
        if self._pending_forget:
            await self.retry_forgets()
        return await self._guard("write", "purge", lambda: self.inner.purge_idle(days), 0)

    async def close(self) -> None:
        try:
            await self.inner.close()
        except Exception as exc:
            if not self._reported:
                log.error("storage close failed (%s)", type(exc).__name__)


def _is_read_only(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF == sqlite3.SQLITE_READONLY
    return "readonly" in str(exc)


def _short_reason(exc: Exception) -> str:
    """The library's reason ('database is locked'), without anything that looks like data."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return "".join("#" if ch.isdigit() else ch for ch in text)[:120]
