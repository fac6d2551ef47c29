"""The matcher snapshot (bot.snapshot): reused only when valid, rebuilt otherwise, never
trusted unsigned, and never able to run code however it was forged. Real files in temporary
directories, real engines built from copies of the content."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import os
import pickle
import shutil
from pathlib import Path

import pytest

from bot import snapshot
from bot.content import default_content_dir
from bot.engine import Engine
from bot.i18n import default_locales_dir
from bot.telegram.reload import read_content

SECRET = b"s" * 32
QUESTIONS = [
    ("can i see a gp without a passport", "en"),
    ("هل يمكنني التسجيل عند طبيب عام بدون جواز سفر", "ar"),
    ("чи можу я записатися до лікаря без документів", "uk"),
    ("est-ce que l'hôpital va me faire payer", "fr"),
    ("chest pain cant breath", "en"),
    ("hi", "fa"),
]


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    content, locales = tmp_path / "content", tmp_path / "locales"
    shutil.copytree(default_content_dir(), content)
    shutil.copytree(default_locales_dir(), locales)
    return {"content_dir": content, "locales_dir": locales, "data_dir": tmp_path / "data"}


class Builds:
    """read_content over the copies (the content is read and checked at every start)."""

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.count = 0
        self.read = functools.partial(
            read_content, dirs["content_dir"], dirs["locales_dir"], fresh=True
        )

    def __call__(self, locales=None):
        self.count += 1
        self.given = locales  # the translations from the snapshot, or None
        return self.read(locales=locales)


def load(dirs: dict[str, Path], builds: Builds, secret: bytes = SECRET) -> tuple[Engine, bool]:
    return snapshot.load_or_build(builds, secret=secret, **dirs)


def answers(engine: Engine) -> list:
    return [engine.ask(text, lang) for text, lang in QUESTIONS]


def only_snapshot(data_dir: Path) -> Path:
    (path,) = data_dir.glob(f"{snapshot.PREFIX}*{snapshot.SUFFIX}")
    return path


def test_second_start_reuses_the_snapshot_and_answers_the_same(dirs) -> None:
    builds = Builds(dirs)
    built, reused = load(dirs, builds)
    assert not reused
    path = only_snapshot(dirs["data_dir"])
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(dirs["data_dir"].stat().st_mode & 0o777) == "0o700"
    again, reused = load(dirs, builds)
    assert reused and builds.count == 2  # the content itself is read (and checked) again
    assert builds.given is not None  # the translations came from the snapshot
    assert answers(again) == answers(built)
    assert [r.outcome for r in answers(again)].count(answers(again)[0].outcome) < len(QUESTIONS)
    # translations (with their plural rules) survive the round trip
    for code in ("ar", "uk", "pl"):
        t_built, t_again = built.locales.translations(code), again.locales.translations(code)
        assert t_again.gettext("All topics") == t_built.gettext("All topics") != "All topics"
        for n in (0, 1, 2, 5, 11, 101):
            assert t_again.ngettext("a", "b", n) == t_built.ngettext("a", "b", n)
    # leave-one-out still works on a reloaded index (it is keyed by object identity)
    phrase = next(p for p in again.matcher.phrases if p.is_example and p.label == "nhs-debt")
    inside = dict(again.matcher.rank(phrase.text))["nhs-debt"]
    assert dict(again.matcher.rank(phrase.text, exclude=phrase)).get("nhs-debt", 0) < inside


@pytest.mark.parametrize("where", ["content", "locales"])
def test_a_changed_file_means_a_rebuild_and_a_new_snapshot(dirs, where: str) -> None:
    builds = Builds(dirs)
    load(dirs, builds)
    first = only_snapshot(dirs["data_dir"])
    if where == "content":
        path = dirs["content_dir"] / "topics" / "gp-registration.yaml"
        path.write_text(path.read_text().replace("GP", "GP surgery", 1))
    else:
        path = dirs["locales_dir"] / "fr" / "LC_MESSAGES" / "messages.po"
        path.write_text(path.read_text() + "\n")
    _engine, reused = load(dirs, builds)
    assert not reused
    assert only_snapshot(dirs["data_dir"]) != first  # the old one is removed
    assert load(dirs, builds)[1]


def test_invalid_content_is_never_stored(dirs) -> None:
    from bot.content import ContentInvalid

    (dirs["content_dir"] / "topics" / "gp-registration.yaml").write_text("id: [unclosed\n")
    with pytest.raises(ContentInvalid):
        load(dirs, Builds(dirs))
    assert not list(dirs["data_dir"].glob(f"*{snapshot.SUFFIX}"))


@pytest.mark.parametrize("damage", ["flipped byte", "cut short", "empty", "other secret"])
def test_a_damaged_or_foreign_snapshot_is_ignored_and_replaced(dirs, damage, caplog) -> None:
    builds = Builds(dirs)
    load(dirs, builds)
    path = only_snapshot(dirs["data_dir"])
    blob = path.read_bytes()
    secret = SECRET
    if damage == "flipped byte":
        middle = len(blob) // 2
        path.write_bytes(blob[:middle] + bytes([blob[middle] ^ 1]) + blob[middle + 1 :])
    elif damage == "cut short":
        path.write_bytes(blob[: len(blob) // 3])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        secret = b"t" * 32
    with caplog.at_level(logging.WARNING, logger="bot.snapshot"):
        engine, reused = load(dirs, builds, secret)
    assert not reused
    assert engine.ask(*QUESTIONS[0]).topic == "gp-registration"
    if damage != "empty":
        assert "not signed" in caplog.text
    assert snapshot.read(path, secret) is not None  # replaced by a good one


@pytest.fixture(scope="module")
def good_snapshot(tmp_path_factory) -> tuple[bytes, Path]:
    """A snapshot of the shipped content (its payload) and the locales it was made from."""
    root = tmp_path_factory.mktemp("good")
    locales_dir = default_locales_dir()
    data_dir = root / "data"
    snapshot.load_or_build(
        functools.partial(read_content, default_content_dir(), locales_dir, fresh=True),
        secret=SECRET,
        data_dir=data_dir,
        content_dir=default_content_dir(),
        locales_dir=locales_dir,
    )
    return only_snapshot(data_dir).read_bytes()[snapshot.SIGNATURE :], locales_dir


class Explodes:
    """Unpickling this would create `marker`: what a forged pickle snapshot could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def sign(payload: bytes, secret: bytes = SECRET) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest() + payload


@pytest.mark.parametrize("name", ["current", "old pickle name"])
def test_a_signed_pickle_never_runs(dirs, tmp_path: Path, caplog, name: str) -> None:
    """Even signed with the right key (someone who has BOT_SECRET), a pickle is only data
    that fails the format check: nothing in it runs, and a new snapshot replaces it."""
    marker = tmp_path / "ran"
    fingerprint = snapshot.fingerprint(dirs["content_dir"], dirs["locales_dir"])
    path = snapshot.snapshot_path(dirs["data_dir"], fingerprint)
    if name != "current":
        path = dirs["data_dir"] / f"engine-{fingerprint[:32]}.snapshot"
    path.parent.mkdir(parents=True)
    path.write_bytes(sign(pickle.dumps(Explodes(marker))))
    with caplog.at_level(logging.WARNING, logger="bot.snapshot"):
        engine, reused = load(dirs, Builds(dirs))
    assert not reused and isinstance(engine, Engine)
    assert not marker.exists()
    if name == "current":
        assert "not in the expected form" in caplog.text
    assert not path.exists() or snapshot.read(path, SECRET) is not None  # replaced


@pytest.mark.parametrize(
    "lie",
    [
        "label out of range",
        "starts past the end",
        "not JSON",
        "catalogue not a catalogue",
        "a translation not a string",
    ],
)
def test_a_signed_but_inconsistent_snapshot_is_not_used(
    good_snapshot: tuple[bytes, Path], tmp_path: Path, lie: str, caplog
) -> None:
    """Well signed, well framed, but not what `encode` writes: refused, never half-used
    (and a load then builds afresh, as the tests above show)."""
    payload, locales_dir = good_snapshot
    start = len(snapshot.MAGIC) + snapshot.HEADER_LENGTH.size
    (length,) = snapshot.HEADER_LENGTH.unpack(payload[len(snapshot.MAGIC) : start])
    header = json.loads(payload[start : start + length])
    model = header["models"][0]
    if lie == "label out of range":
        model["labels"] = model["labels"][:1]
        model["totals"] = model["scale"] = model["denominator"] = [1.0]
        model["phrases"] = [p for p in model["phrases"] if p[1] == model["labels"][0]]
    elif lie == "starts past the end":
        model["arrays"]["starts"][1] += 10**9
    elif lie == "catalogue not a catalogue":
        french = next(x for x in header["locales"]["languages"] if x["code"] == "fr")
        french["mo"] = model["arrays"]["weights"]  # some bytes, not a .mo file
    elif lie == "a translation not a string":
        french = next(x for x in header["locales"]["languages"] if x["code"] == "fr")
        french["current"]["All topics"] = ["not", "a", "string"]
    encoded = b"{not json" if lie == "not JSON" else json.dumps(header).encode()
    forged = (
        snapshot.MAGIC
        + snapshot.HEADER_LENGTH.pack(len(encoded))
        + encoded
        + payload[start + length :]
    )
    assert snapshot.decode(payload, locales_dir).locales is not None  # the good one reads
    path = tmp_path / "forged.snapshot"
    path.write_bytes(sign(forged))
    with caplog.at_level(logging.WARNING, logger="bot.snapshot"):
        assert snapshot.read(path, SECRET, locales_dir) is None
    assert "not in the expected form" in caplog.text


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_an_unwritable_data_dir_only_costs_the_speed_up(dirs) -> None:
    dirs["data_dir"].mkdir()
    dirs["data_dir"].chmod(0o500)
    try:
        builds = Builds(dirs)
        assert not load(dirs, builds)[1]
        assert not load(dirs, builds)[1]
    finally:
        dirs["data_dir"].chmod(0o700)


def test_an_unwritable_data_path_only_costs_the_speed_up(dirs) -> None:
    dirs["data_dir"].write_text("a file where the directory should be")
    builds = Builds(dirs)
    engine, reused = load(dirs, builds)
    assert not reused and engine.ask(*QUESTIONS[0]).topic == "gp-registration"
