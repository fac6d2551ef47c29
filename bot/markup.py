"""The answer markup: paragraphs, `- ` bullets, `**bold**` and `[text](https://...)` links.

Editors write this small subset once; it renders to Telegram HTML (everything else escaped,
so a stray `<` or `&` can never break a message) and to plain console text. Parsing is
strict so that `validate` can point at the exact line of a mistake.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

_LINK = re.compile(r"\[([^\[\]\n]+)\]\(([^()\s]+)\)")
_TOKEN = re.compile(r"\*\*|\[[^\[\]\n]+\]\([^()\s]+\)")
BULLET = "•"


class MarkupError(ValueError):
    """A mistake in answer markup; `line` counts from 0 within the markup text."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True, slots=True)
class Span:
    text: str
    bold: bool = False
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Line:
    spans: tuple[Span, ...]
    bullet: bool


@dataclass(frozen=True, slots=True)
class Paragraph:
    lines: tuple[Line, ...]


def _parse_inline(text: str, line_no: int) -> tuple[Span, ...]:
    spans: list[Span] = []
    bold = False
    pos = 0
    for m in _TOKEN.finditer(text):
        if m.start() > pos:
            spans.append(Span(text[pos : m.start()], bold))
        token = m.group(0)
        if token == "**":
            bold = not bold
        else:
            link = _LINK.fullmatch(token)
            assert link is not None
            label, url = link.group(1), link.group(2)
            if not url.startswith("https://") or len(url) <= len("https://"):
                raise MarkupError(line_no, f"link must start with https:// (got {url!r})")
            spans.append(Span(label, bold, url))
        pos = m.end()
    if pos < len(text):
        spans.append(Span(text[pos:], bold))
    if bold:
        raise MarkupError(line_no, "'**' opened but not closed on this line")
    for span in spans:
        if span.url is None and ("](" in span.text or re.search(r"\[[^\]]*\]\(", span.text)):
            raise MarkupError(line_no, "broken link: write [text](https://...)")
    return tuple(s for s in spans if s.text)


def parse(markup: str) -> tuple[Paragraph, ...]:
    """Parse markup into paragraphs; raises MarkupError at the first mistake."""
    paragraphs: list[Paragraph] = []
    current: list[Line] = []
    for line_no, raw in enumerate(markup.strip("\n").split("\n")):
        stripped = raw.strip()
        if not stripped:
            if current:
                paragraphs.append(Paragraph(tuple(current)))
                current = []
            continue
        bullet = stripped.startswith("- ") or stripped == "-"
        text = stripped[1:].strip() if bullet else stripped
        if bullet and not text:
            raise MarkupError(line_no, "empty bullet")
        current.append(Line(_parse_inline(text, line_no), bullet))
    if current:
        paragraphs.append(Paragraph(tuple(current)))
    return tuple(paragraphs)


def _span_html(span: Span) -> str:
    out = html.escape(span.text, quote=False)
    if span.url:
        out = f'<a href="{html.escape(span.url, quote=True)}">{out}</a>'
    if span.bold:
        out = f"<b>{out}</b>"
    return out


def _span_plain(span: Span) -> str:
    return f"{span.text} ({span.url})" if span.url else span.text


def _render(markup: str, span_fn, line_sep: str = "\n") -> list[str]:
    out: list[str] = []
    for para in parse(markup):
        lines = []
        for line in para.lines:
            body = "".join(span_fn(s) for s in line.spans)
            lines.append(f"{BULLET} {body}" if line.bullet else body)
        out.append(line_sep.join(lines))
    return out


def to_html_paragraphs(markup: str) -> list[str]:
    """Telegram HTML, one string per paragraph: each is a safe place to split a message."""
    return _render(markup, _span_html)


def to_html(markup: str) -> str:
    return "\n\n".join(to_html_paragraphs(markup))


def to_plain(markup: str) -> str:
    return "\n\n".join(_render(markup, _span_plain))


def plain_length(markup: str) -> int:
    """Characters Telegram counts for the rendered HTML (tags do not count, entities are one)."""
    text = re.sub(r"<[^>]+>", "", to_html(markup))
    return len(html.unescape(text))


def escape(text: str) -> str:
    """Make arbitrary text (user input, names) safe to embed in markup."""
    return text.replace("**", "* *").replace("[", "(").replace("]", ")")
