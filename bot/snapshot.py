"""A signed snapshot of the loaded engine, so that a restart skips parsing and indexing.

Reading content/ and locales/ (YAML, every gettext catalogue, the strict catalogue check)
and indexing ~12,800 phrasings takes over a second of pure Python at every start, six times
what a bare python-telegram-bot needs to start; unpickling the result takes ~0.08 s. Like
Python's own bytecode cache, the snapshot is keyed by what it was built from: a SHA-256 of
every file under content/ and locales/, of the bot's own source and of the versions of
Python and the libraries that shape the index. Change anything and the engine is built
(and the files validated) as if there were no snapshot, then a new one is written.

Unpickling can run code, so the file is signed with HMAC-SHA256 under the bot's secret (the
key that already hashes user ids) and is read only when the signature matches: a file that
was tampered with, cut short or written under another secret is ignored and replaced. A
data directory that cannot be written only costs the speed-up. The snapshot holds the
bundled content and nothing about any person.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import babel
import rapidfuzz
import yaml

import bot
from bot.engine import Engine

log = logging.getLogger("bot.snapshot")

PREFIX = "engine-"
SUFFIX = ".snapshot"
SIGNATURE = hashlib.sha256().digest_size
SKIPPED_PARTS = {"__pycache__"}
SKIPPED_SUFFIXES = {".mo", ".pyc"}


def fingerprint(content_dir: Path, locales_dir: Path) -> str:
    """SHA-256 over everything the engine is built from (file names and bytes)."""
    digest = hashlib.sha256()
    versions = (sys.version, pickle.HIGHEST_PROTOCOL, rapidfuzz.__version__, babel.__version__)
    # The month too: validation depends on the date (answers not reviewed for 12 months
    # are reported), so a snapshot is trusted for the month it was built in at most.
    month = dt.date.today().strftime("%Y-%m")
    digest.update(repr((*versions, yaml.__version__, month)).encode())
    source = Path(bot.__file__).resolve().parent
    for label, root, pattern in (
        ("bot", source, "*.py"),
        ("content", Path(content_dir), "*"),
        ("locales", Path(locales_dir), "*"),
    ):
        for path in sorted(root.rglob(pattern)):
            rel = path.relative_to(root)
            if not path.is_file() or SKIPPED_PARTS & set(rel.parts):
                continue
            if path.suffix in SKIPPED_SUFFIXES:
                continue
            digest.update(f"\0{label}/{rel.as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def snapshot_path(data_dir: Path, key: str) -> Path:
    return Path(data_dir) / f"{PREFIX}{key[:32]}{SUFFIX}"


def read(path: Path, secret: bytes) -> Engine | None:
    """The engine stored at `path`, or None when it is missing, unsigned or unreadable."""
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    signature, payload = blob[:SIGNATURE], blob[SIGNATURE:]
    expected = hmac.new(secret, payload, hashlib.sha256).digest()
    if len(blob) <= SIGNATURE or not hmac.compare_digest(signature, expected):
        log.warning("engine snapshot %s is not signed with this bot's secret: ignored", path.name)
        return None
    try:
        engine = pickle.loads(payload)
    except Exception as exc:  # signed but unreadable (a library changed its classes)
        log.warning("engine snapshot %s could not be read (%s): ignored", path.name, exc)
        return None
    return engine if isinstance(engine, Engine) else None


def write(path: Path, engine: Engine, secret: bytes) -> bool:
    """Write atomically (a reader sees the old file or the whole new one), owner-only."""
    payload = pickle.dumps(engine, protocol=pickle.HIGHEST_PROTOCOL)
    signature = hmac.new(secret, payload, hashlib.sha256).digest()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=PREFIX, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(signature)
                out.write(payload)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.warning("engine snapshot not written (%s): the next start builds it again", exc)
        return False
    for old in path.parent.glob(f"{PREFIX}*{SUFFIX}"):
        if old != path:
            old.unlink(missing_ok=True)
    return True


def load_or_build(
    build: Callable[[], Engine],
    *,
    data_dir: Path,
    secret: bytes,
    content_dir: Path,
    locales_dir: Path,
) -> tuple[Engine, bool]:
    """(engine, True) from a valid snapshot, else (build(), False) and a new snapshot.

    `build` must raise on invalid content, so that only validated content is ever stored.
    """
    path = snapshot_path(data_dir, fingerprint(content_dir, locales_dir))
    engine = read(path, secret)
    if engine is not None:
        return engine, True
    engine = build()
    write(path, engine, secret)
    return engine, False
