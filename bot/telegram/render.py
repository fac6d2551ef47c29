"""Reply -> Telegram: HTML message chunks of at most 4096 characters, and inline keyboards.

Telegram counts a message's length after parsing the HTML (tags are free, `&amp;` is one
character). Chunks are cut between blocks first, then between paragraphs, lines and words,
never inside a tag or an entity; a tag left open at a cut is closed at the end of the chunk
and reopened at the start of the next, so every chunk is valid HTML on its own.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.markup import MarkupError, to_html
from bot.replies import Button, Reply

log = logging.getLogger("bot.telegram.render")

MAX_TEXT = 4096
MAX_CALLBACK_BYTES = 64
BLOCK_SEPARATOR = "\n\n"

_ATOM = re.compile(r"<[^<>]*>|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]+);|[\s\S]")
_TAG_NAME = re.compile(r"</?\s*([A-Za-z][A-Za-z0-9-]*)")
_TAGS = re.compile(r"<[^<>]*>")


def text_units(text: str) -> int:
    """Length as Telegram measures it: UTF-16 code units (astral characters count 2)."""
    return len(text.encode("utf-16-le")) // 2


def visible_text(html_text: str) -> str:
    """The text a reader sees: tags removed, entities decoded, ends trimmed (as Telegram)."""
    return html.unescape(_TAGS.sub("", html_text)).strip()


def visible_length(html_text: str) -> int:
    return text_units(visible_text(html_text))


def markup_to_html(markup: str, rtl: bool = False) -> str:
    """Content markup -> Telegram HTML; text that is not valid markup is shown escaped.

    `rtl`: isolate left-to-right runs in right-to-left paragraphs (bot.markup.isolate_ltr).
    """
    try:
        return to_html(markup, rtl=rtl)
    except MarkupError:
        return html.escape(markup, quote=False)


# --------------------------------------------------------------------------- splitting


@dataclass(frozen=True, slots=True)
class _Atom:
    text: str
    width: int  # visible UTF-16 units
    tag: str | None = None  # tag name for tags
    closing: bool = False


def _atoms(html_text: str) -> list[_Atom]:
    atoms = []
    for m in _ATOM.finditer(html_text):
        token = m.group(0)
        if len(token) > 1 and token[0] == "<":
            name = _TAG_NAME.match(token)
            atoms.append(
                _Atom(token, 0, name.group(1).lower() if name else "", token.startswith("</"))
            )
        elif len(token) > 1 and token[0] == "&":
            atoms.append(_Atom(token, text_units(html.unescape(token))))
        else:
            atoms.append(_Atom(token, text_units(token)))
    return atoms


def _close(stack: Sequence[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def _open(stack: Sequence[tuple[str, str]]) -> str:
    return "".join(opening for _, opening in stack)


def split_html(html_text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split one HTML string into chunks whose visible length is at most `limit`."""
    html_text = html_text.strip()
    if not visible_text(html_text):
        return []  # tags and spaces only: Telegram would refuse it as empty
    if visible_length(html_text) <= limit:
        return [html_text]
    atoms = _atoms(html_text)
    chunks: list[str] = []
    carried: list[tuple[str, str]] = []  # tags open at the previous cut, reopened here
    i = 0
    while i < len(atoms):
        while i < len(atoms) and atoms[i].tag is None and atoms[i].text.isspace():
            i += 1  # a chunk never starts with whitespace (Telegram would trim it)
        if i >= len(atoms):
            break
        stack = list(carried)
        count = 0
        # best cut per priority: 3 paragraph, 2 line, 1 word; value (position, count, stack)
        best: dict[int, tuple[int, int, list[tuple[str, str]]]] = {}
        j = i
        while j < len(atoms):
            atom = atoms[j]
            if atom.tag is not None:
                if atom.closing:
                    if stack and stack[-1][0] == atom.tag:
                        stack.pop()
                else:
                    stack.append((atom.tag, atom.text))
                j += 1
                continue
            if count + atom.width > limit:
                break
            count += atom.width
            j += 1
            if atom.text == "\n":
                prio = 3 if j >= 2 and atoms[j - 2].text == "\n" else 2
                best[prio] = (j, count, list(stack))
            elif atom.text.isspace():
                best[1] = (j, count, list(stack))
        if j >= len(atoms):
            cut, cut_stack = j, stack
        else:
            cut, cut_stack = j, list(stack)  # no boundary at all: cut between characters
            for prio in (3, 2, 1):
                if prio in best and best[prio][1] >= limit // 2:
                    cut, _count, cut_stack = best[prio]
                    break
            else:
                if best:
                    cut, _count, cut_stack = best[max(best, key=lambda p: best[p][0])]
        if cut == i:  # one character wider than the limit: take it anyway, never loop
            cut, cut_stack = i + 1, list(carried)
        body = "".join(a.text for a in atoms[i:cut])
        chunk = (_open(carried) + body).rstrip() + _close(cut_stack)
        if visible_text(chunk):
            chunks.append(chunk)
        carried = cut_stack
        i = cut
    return chunks


def pack_html(blocks: Iterable[str], limit: int = MAX_TEXT) -> list[str]:
    """Join HTML blocks with blank lines into as few chunks as fit, splitting big blocks."""
    chunks: list[str] = []
    current = ""
    for block in blocks:
        block = block.strip()
        if not visible_text(block):
            continue  # nothing a reader would see (Telegram refuses empty messages)
        candidate = f"{current}{BLOCK_SEPARATOR}{block}" if current else block
        if visible_length(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
            current = ""
        if visible_length(block) <= limit:
            current = block
        else:
            parts = split_html(block, limit)
            chunks.extend(parts[:-1])
            current = parts[-1] if parts else ""
    if current:
        chunks.append(current)
    return chunks


# --------------------------------------------------------------------------- keyboards


def callback_data_ok(data: str) -> bool:
    return 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES


def keyboard(rows: Iterable[Iterable[Button]]) -> InlineKeyboardMarkup | None:
    """Inline keyboard from button rows; a button whose data Telegram would refuse
    (over 64 bytes, or empty) is left out and logged, so the message still goes out."""
    out: list[list[InlineKeyboardButton]] = []
    for row in rows:
        buttons = []
        for button in row:
            if not callback_data_ok(button.data) or not button.label.strip():
                log.error(
                    "dropped a button with invalid callback data (%d bytes)",
                    len(button.data.encode("utf-8")),
                )
                continue
            buttons.append(InlineKeyboardButton(button.label, callback_data=button.data))
        if buttons:
            out.append(buttons)
    return InlineKeyboardMarkup(out) if out else None


@dataclass(frozen=True, slots=True)
class Rendered:
    chunks: list[str]
    markup: InlineKeyboardMarkup | None


def render_reply(
    reply: Reply,
    *,
    before: Sequence[str] = (),
    extra_rows: Sequence[Sequence[Button]] = (),
    limit: int = MAX_TEXT,
) -> Rendered:
    """A core Reply as HTML chunks plus its keyboard (for the last chunk).

    `before` are markup blocks shown first (a greeting); `extra_rows` are buttons the
    Telegram layer adds (the language button).
    """
    blocks = [markup_to_html(b, reply.rtl) for b in (*before, *reply.blocks)]
    return Rendered(pack_html(blocks, limit), keyboard((*reply.buttons, *extra_rows)))


def render_markup(
    blocks: Sequence[str], rows: Sequence[Sequence[Button]] = (), limit: int = MAX_TEXT
) -> Rendered:
    """Interface text (markup blocks) and buttons that did not come from the core."""
    return Rendered(pack_html([markup_to_html(b) for b in blocks], limit), keyboard(rows))
