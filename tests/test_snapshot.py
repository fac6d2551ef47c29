"""The engine snapshot (bot.snapshot): reused only when valid, rebuilt otherwise, never trusted
unsigned. Real files in temporary directories, real engines built from copies of the content."""

from __future__ import annotations

import functools
import logging
import os
import shutil
from pathlib import Path

import pytest

from bot import snapshot
from bot.content import default_content_dir
from bot.engine import Engine
from bot.i18n import default_locales_dir
from bot.telegram.reload import load_content

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
    """load_content over the copies, counting how often the engine was really built."""

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.count = 0
        self.build = functools.partial(
            load_content, dirs["content_dir"], dirs["locales_dir"], fresh=True
        )

    def __call__(self) -> Engine:
        self.count += 1
        return self.build()


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
    assert not reused and builds.count == 1
    path = only_snapshot(dirs["data_dir"])
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    again, reused = load(dirs, builds)
    assert reused and builds.count == 1
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
    assert not reused and builds.count == 2
    assert only_snapshot(dirs["data_dir"]) != first  # the old one is removed
    assert load(dirs, builds)[1] and builds.count == 2


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
    assert not reused and builds.count == 2
    assert engine.ask(*QUESTIONS[0]).topic == "gp-registration"
    if damage != "empty":
        assert "not signed" in caplog.text
    assert snapshot.read(path, secret) is not None  # replaced by a good one


def test_a_signed_snapshot_of_something_else_is_not_used(dirs) -> None:
    import hashlib
    import hmac
    import pickle

    path = snapshot.snapshot_path(
        dirs["data_dir"], snapshot.fingerprint(dirs["content_dir"], dirs["locales_dir"])
    )
    path.parent.mkdir(parents=True)
    payload = pickle.dumps({"not": "an engine"})
    path.write_bytes(hmac.new(SECRET, payload, hashlib.sha256).digest() + payload)
    builds = Builds(dirs)
    engine, reused = load(dirs, builds)
    assert not reused and builds.count == 1 and isinstance(engine, Engine)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_an_unwritable_data_dir_only_costs_the_speed_up(dirs) -> None:
    dirs["data_dir"].mkdir()
    dirs["data_dir"].chmod(0o500)
    try:
        builds = Builds(dirs)
        assert not load(dirs, builds)[1]
        assert not load(dirs, builds)[1] and builds.count == 2
    finally:
        dirs["data_dir"].chmod(0o700)


def test_an_unwritable_data_path_only_costs_the_speed_up(dirs) -> None:
    dirs["data_dir"].write_text("a file where the directory should be")
    builds = Builds(dirs)
    engine, reused = load(dirs, builds)
    assert not reused and engine.ask(*QUESTIONS[0]).topic == "gp-registration"
