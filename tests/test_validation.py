"""Every validation rule, each shown by a small broken fixture file."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from bot.content import ContentInvalid, load_catalogue, validate

TODAY = dt.date(2026, 11, 23)
BROKEN = Path(__file__).parent / "fixtures" / "broken"


def _problems(content: Path, name: str | None = None) -> list[str]:
    if name:
        shutil.copy(BROKEN / f"{name}.yaml", content / "topics" / f"{name}.yaml")
    return [
        str(p) for p in validate(content, today=TODAY) if "of topics.md is missing" not in str(p)
    ]


def test_fixture_content_is_valid(content_copy: Path) -> None:
    assert _problems(content_copy) == []
    catalogue = load_catalogue(content_copy, today=TODAY)
    assert set(catalogue.topics) == {"emergency-care", "gp-registration", "hospital-charges"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("unknown-key", "content/topics/unknown-key.yaml:2: unknown key 'titel'"),
        ("unknown-key", "content/topics/unknown-key.yaml:1: missing key 'title'"),
        ("missing-key", "content/topics/missing-key.yaml:1: missing key 'keywords'"),
        ("wrong-type", "content/topics/wrong-type.yaml:7: 'keywords' must be a list"),
        (
            "bad-related",
            "content/topics/bad-related.yaml:14: related id 'no-such-topic' not found",
        ),
        ("bad-url", "content/topics/bad-url.yaml:10: source 1: bad URL 'http://gov.uk/x'"),
        ("bad-markup", "content/topics/bad-markup.yaml:4: markup: '**' opened but not closed"),
        ("bad-link", "content/topics/bad-link.yaml:4: markup: link must start with https://"),
        (
            "future-date",
            "content/topics/future-date.yaml:12: 'reviewed' date 2099-01-01 is in the future",
        ),
        ("bool-key", "content/topics/bool-key.yaml:14: key False is not text"),
        ("bad-yaml", "content/topics/bad-yaml.yaml:3: invalid YAML"),
        ("bad-nation", "content/topics/bad-nation.yaml:13: unknown nation 'france'"),
    ],
)
def test_broken_file_is_reported_with_file_and_line(
    content_copy: Path, name: str, expected: str
) -> None:
    problems = _problems(content_copy, name)
    assert any(p.startswith(expected) for p in problems), problems


def test_duplicate_id(content_copy: Path) -> None:
    problems = _problems(content_copy, "duplicate-id")
    assert any("duplicate id 'gp-registration'" in p for p in problems), problems
    assert any("does not match the file name" in p for p in problems), problems


def test_example_copied_into_two_topics(content_copy: Path) -> None:
    problems = _problems(content_copy, "copied-example")
    assert any(
        "'how do i register with a gp' is also an example of 'copied-example'" in p
        for p in problems
    ), problems


def test_stale_review_is_a_warning_not_an_error(content_copy: Path) -> None:
    shutil.copy(BROKEN / "stale.yaml", content_copy / "topics" / "stale.yaml")
    problems = validate(content_copy, today=TODAY)
    stale = [p for p in problems if p.path.endswith("stale.yaml")]
    assert [str(p) for p in stale] == [
        "content/topics/stale.yaml:12: warning: not reviewed for over 12 months (last 2020-01-01)"
    ]
    load_catalogue(content_copy, today=TODAY)  # warnings do not stop the bot


def test_answer_too_long_for_one_message(content_copy: Path) -> None:
    path = content_copy / "topics" / "hospital-charges.yaml"
    text = path.read_text()
    long_answer = "\n\n".join(["  " + "word " * 90] * 10)
    path.write_text(text.replace("  Some hospital care is charged.", long_answer + "\n\n  Some"))
    problems = _problems(content_copy)
    assert any(
        p.startswith("content/topics/hospital-charges.yaml:3: 'answer' is") and "4096" in p
        for p in problems
    ), problems


def test_all_problems_reported_in_one_run(content_copy: Path) -> None:
    for name in ("bad-url", "bad-markup", "future-date", "bad-related"):
        shutil.copy(BROKEN / f"{name}.yaml", content_copy / "topics" / f"{name}.yaml")
    problems = _problems(content_copy)
    files = {p.split(":")[0] for p in problems}
    assert len(files) == 4, problems
    with pytest.raises(ContentInvalid) as info:
        load_catalogue(content_copy, today=TODAY)
    assert len(info.value.problems) >= 4


def test_missing_special_file(content_copy: Path) -> None:
    (content_copy / "small_talk.yaml").unlink()
    assert "content/small_talk.yaml:1: file is missing" in _problems(content_copy)


def test_missing_required_topics_are_warnings(content_copy: Path) -> None:
    problems = validate(content_copy, today=TODAY)
    missing = [p for p in problems if "of topics.md is missing" in p.message]
    if not missing:
        pytest.skip("../shared/topics.md is not beside this checkout")
    assert all(p.warning for p in missing)
    assert any("'data-sharing'" in p.message for p in missing)
