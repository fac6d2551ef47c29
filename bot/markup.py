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


def _span_html(span: Span, rtl: bool = False) -> str:
    out = html.escape(isolate_ltr(span.text) if rtl else span.text, quote=False)
    if span.url:
        out = f'<a href="{html.escape(span.url, quote=True)}">{out}</a>'
    if span.bold:
        out = f"<b>{out}</b>"
    return out


def _span_plain(span: Span, rtl: bool = False) -> str:
    text = isolate_ltr(span.text) if rtl else span.text
    if span.url:
        return f"{text} ({FSI}{span.url}{PDI})" if rtl else f"{text} ({span.url})"
    return text


def _render(markup: str, span_fn, rtl: bool = False) -> list[str]:
    out: list[str] = []
    for para in parse(markup):
        lines = []
        # Only paragraphs with right-to-left letters need isolates; an English fallback
        # paragraph inside an Arabic reply stays as it is.
        mixed = rtl and any(_has_rtl(s.text) for line in para.lines for s in line.spans)
        for line in para.lines:
            body = "".join(span_fn(s, mixed) for s in line.spans)
            lines.append(f"{BULLET} {body}" if line.bullet else body)
        out.append("\n".join(lines))
    return out


def to_html_paragraphs(markup: str, rtl: bool = False) -> list[str]:
    """Telegram HTML, one string per paragraph: each is a safe place to split a message."""
    return _render(markup, _span_html, rtl)


def to_html(markup: str, rtl: bool = False) -> str:
    return "\n\n".join(to_html_paragraphs(markup, rtl))


def to_plain(markup: str, rtl: bool = False) -> str:
    return "\n\n".join(_render(markup, _span_plain, rtl))


def plain_length(markup: str) -> int:
    """Characters Telegram counts for the rendered HTML (tags do not count, entities are one)."""
    text = re.sub(r"<[^>]+>", "", to_html(markup))
    return len(html.unescape(text))


def escape(text: str) -> str:
    """Make arbitrary text (user input, names) safe to embed in markup."""
    return text.replace("**", "* *").replace("[", "(").replace("]", ")")


# --------------------------------------------------------------------------- translation units


@dataclass(frozen=True, slots=True)
class Unit:
    """One translatable piece of an answer: a bullet, or the text lines of a paragraph.

    Translators get one msgid per unit, so a typo fixed in one paragraph makes only that
    paragraph's translation out of date.
    """

    text: str
    bullet: bool
    paragraph: int  # units with the same number belong to one paragraph
    line: int  # from 0, within the markup


def units(markup: str) -> list[Unit]:
    out: list[Unit] = []
    paragraph = 0
    pending: list[str] = []
    pending_line = 0
    started = False

    def flush() -> None:
        nonlocal pending
        if pending:
            out.append(Unit("\n".join(pending), False, paragraph, pending_line))
            pending = []

    for line_no, raw in enumerate(markup.strip("\n").split("\n")):
        stripped = raw.strip()
        if not stripped:
            flush()
            if started:
                paragraph += 1
                started = False
            continue
        started = True
        if stripped.startswith("- "):
            flush()
            out.append(Unit(stripped[2:].strip(), True, paragraph, line_no))
        else:
            if not pending:
                pending_line = line_no
            pending.append(stripped)
    flush()
    return out


def join_units(items: list[tuple[Unit, str]]) -> str:
    """Markup again from (unit, text) pairs, keeping the paragraph structure."""
    paragraphs: dict[int, list[str]] = {}
    for unit, text in items:
        paragraphs.setdefault(unit.paragraph, []).append(f"- {text}" if unit.bullet else text)
    return "\n\n".join("\n".join(lines) for _n, lines in sorted(paragraphs.items()))


# --------------------------------------------------------------------------- right to left

FSI, PDI = "\u2068", "\u2069"
_LTR_RUN = re.compile(
    r"[A-Za-z0-9\u00c0-\u024f][A-Za-z0-9\u00c0-\u024f&@.,:/+\-'’()£%]*(?:\s+[A-Za-z0-9\u00c0-\u024f£+(][A-Za-z0-9\u00c0-\u024f&@.,:/+\-'’()£%]*)*"
)


def _has_rtl(text: str) -> bool:
    return any("\u0590" <= ch <= "\u08ff" or "\ufb50" <= ch <= "\ufeff" for ch in text)


def isolate_ltr(text: str) -> str:
    """Wrap left-to-right runs (numbers, phone numbers, English names, URLs) in FSI/PDI.

    In a right-to-left paragraph, isolated runs keep their own direction and no longer
    decide the paragraph's direction, so "NHS 111" at the start of an Arabic sentence
    does not flip the whole paragraph to left-to-right.
    """
    return _LTR_RUN.sub(
        lambda m: (
            f"{FSI}{m.group(0).rstrip('.,:')}{PDI}" + m.group(0)[len(m.group(0).rstrip(".,:")) :]
        ),
        text,
    )
