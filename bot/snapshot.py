"""A snapshot of the matcher's index in plain data, so that a restart skips indexing.

Indexing ~12,800 phrasings in ten languages takes most of a start (about 1 s of pure
Python here, against ~0.25 s to read and check content/ and locales/). The index is
numbers, strings and flat arrays (bot.matching._Model.state), so it is stored as exactly
that: a JSON header (labels, feature names, phrasings, scalars) followed by the raw bytes
of the arrays. Reading it runs no code: `json.loads`, `array.frombytes`, then checks that
every list has the length and every index the range the matcher relies on; a file that
fails any check is ignored and rebuilt. (It used to be a pickle, and a forged pickle runs
whatever it likes when read.)

The content and translations themselves are read and validated at every start, as
without a snapshot; only the matcher comes from the file. Like Python's bytecode cache,
the file is keyed by what it was built from: a SHA-256 of every file under content/ and
locales/, of the bot's own source and of the versions of Python and the libraries that
shape the index. It is also signed with HMAC-SHA256 under a key derived from BOT_SECRET
(which `run` requires and which lives outside the data directory), so a file written by
anyone else is not used even when it is well-formed. It holds the bundled content and
nothing about any person.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import os
import struct
import sys
import tempfile
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import babel
import rapidfuzz
import yaml

import bot
from bot.content import Catalogue
from bot.engine import Engine
from bot.i18n import Locales
from bot.matching import Matcher, Phrase, _Model
from bot.private_dir import make_private_dir

log = logging.getLogger("bot.snapshot")

PREFIX = "matcher-"
SUFFIX = ".snapshot"
MAGIC = b"NHSBOT-MATCHER-1\n"
SIGNATURE = hashlib.sha256().digest_size
HEADER_LENGTH = struct.Struct("<Q")
ARRAYS = {"weights": "d", "starts": "q", "post_labels": "H", "post_deltas": "d"}
SKIPPED_PARTS = {"__pycache__"}
SKIPPED_SUFFIXES = {".mo", ".pyc"}


class Unreadable(ValueError):
    """The file is not a snapshot this code wrote (or it was damaged)."""


def fingerprint(content_dir: Path, locales_dir: Path) -> str:
    """SHA-256 over everything the index is built from (file names and bytes)."""
    digest = hashlib.sha256()
    versions = (sys.version, sys.byteorder, rapidfuzz.__version__, babel.__version__)
    digest.update(repr((*versions, yaml.__version__, MAGIC)).encode())
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


# --------------------------------------------------------------------------- encoding


def encode(matcher: Matcher) -> bytes:
    """The matcher as MAGIC, header length, JSON header, then the arrays' bytes."""
    blobs: list[bytes] = []
    offset = 0
    models: list[dict[str, Any]] = []
    for script, model in matcher.models.items():
        state = model.state()
        features = [""] * len(state["feature_ids"])  # type: ignore[arg-type]
        for feature, fid in state["feature_ids"].items():  # type: ignore[attr-defined]
            features[fid] = feature
        plain: dict[str, Any] = {
            "script": script,
            "phrases": [[p.text, p.label, p.lang, p.is_example] for p in model.phrases],
            "features": features,
            "arrays": {},
        }
        for name in ("keyword_weight", "labels", "totals", "scale", "vocabulary"):
            plain[name] = state[name]
        plain["log_alpha"] = state["log_alpha"]
        plain["denominator"] = state["denominator"]
        for name, code in ARRAYS.items():
            data = array(code, state[name]).tobytes()  # type: ignore[call-overload]
            plain["arrays"][name] = [offset, len(data)]
            blobs.append(data)
            offset += len(data)
        models.append(plain)
    header = json.dumps({"models": models}, ensure_ascii=False).encode("utf-8")
    return MAGIC + HEADER_LENGTH.pack(len(header)) + header + b"".join(blobs)


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise Unreadable(what)


def _numbers(value: Any, what: str) -> list[float]:
    _check(isinstance(value, list), what)
    _check(all(type(v) in (int, float) for v in value), what)
    return [float(v) for v in value]


def _strings(value: Any, what: str) -> list[str]:
    _check(isinstance(value, list) and all(isinstance(v, str) for v in value), what)
    return value


def _model(plain: Any, body: memoryview) -> tuple[str, _Model]:
    _check(isinstance(plain, dict), "model")
    script = plain.get("script")
    _check(isinstance(script, str), "script")
    labels = _strings(plain.get("labels"), "labels")
    features = _strings(plain.get("features"), "features")
    vocabulary = plain.get("vocabulary")
    _check(type(vocabulary) is int and vocabulary == len(features), "vocabulary")
    _check(len(set(features)) == len(features), "features")
    raw_phrases = plain.get("phrases")
    _check(isinstance(raw_phrases, list), "phrases")
    phrases = []
    label_set = set(labels)
    for item in raw_phrases:
        _check(isinstance(item, list) and len(item) == 4, "phrase")
        text, label, lang, is_example = item
        _check(isinstance(text, str) and isinstance(lang, str), "phrase")
        _check(label in label_set and type(is_example) is bool, "phrase")
        phrases.append(Phrase(text, label, lang, is_example))
    state: dict[str, Any] = {
        "labels": labels,
        "feature_ids": {f: i for i, f in enumerate(features)},
        "vocabulary": vocabulary,
        "totals": _numbers(plain.get("totals"), "totals"),
        "scale": _numbers(plain.get("scale"), "scale"),
        "denominator": _numbers(plain.get("denominator"), "denominator"),
    }
    for name in ("totals", "scale", "denominator"):
        _check(len(state[name]) == len(labels), name)
    for name in ("keyword_weight", "log_alpha"):
        value = plain.get(name)
        _check(type(value) in (int, float), name)
        state[name] = float(value)
    spans = plain.get("arrays")
    _check(isinstance(spans, dict), "arrays")
    for name, code in ARRAYS.items():
        span = spans.get(name)
        _check(isinstance(span, list) and len(span) == 2, name)
        start, size = span
        _check(type(start) is int and type(size) is int and start >= 0 and size >= 0, name)
        _check(start + size <= len(body), name)
        values = array(code)
        _check(size % values.itemsize == 0, name)
        values.frombytes(body[start : start + size])
        state[name] = values
    starts, post_labels = state["starts"], state["post_labels"]
    _check(len(state["weights"]) == vocabulary and len(starts) == vocabulary + 1, "starts")
    _check(starts[0] == 0 and starts[-1] == len(post_labels), "starts")
    _check(len(state["post_deltas"]) == len(post_labels), "post_deltas")
    _check(all(a <= b for a, b in itertools.pairwise(starts)), "starts")
    _check(not post_labels or max(post_labels) < len(labels), "post_labels")
    state["starts"] = array("l", starts)  # the matcher's own type code
    return script, _Model.from_state(phrases, state)


def decode(payload: bytes) -> Matcher:
    """The matcher in `payload`; Unreadable unless every part is as `encode` writes it."""
    _check(payload.startswith(MAGIC), "magic")
    view = memoryview(payload)[len(MAGIC) :]
    _check(len(view) >= HEADER_LENGTH.size, "header")
    (length,) = HEADER_LENGTH.unpack(view[: HEADER_LENGTH.size])
    view = view[HEADER_LENGTH.size :]
    _check(length <= len(view), "header")
    try:
        header = json.loads(bytes(view[:length]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Unreadable("header") from exc
    _check(isinstance(header, dict) and isinstance(header.get("models"), list), "header")
    body = view[length:]
    models = dict(_model(plain, body) for plain in header["models"])
    return Matcher.from_models(models)


# --------------------------------------------------------------------------- files


def read(path: Path, secret: bytes) -> Matcher | None:
    """The matcher stored at `path`, or None when it is missing, unsigned or unreadable."""
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    signature, payload = blob[:SIGNATURE], blob[SIGNATURE:]
    expected = hmac.new(secret, payload, hashlib.sha256).digest()
    if len(blob) <= SIGNATURE or not hmac.compare_digest(signature, expected):
        log.warning("snapshot %s is not signed with this bot's key: ignored", path.name)
        return None
    try:
        return decode(payload)
    except Unreadable as exc:
        log.warning("snapshot %s is not in the expected form (%s): ignored", path.name, exc)
        return None


def write(path: Path, matcher: Matcher, secret: bytes) -> bool:
    """Write atomically (a reader sees the old file or the whole new one), owner-only."""
    payload = encode(matcher)
    signature = hmac.new(secret, payload, hashlib.sha256).digest()
    try:
        make_private_dir(path.parent)
        handle, tmp = tempfile.mkstemp(prefix=PREFIX, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as out:  # mkstemp: mode 0600
                out.write(signature)
                out.write(payload)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.warning("snapshot not written (%s): the next start indexes again", exc)
        return False
    for old in path.parent.glob(f"*{SUFFIX}"):  # older snapshots, pickles included
        if old != path:
            old.unlink(missing_ok=True)
    return True


def load_or_build(
    read_content: Callable[[], tuple[Catalogue, Locales]],
    *,
    data_dir: Path,
    secret: bytes,
    content_dir: Path,
    locales_dir: Path,
) -> tuple[Engine, bool]:
    """(engine, True) with the matcher from a valid snapshot, else (engine, False) and a
    new snapshot. `read_content` reads and validates content and translations (raising on
    errors) every time, so only validated content is ever indexed or served."""
    catalogue, locales = read_content()
    path = snapshot_path(data_dir, fingerprint(content_dir, locales_dir))
    matcher = read(path, secret)
    engine = Engine(catalogue, matcher=matcher, locales=locales)
    if matcher is None:
        write(path, engine.matcher, secret)
    return engine, matcher is not None
