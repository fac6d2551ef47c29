"""The answer markup renders safely to Telegram HTML and to plain text."""

from __future__ import annotations

import pytest

from bot.markup import MarkupError, parse, plain_length, to_html, to_html_paragraphs, to_plain

SAMPLE = """**Go to A&E.** It is free.

- Call **999** <now>
- See [NHS 111](https://111.nhs.uk/) & ask"""


def test_html_escapes_everything_but_our_tags() -> None:
    assert to_html(SAMPLE) == (
        "<b>Go to A&amp;E.</b> It is free.\n\n"
        "• Call <b>999</b> &lt;now&gt;\n"
        '• See <a href="https://111.nhs.uk/">NHS 111</a> &amp; ask'
    )


def test_plain_text_shows_link_targets() -> None:
    assert to_plain(SAMPLE).splitlines()[-1] == "• See NHS 111 (https://111.nhs.uk/) & ask"


def test_paragraphs_are_split_points() -> None:
    assert len(to_html_paragraphs(SAMPLE)) == 2


def test_plain_length_counts_what_telegram_counts() -> None:
    assert plain_length("**a&b**") == 3


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("ok\n\n**never closed", 2, "not closed"),
        ("[x](http://insecure.example)", 0, "https://"),
        ("see [x] (https://a.example)", None, None),  # not a link: shown as typed
        ("- ", 0, "empty bullet"),
        ("broken [x](https://a.example", 0, "broken link"),
    ],
)
def test_markup_errors_have_lines(text: str, line: int | None, fragment: str | None) -> None:
    if fragment is None:
        parse(text)
        return
    with pytest.raises(MarkupError) as info:
        parse(text)
    assert info.value.line == line
    assert fragment in info.value.message
