"""Small pieces of the Telegram layer: splitting, keyboards, config, log redaction.

Chunks are checked with the fake server's own HTML parser, i.e. the same rules the
end-to-end tests and Telegram enforce.
"""

from __future__ import annotations

import io
import logging
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_bot_api import ApiError, check_reply_markup, check_text, parse_html

from bot.config import Config, ConfigError
from bot.replies import Button, Outcome, Reply
from bot.telegram.handlers import parse_start_payload
from bot.telegram.logs import RedactingFilter, redact, setup_logging
from bot.telegram.render import (
    keyboard,
    pack_html,
    render_reply,
    split_html,
    visible_length,
)

TOKEN = "123456789:AAE" + "x" * 32


def valid(chunk: str) -> str:
    """The text Telegram would show; raises if Telegram would refuse the chunk."""
    text, _entities = check_text(chunk, "HTML")
    return text


def shown(html_text: str) -> str:
    """Visible text of any length (for comparing before and after splitting)."""
    return parse_html(html_text)[0]


# --------------------------------------------------------------------------- splitting


def test_short_reply_is_one_chunk() -> None:
    reply = Reply(("**Title**", "Body & <stuff>"), Outcome.ANSWER, lang="en")
    rendered = render_reply(reply)
    assert rendered.chunks == ["<b>Title</b>\n\nBody &amp; &lt;stuff&gt;"]
    assert valid(rendered.chunks[0]) == "Title\n\nBody & <stuff>"


def test_blocks_are_packed_and_never_cut_when_they_fit() -> None:
    blocks = [f"<b>block {i}</b> " + "word " * 150 for i in range(20)]
    chunks = pack_html(blocks)
    assert len(chunks) > 1
    for chunk in chunks:
        assert visible_length(chunk) <= 4096
        assert chunk.startswith("<b>block ")
        valid(chunk)
    assert "".join(chunks).count("<b>block") == 20


def test_a_huge_paragraph_is_split_on_words_with_tags_closed_and_reopened() -> None:
    text = (
        "<b>" + "bold words here " * 600 + "</b>" + '<a href="https://x.org/?a=1&amp;b=2">link</a>'
    )
    chunks = split_html(text, 4096)
    assert len(chunks) >= 3
    parts = [valid(c) for c in chunks]
    assert all(len(s) <= 4096 for s in parts)
    assert chunks[1].startswith("<b>") and chunks[0].endswith("</b>")
    assert " ".join(parts).split() == shown(text).split()  # nothing lost, nothing doubled


def test_paragraph_boundaries_are_preferred() -> None:
    para = "x" * 1500
    text = "\n\n".join([para] * 5)
    chunks = split_html(text, 4096)
    assert [len(valid(c)) for c in chunks] == [1500 * 2 + 2, 1500 * 2 + 2, 1500]


def test_entities_and_astral_characters_count_like_telegram() -> None:
    assert visible_length("&amp;&lt;<b>x</b>") == 3
    assert visible_length("😀") == 2  # one UTF-16 surrogate pair
    chunks = split_html("😀" * 3000, 4096)
    assert [len(valid(c).encode("utf-16-le")) // 2 for c in chunks] == [4096, 1904]


def test_random_html_always_splits_into_valid_chunks() -> None:
    rng = random.Random(7)
    pieces = ["word", "&amp;", "&lt;", "é", "😀", " ", " ", "\n", "\n\n", "Ω"]
    for _ in range(40):
        out = []
        for _ in range(rng.randint(50, 2500)):
            if rng.random() < 0.05:
                tag = rng.choice(["b", "i", "u"])
                out.append(f"<{tag}>{rng.choice(pieces) * rng.randint(1, 30)}</{tag}>")
            elif rng.random() < 0.02:
                out.append(
                    '<a href="https://nhs.uk/a">' + "link text " * rng.randint(1, 5) + "</a>"
                )
            else:
                out.append(rng.choice(pieces))
        text = "".join(out)
        limit = rng.choice([50, 300, 4096])
        chunks = split_html(text, limit)
        for chunk in chunks:
            assert len(valid(chunk).encode("utf-16-le")) // 2 <= limit

        def squeeze(t: str) -> str:
            return "".join(t.split())

        assert squeeze("".join(valid(c) for c in chunks)) == squeeze(shown(text))


# --------------------------------------------------------------------------- keyboards


def test_keyboard_drops_buttons_telegram_would_refuse(caplog) -> None:
    rows = [
        (Button("t:gp-registration", "GP"), Button("x" * 65, "too long")),
        (Button("t:" + "é" * 32, "multibyte: 66 bytes"),),
        (Button("menu", "All topics"),),
    ]
    markup = keyboard(rows)
    data = [b.callback_data for row in markup.inline_keyboard for b in row]
    assert data == ["t:gp-registration", "menu"]
    check_reply_markup(markup.to_dict())
    assert "dropped a button" in caplog.text


def test_fake_server_refuses_what_telegram_refuses() -> None:
    with pytest.raises(ApiError, match="BUTTON_DATA_INVALID"):
        check_reply_markup({"inline_keyboard": [[{"text": "a", "callback_data": "x" * 65}]]})
    for bad in (
        "<p>x</p>",
        "<b>x",
        "x</b>",
        "<b><i>x</b></i>",
        "a < b",
        '<span class="x">y</span>',
    ):
        with pytest.raises(ApiError, match="can't parse entities"):
            parse_html(bad)
    with pytest.raises(ApiError, match="too long"):
        check_text("a" * 4097, None)
    assert check_text("<b>" + "a" * 4096 + "</b>", "HTML")[0] == "a" * 4096
    assert parse_html("fish & chips &amp; &#128512;")[0] == "fish & chips & 😀"


# --------------------------------------------------------------------------- deep links


@pytest.mark.parametrize(
    "payload, expected",
    [
        ("gp-registration", ("gp-registration", None)),
        ("gp-registration-fr", ("gp-registration", "fr")),
        ("gp-registration-pt-br", ("gp-registration", "pt-br")),
        ("GP-Registration-AR", ("gp-registration", "ar")),
        ("gp", (None, None)),
        ("gp-registration-", (None, None)),
        ("gp-registration-toolonglang", (None, None)),
        ("", (None, None)),
    ],
)
def test_start_payload(payload: str, expected: tuple) -> None:
    assert parse_start_payload(payload, {"gp-registration": 1, "gp-refused": 1}) == expected


# --------------------------------------------------------------------------- config


def env(**values: str) -> dict[str, str]:
    return {"TELEGRAM_BOT_TOKEN": TOKEN, **values}


def test_config_defaults() -> None:
    config = Config.from_env(env())
    assert config.api_base_url == "https://api.telegram.org/bot"
    assert config.data_dir == Path("./data")
    assert config.rate_limit == 30 and config.log_level == "INFO" and config.port == 8443
    assert TOKEN not in repr(config)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"TELEGRAM_BOT_TOKEN": ""}, "not set"),
        ({"TELEGRAM_BOT_TOKEN": "12345"}, "malformed"),
        ({"TELEGRAM_BOT_TOKEN": "abc:" + "x" * 35}, "malformed"),
        ({"BOT_RATE_LIMIT": "fast"}, "BOT_RATE_LIMIT"),
        ({"BOT_RATE_LIMIT": "-1"}, "BOT_RATE_LIMIT"),
        ({"PORT": "99999"}, "PORT"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"BOT_SECRET": "short"}, "BOT_SECRET"),
        ({"WEBHOOK_SECRET": "has spaces"}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_URL": "http://example.org/hook"}, "https"),
        ({"TELEGRAM_API_BASE_URL": "api.telegram.org"}, "TELEGRAM_API_BASE_URL"),
    ],
)
def test_config_errors_are_one_clear_line(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        Config.from_env(env(**values))
    assert "\n" not in str(info.value)


def test_config_webhook_values(tmp_path: Path) -> None:
    config = Config.from_env(
        env(
            WEBHOOK_URL="https://bot.example.org/tg/hook",
            BOT_SECRET="k" * 40,
            BOT_RATE_LIMIT="0",
            LOG_LEVEL="debug",
        )
    )
    assert config.webhook_path() == "tg/hook"
    secret = config.effective_webhook_secret()
    assert secret == config.effective_webhook_secret() and len(secret) == 64
    assert config.rate_limit == 0 and config.log_level == "DEBUG"
    explicit = Config.from_env(env(WEBHOOK_SECRET="abc_DEF-123", BOT_SECRET="k" * 40))
    assert explicit.effective_webhook_secret() == "abc_DEF-123"


# --------------------------------------------------------------------------- logs


def test_redact_removes_ids_text_and_tokens() -> None:
    line = (
        "Webhook received data: {'update_id': 1, 'message': {'text': 'I have no visa'}} "
        f"POST https://api.telegram.org/bot{TOKEN}/sendMessage chat_id=424242001 "
        'text: "my words"'
    )
    out = redact(line)
    for leaked in ("no visa", TOKEN, "424242001", "my words"):
        assert leaked not in out


def test_library_loggers_stay_quiet_and_redacted_at_debug() -> None:
    stream = io.StringIO()
    handler = setup_logging("DEBUG", stream=stream)
    try:
        logging.getLogger("telegram.ext.Updater").debug("Webhook received data: %s", "secret")
        logging.getLogger("httpx").info("HTTP Request: POST https://x/bot%s/getMe", TOKEN)
        logging.getLogger("telegram.ext.Updater").critical(
            "Received data was: %r",
            {"message": {"text": "private words", "chat": {"id": 4242424}}},
        )
        logging.getLogger("bot.telegram").debug("update=message outcome=answer")
        try:
            raise ValueError("bad value 'private words' for 4242424")
        except ValueError:
            logging.getLogger("bot.telegram").exception("update=message outcome=error")
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger("bot").setLevel(logging.NOTSET)
    logs = stream.getvalue()
    assert "secret" not in logs and TOKEN not in logs
    assert "private words" not in logs and "4242424" not in logs
    assert "CRITICAL telegram.ext.Updater: Received data was: <payload>" in logs
    assert "outcome=answer" in logs  # our own DEBUG lines do appear
    assert "ValueError" in logs and "Traceback" not in logs
    assert logging.getLogger("telegram").level >= logging.WARNING
    assert logging.getLogger("httpx").level >= logging.WARNING
    assert any(isinstance(f, RedactingFilter) for f in logging.getLogger("telegram").filters)
