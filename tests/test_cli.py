"""The four commands, run as a person runs them: `python -m bot ...` in a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.content import required_topic_ids

FIXTURES = Path(__file__).parent / "fixtures"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_validate_bundled_content_is_clean() -> None:
    result = run("validate")
    assert result.returncode == 0, result.stdout
    assert "0 error(s)" in result.stderr


def test_validate_reports_every_error_and_exits_1(content_copy: Path) -> None:
    for name in ("bad-url", "bad-markup"):
        shutil.copy(FIXTURES / "broken" / f"{name}.yaml", content_copy / "topics")
    result = run("validate", "--content", str(content_copy))
    assert result.returncode == 1
    assert "content/topics/bad-url.yaml:10: source 1: bad URL" in result.stdout
    assert "content/topics/bad-markup.yaml:4: markup:" in result.stdout
    assert "2 error(s)" in result.stderr


def test_match_json_contract() -> None:
    questions = ["can i register with a gp without id", "hello", "i have chest pain", "xqzv"]
    result = run("match", "--json", *questions)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in records] == questions
    ids = set(required_topic_ids()) or None
    for record in records:
        assert set(record) == {
            "text",
            "lang",
            "topic",
            "outcome",
            "score",
            "alert",
            "emergency",
            "candidates",
        }
        assert record["alert"] in {"emergency", "crisis", "possible", None}
        assert record["emergency"] == (record["alert"] in {"emergency", "crisis"})
        assert record["outcome"] in {
            "answer",
            "did-you-mean",
            "fallback",
            "small-talk",
            "out-of-scope",
        }
        assert 0.0 <= record["score"] <= 100.0
        assert len(record["candidates"]) <= 3
        scores = [c["score"] for c in record["candidates"]]
        assert scores == sorted(scores, reverse=True) or record["emergency"]
        if record["topic"] is not None:
            assert record["outcome"] == "answer"
            if ids:
                assert record["topic"] in ids
    gp, hello, chest, nonsense = records
    assert hello["outcome"] == "small-talk" and hello["topic"] is None
    assert chest["emergency"] is True and chest["topic"] == "emergency-care"
    assert chest["alert"] == "emergency"
    assert gp["alert"] is None and hello["alert"] is None
    assert nonsense["outcome"] == "fallback" and nonsense["topic"] is None
    assert gp["lang"] == "en"
    assert "gp-registration" in [gp["topic"], *(c["topic"] for c in gp["candidates"][:1])]


def test_match_reads_stdin_one_question_per_line() -> None:
    result = run("match", "--json", "--lang", "en", stdin="hello\n\nthank you\n")
    assert result.returncode == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in records] == ["hello", "thank you"]


def test_check_prints_figures() -> None:
    result = run("check")
    assert result.returncode == 0, result.stdout[-2000:]
    assert "top-1 accuracy:" in result.stdout
    assert "wrong outright answers:" in result.stdout
    assert "gp-registration" in result.stdout


def test_chat_with_piped_input() -> None:
    result = run("chat", stdin="can i register with a gp without a passport\n1\nhello\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[1]" in out  # numbered buttons
    assert "Sources" in out and "Last reviewed:" in out
    assert out.count("\n\n") > 4


@pytest.mark.parametrize("stdin", ["", "\n\n"])
def test_chat_exits_cleanly_on_eof(stdin: str) -> None:
    result = run("chat", stdin=stdin)
    assert result.returncode == 0
    assert "Traceback" not in result.stderr


def test_broken_content_stops_chat_with_a_clear_message(content_copy: Path) -> None:
    shutil.copy(FIXTURES / "broken" / "bad-url.yaml", content_copy / "topics")
    result = run("chat", "--content", str(content_copy), stdin="hi\n")
    assert result.returncode == 1
    assert "bad-url.yaml:10:" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_reports_a_broken_catalogue(tmp_path: Path) -> None:
    header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
    bodies = {
        "fr": 'msgid "Last reviewed: {date}"\nmsgstr "Vérifié le {jour}"\n',
        "de": 'msgid "All topics"\nmsgstr "Alle Themen"\nthis line is not gettext\n',
    }
    for code, body in bodies.items():
        folder = tmp_path / "locales" / code
        (folder / "LC_MESSAGES").mkdir(parents=True)
        (folder / "language.yaml").write_text(
            f"name: {code}\ndirection: ltr\nshipped: false\nstatus: draft\n"
        )
        (folder / "LC_MESSAGES" / "messages.po").write_text(header + body)
    result = run("validate", "--locales", str(tmp_path / "locales"))
    assert result.returncode == 1
    assert "locales/fr/LC_MESSAGES/messages.po:5: placeholders differ" in result.stdout
    assert "locales/de/LC_MESSAGES/messages.po:7: invalid catalogue" in result.stdout
