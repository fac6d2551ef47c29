"""Property tests (Hypothesis): what must hold for any input, not just the examples we thought of.

- The engine (matcher, emergency detection, language detection) never raises on arbitrary
  Unicode: `ask`, `search` and `press`.
- The message splitter never makes a chunk longer than Telegram's 4096 (UTF-16 units, after
  parsing) and never breaks a tag or an entity: every chunk passes the fake Bot API
  server's HTML parser, which follows Telegram's; nothing is lost or doubled.
- Every button of every topic, in every language (shipped or only present in locales/),
  fits Telegram's 64 bytes of callback_data; so do the Telegram layer's own buttons.
"""

from __future__ import annotations

import html
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))

from fake_bot_api import check_text, parse_html

from bot.content import default_content_dir
from bot.engine import Engine
from bot.i18n import Locales, default_locales_dir, shipped_languages
from bot.replies import Button, Outcome, Reply
from bot.telegram.handlers import FORGET_NO, FORGET_YES, LANG_MENU, LANG_PREFIX
from bot.telegram.render import (
    MAX_CALLBACK_BYTES,
    MAX_TEXT,
    pack_html,
    render_reply,
    split_html,
    text_units,
)

FAST = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --------------------------------------------------------------------------- the engine

any_text = st.text(max_size=160)
# Text built from the words people use, mangled: reaches the matcher's deeper paths.
WORDS = tuple(
    [
        "gp",
        "doctor",
        "register",
        "passport",
        "visa",
        "hospital",
        "free",
        "pay",
        "a&e",
        "999",
        "pregnant",
        "baby",
        "chest",
        "pain",
        "طبيب",
        "مستشفى",
        "лікар",
        "лекарь",
        "médecin",
        "lekarz",
        "ڈاکٹر",
        "پزشک",
        "🏥",
    ]
)
words = st.sampled_from(WORDS)
wordy_text = st.lists(
    st.one_of(words, st.text(min_size=1, max_size=8)), min_size=1, max_size=30
).map(" ".join)


def every_language() -> list[str]:
    """Shipped languages plus every folder in locales/ (shipped or not)."""
    codes = {lg.code for lg in shipped_languages()}
    codes.update(p.name for p in default_locales_dir().iterdir() if p.is_dir())
    return sorted(codes)


# The handlers always pass a language resolved by Locales.resolve: English or a folder's code.
languages = st.sampled_from(every_language())


@FAST
@given(text=st.one_of(any_text, wordy_text), lang=languages)
def test_engine_ask_never_raises(engine: Engine, text: str, lang: str) -> None:
    reply = engine.ask(text, lang)
    assert isinstance(reply.outcome, Outcome)
    assert reply.blocks
    render_reply(reply)  # and it renders


@FAST
@given(text=st.one_of(any_text, wordy_text), lang=languages, limit=st.integers(1, 50))
def test_engine_search_never_raises(engine: Engine, text: str, lang: str, limit: int) -> None:
    found = engine.search(text, lang, limit=limit)
    assert len(found) <= limit
    assert all(t.id in engine.catalogue.topics for t in found)


@FAST
@given(data=st.one_of(st.text(max_size=80), st.sampled_from(["t:", "c:", "menu"]).map(str)))
def test_engine_press_never_raises(engine: Engine, data: str) -> None:
    assert engine.press(data).blocks


def test_engine_handles_very_long_text(engine: Engine) -> None:
    for text in ("gp " * 20000, "🏥" * 50000, "a" * 100000):
        assert engine.ask(text).blocks
        engine.search(text)


# --------------------------------------------------------------------------- the splitter

# Telegram HTML as the renderer produces it: escaped text, the entities Telegram knows,
# the tags it supports (nested), links, and blank lines, line breaks and spaces to cut at.
raw_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40
).map(lambda t: html.escape(t, quote=False))
entity = st.sampled_from(["&lt;", "&gt;", "&amp;", "&quot;", "&#128512;", "&#x1F3E5;", "&#65;"])
breaks = st.sampled_from(["\n\n", "\n", " ", "  ", " \n"])
leaf = st.one_of(raw_text, entity, breaks, st.just("🏥"), st.just("word " * 5))
SIMPLE_TAGS = ["b", "i", "u", "s", "code", "tg-spoiler", "blockquote", "em", "strong"]


def wrap(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    def tag(pair: tuple[str, list[str]]) -> str:
        name, parts = pair
        inner = "".join(parts)
        if name == "a":
            return f'<a href="https://www.nhs.uk/?a=1&amp;b=2">{inner}</a>'
        if name == "span":
            return f'<span class="tg-spoiler">{inner}</span>'
        if name == "pre":
            return f'<pre><code class="language-text">{inner}</code></pre>'
        return f"<{name}>{inner}</{name}>"

    names = st.sampled_from([*SIMPLE_TAGS, "a", "span", "pre"])
    return st.tuples(names, st.lists(children, min_size=1, max_size=6)).map(tag)


def no_tags_inside_code(html_text: str) -> bool:
    """Telegram refuses tags nested in <pre>/<code> (other than <code> in <pre>)."""
    try:
        parse_html(html_text)
    except Exception:
        return False
    return True


telegram_html = (
    st.recursive(leaf, lambda children: st.one_of(wrap(children), children), max_leaves=30)
    .map(str)
    .filter(no_tags_inside_code)
)
documents = st.lists(telegram_html, min_size=1, max_size=12).map("".join)


def flat(lists) -> list[str]:
    return [item for sub in lists for item in sub]


def words_of(html_text: str) -> list[str]:
    return parse_html(html_text)[0].split()


@FAST
@given(doc=documents, limit=st.integers(min_value=8, max_value=300))
def test_split_html_small_limits(doc: str, limit: int) -> None:
    """Small limits make many cuts: inside tags, links, entities and astral characters."""
    chunks = split_html(doc, limit)
    for chunk in chunks:
        text, _entities = check_text(chunk, "HTML")  # raises if Telegram would refuse it
        assert text_units(text) <= limit, (limit, chunk)
    assert flat(words_of(c) for c in chunks) == _rejoined_words(doc, chunks)


def _rejoined_words(doc: str, chunks: list[str]) -> list[str]:
    """The document's words, allowing a word cut where no space was near (a long word)."""
    original = words_of(doc)
    got = flat(words_of(c) for c in chunks)
    if "".join(got) == "".join(original):
        return got  # nothing lost or doubled; a long word may be cut in two
    return original


@settings(FAST, max_examples=40)
@given(doc=documents, repeat=st.integers(min_value=1, max_value=120))
def test_split_html_at_telegrams_limit(doc: str, repeat: int) -> None:
    big = doc * repeat
    chunks = split_html(big, MAX_TEXT)
    for chunk in chunks:
        text, _entities = check_text(chunk, "HTML")
        assert text_units(text) <= MAX_TEXT
    assert "".join("".join(words_of(c)) for c in chunks) == "".join(words_of(big))


@FAST
@given(blocks=st.lists(st.text(max_size=2000), min_size=1, max_size=8), rtl=st.booleans())
def test_any_reply_renders_into_valid_messages(blocks: list[str], rtl: bool) -> None:
    """Whatever text a reply holds (content markup or not), Telegram accepts every chunk."""
    reply = Reply(tuple(blocks), Outcome.ANSWER, lang="ar" if rtl else "en")
    rendered = render_reply(reply, limit=500)
    for chunk in rendered.chunks:
        text, _entities = check_text(chunk, "HTML")
        assert text_units(text) <= 500


@FAST
@given(blocks=st.lists(telegram_html, min_size=1, max_size=12), limit=st.integers(20, 400))
def test_pack_html_keeps_blocks_valid(blocks: list[str], limit: int) -> None:
    for chunk in pack_html(blocks, limit):
        text, _entities = check_text(chunk, "HTML")
        assert text_units(text) <= limit


# --------------------------------------------------------------------------- buttons


@pytest.fixture(scope="module")
def all_locales_engine(engine: Engine) -> Engine:
    """The shipped content with every folder in locales/ (shipped or not)."""
    return Engine(engine.catalogue, matcher=engine.matcher, locales=Locales())


def all_buttons(reply: Reply) -> list[Button]:
    return [button for row in reply.buttons for button in row]


def fits(data: str) -> bool:
    return 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES


@pytest.mark.parametrize("lang", every_language())
def test_every_button_of_every_topic_fits_64_bytes(all_locales_engine: Engine, lang: str) -> None:
    engine = all_locales_engine
    replies = [engine.menu(lang), engine.press("forged", lang)]
    for topic_id, topic in engine.catalogue.topics.items():
        replies.append(engine.topic_reply(topic_id, lang))
        replies.append(engine.press(topic.button, lang))
        if topic.card:
            replies.append(engine.card(topic_id, lang))
    # answers to questions carry did-you-mean and language-switch buttons too
    replies += [engine.ask(q, lang) for q in ("gp", "hospital bill", "طبيب", "лікар", "hello")]
    checked = 0
    for reply in replies:
        for button in all_buttons(reply):
            assert fits(button.data), (lang, button.data)
            assert button.label.strip(), (lang, button.data)
            checked += 1
        # and the keyboard Telegram gets keeps every button (none dropped as invalid)
        markup = render_reply(reply).markup
        kept = sum(len(row) for row in markup.inline_keyboard) if markup else 0
        assert kept == len(all_buttons(reply))
    assert checked > len(engine.catalogue.topics)


def test_telegram_layer_buttons_fit_64_bytes() -> None:
    for data in (LANG_MENU, FORGET_YES, FORGET_NO):
        assert fits(data)
    for code in every_language():
        assert fits(LANG_PREFIX + code), code


def test_deep_links_fit_telegrams_start_parameter() -> None:
    """`t.me/<bot>?start=<topic>-<lang>`: at most 64 characters of A-Z a-z 0-9 _ -."""
    import re

    from bot.content import load_catalogue

    catalogue = load_catalogue(default_content_dir())
    for topic_id in catalogue.topics:
        for code in every_language():
            payload = f"{topic_id}-{code}"
            assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", payload), payload
