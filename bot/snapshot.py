"""A snapshot of the matcher's index and the parsed translations, in plain data.

A start without it reads and checks every gettext catalogue and examples file (~0.2 s
here) and indexes ~12,800 phrasings in ten languages (~1 s of pure Python). Both results
are plain: the index is numbers, strings and flat arrays (bot.matching._Model.state), the
translations are strings, dictionaries and the compiled `.mo` bytes gettext reads anyway.
So that is what is stored: a JSON header (labels, feature names, phrasings, scalars, the
translations and their examples) followed by the raw bytes of the arrays and catalogues.
Reading it runs no code: `json.loads`, `array.frombytes`, gettext's own `.mo` reader,
then checks that every list has the length, every index the range and every value the
type that the matcher and the translations rely on; a file that fails any check is
ignored and rebuilt. (It used to be a pickle, and a forged pickle runs whatever it likes
when it is read.)

content/ itself is read and validated at every start, as without a snapshot (validation
depends on the date: answers not reviewed for a year are reported), and the translations
from the snapshot go through the same check as freshly read ones. Like Python's bytecode
cache, the file is keyed by what it was built from: a SHA-256 of every file under
content/ and locales/, of the bot's own source and of the versions of Python and the
libraries that shape the index. It is also signed with HMAC-SHA256 under a key derived
from BOT_SECRET (which `run` requires and which lives outside the data directory), so a
file written by anyone else is not used even when it is well-formed. It holds the bundled
content and nothing about any person.
"""

from __future__ import annotations

import datetime as dt
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import babel
import rapidfuzz
import yaml

import bot
from bot.content import Catalogue, Problem
from bot.engine import Engine
from bot.i18n import Language, LocaleData, Locales, Translations
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


@dataclass(frozen=True)
class Snapshot:
    matcher: Matcher
    locales: Locales | None  # None: not stored (examples that JSON cannot carry)


def _problem_rows(problems: list[Problem]) -> list[list[Any]]:
    return [[p.path, p.line, p.message, p.warning] for p in problems]


def _plain_locales(locales: Locales, blob: Callable[[bytes], list[int]]) -> dict | None:
    """The parsed translations as JSON-ready data; None when the examples are not plain."""
    languages = []
    for code, data in locales.data.items():
        if json.loads(json.dumps(data.examples)) != data.examples:
            return None  # a YAML date or a non-string key: read the files instead
        lang = data.language
        languages.append(
            {
                "code": code,
                "language": {
                    "native_name": lang.native_name,
                    "rtl": lang.rtl,
                    "shipped": lang.shipped,
                    "status": lang.status,
                    "reviewed_by": lang.reviewed_by,
                    "reviewed_on": lang.reviewed_on.isoformat() if lang.reviewed_on else None,
                    "letters": lang.letters,
                    "words": list(lang.words),
                },
                "current": data.translations.current,
                "fuzzy": sorted(data.translations.fuzzy),
                "mo": blob(data.translations.mo),
                "examples": data.examples,
            }
        )
    return {
        "problems": _problem_rows(locales.problems),
        "catalogue_problems": _problem_rows(locales.catalogue_problems),
        "languages": languages,
    }


def encode(matcher: Matcher, locales: Locales | None = None) -> bytes:
    """The matcher (and the parsed translations) as MAGIC, header length, JSON header,
    then the raw bytes of the arrays and catalogues."""
    blobs: list[bytes] = []
    offset = 0

    def blob(data: bytes) -> list[int]:
        nonlocal offset
        span = [offset, len(data)]
        blobs.append(data)
        offset += len(data)
        return span

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
            plain["arrays"][name] = blob(data)
        models.append(plain)
    document: dict[str, Any] = {"models": models}
    if locales is not None:
        document["locales"] = _plain_locales(locales, blob)
    header = json.dumps(document, ensure_ascii=False).encode("utf-8")
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
        raw = _span(spans.get(name), body, name)
        values = array(code)
        _check(len(raw) % values.itemsize == 0, name)
        values.frombytes(raw)
        state[name] = values
    starts, post_labels = state["starts"], state["post_labels"]
    _check(len(state["weights"]) == vocabulary and len(starts) == vocabulary + 1, "starts")
    _check(starts[0] == 0 and starts[-1] == len(post_labels), "starts")
    _check(len(state["post_deltas"]) == len(post_labels), "post_deltas")
    _check(all(a <= b for a, b in itertools.pairwise(starts)), "starts")
    _check(not post_labels or max(post_labels) < len(labels), "post_labels")
    state["starts"] = array("l", starts)  # the matcher's own type code
    return script, _Model.from_state(phrases, state)


def _span(span: Any, body: memoryview, what: str) -> bytes:
    _check(isinstance(span, list) and len(span) == 2, what)
    start, size = span
    _check(type(start) is int and type(size) is int and start >= 0 and size >= 0, what)
    _check(start + size <= len(body), what)
    return bytes(body[start : start + size])


def _problems(rows: Any, what: str) -> list[Problem]:
    _check(isinstance(rows, list), what)
    problems = []
    for row in rows:
        _check(isinstance(row, list) and len(row) == 4, what)
        path, line, message, warning = row
        _check(isinstance(path, str) and type(line) is int, what)
        _check(isinstance(message, str) and type(warning) is bool, what)
        problems.append(Problem(path, line, message, warning))
    return problems


def _language(code: str, plain: Any) -> Language:
    _check(isinstance(plain, dict), "language")
    reviewed_on = plain.get("reviewed_on")
    _check(reviewed_on is None or isinstance(reviewed_on, str), "language")
    reviewed_by = plain.get("reviewed_by")
    _check(reviewed_by is None or isinstance(reviewed_by, str), "language")
    for key in ("native_name", "status", "letters"):
        _check(isinstance(plain.get(key), str), "language")
    for key in ("rtl", "shipped"):
        _check(type(plain.get(key)) is bool, "language")
    try:
        day = dt.date.fromisoformat(reviewed_on) if reviewed_on else None
    except ValueError as exc:
        raise Unreadable("language") from exc
    return Language(
        code=code,
        native_name=plain["native_name"],
        rtl=plain["rtl"],
        shipped=plain["shipped"],
        status=plain["status"],
        reviewed_by=reviewed_by,
        reviewed_on=day,
        letters=plain["letters"],
        words=tuple(_strings(plain.get("words"), "language")),
    )


def _locales(plain: Any, body: memoryview, root: Path) -> Locales:
    _check(isinstance(plain, dict) and isinstance(plain.get("languages"), list), "locales")
    data: dict[str, LocaleData] = {}
    for item in plain["languages"]:
        _check(isinstance(item, dict) and isinstance(item.get("code"), str), "locales")
        code = item["code"]
        current = item.get("current")
        _check(isinstance(current, dict), "translations")
        _check(all(isinstance(v, str) for v in current.values()), "translations")
        fuzzy = set(_strings(item.get("fuzzy"), "translations"))
        examples = item.get("examples")
        _check(isinstance(examples, dict), "examples")
        try:
            translations = Translations.from_parts(
                code, current, fuzzy, _span(item.get("mo"), body, "mo")
            )
        except OSError as exc:  # not a gettext catalogue
            raise Unreadable("mo") from exc
        data[code] = LocaleData(_language(code, item.get("language")), translations, examples)
    return Locales.from_parts(
        root,
        data,
        _problems(plain.get("problems"), "problems"),
        _problems(plain.get("catalogue_problems"), "problems"),
    )


def decode(payload: bytes, locales_dir: Path | None = None) -> Snapshot:
    """The snapshot in `payload`; Unreadable unless every part is as `encode` writes it."""
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
    locales = None
    if header.get("locales") is not None and locales_dir is not None:
        locales = _locales(header["locales"], body, Path(locales_dir))
    return Snapshot(Matcher.from_models(models), locales)


# --------------------------------------------------------------------------- files


def read(path: Path, secret: bytes, locales_dir: Path | None = None) -> Snapshot | None:
    """The snapshot stored at `path`, or None when it is missing, unsigned or unreadable.
    The translations are read back only when `locales_dir` (their origin) is given."""
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
        return decode(payload, locales_dir)
    except Unreadable as exc:
        log.warning("snapshot %s is not in the expected form (%s): ignored", path.name, exc)
        return None


def write(path: Path, matcher: Matcher, secret: bytes, locales: Locales | None = None) -> bool:
    """Write atomically (a reader sees the old file or the whole new one), owner-only."""
    payload = encode(matcher, locales)
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
    read_content: Callable[..., tuple[Catalogue, Locales]],
    *,
    data_dir: Path,
    secret: bytes,
    content_dir: Path,
    locales_dir: Path,
) -> tuple[Engine, bool]:
    """(engine, True) with the index and the translations from a valid snapshot, else
    (engine, False) and a new snapshot.

    `read_content(locales=...)` reads and checks content/ every time (raising on errors),
    and checks the translations it is given, or reads them when given None; so only
    checked content is ever indexed, stored or served.
    """
    path = snapshot_path(data_dir, fingerprint(content_dir, locales_dir))
    stored = read(path, secret, locales_dir)
    catalogue, locales = read_content(locales=stored.locales if stored else None)
    engine = Engine(catalogue, matcher=stored.matcher if stored else None, locales=locales)
    if stored is None:
        write(path, engine.matcher, secret, locales)
    return engine, stored is not None
