"""Whatever people (and Telegram) send, the bot answers sensibly or ignores it on purpose.

The real application polls the fake Bot API server, which enforces Telegram's rules on
every reply (HTML, 4096 characters, 64-byte callback data, answered queries). Each test
checks what the server received and that no error ever reached the error handlers.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import aiohttp
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from conftest import (
    ALICE,
    CAROL,
    GP,
    HOOK_SECRET,
    Harness,
    buttons,
    text_of,
    webhook_bot,
)
from fake_bot_api import BOT_USERNAME, FakeUser

ONLY_TEXT = "only read text"
EXPIRED = "expired"


def topic_buttons(call) -> list[str]:
    return [b for b in buttons(call) if b.startswith("t:")]


async def ask(bot: Harness, user: FakeUser, text: str):
    """Send `text`; the bot's reply (which the fake server has validated)."""
    reply = await bot.say(user, text)
    assert reply.ok
    return reply


def assert_clean(bot: Harness) -> None:
    """No error reached the error handlers and Telegram refused nothing."""
    assert bot.errors == []
    refused = [c for c in bot.api.calls if not c.ok and c.method != "getUpdates"]
    assert refused == [], [(c.method, c.response) for c in refused]


# --------------------------------------------------------------------------- odd text


ODD_TEXTS = {
    "whitespace": " \t \n  ",
    "zero-width": "\u200b\u200c\u200d\u2060\ufeff",
    "control": "gp\x00\x01\x07\x1b[31m\x7f\x85 register",
    "bidi marks": "\u202egp register\u202c \u2066طبيب\u2069 \u200f\u200e",
    "emoji only": "🤒🏥🙏🏽👨‍👩‍👧",
    "mixed scripts": "GP регистрация طبيب 医生 ڈاکٹر rejestracja",
    "html-ish": "<b>gp</b> &amp; &lt;script&gt; </i> <a href='x'>",
    "markup-ish": "**gp** __x__ [link](javascript:alert(1)) `code` ~~s~~",
    "combining": "g\u0301\u0302\u0303p\u0300\u0301 " * 50,
    "astral": "𝕘𝕡 𝓇𝑒𝑔𝒾𝓈𝓉𝑒𝓇 🀄" * 20,
    "lone mention": f"@{BOT_USERNAME}",
    "not a command": "hello /start there",
    "non-latin slash": "/помощь",
    "numbers": "0" * 200,
    "url": "https://www.nhs.uk/nhs-services/gps/how-to-register-with-a-gp-surgery/",
}


@pytest.mark.parametrize("text", ODD_TEXTS.values(), ids=ODD_TEXTS.keys())
async def test_odd_text_gets_a_valid_answer(bot: Harness, text: str) -> None:
    reply = await ask(bot, ALICE, text)
    assert buttons(reply), "every answer offers a way on (a topic or the menu)"
    assert_clean(bot)


@pytest.mark.parametrize(
    "text",
    ["gp " * 1365 + "x", "🏥" * 2048, "a" * 4096, ("word " * 819) + "z"],
    ids=["words", "astral", "one-word", "words-2"],
)
async def test_longest_possible_messages(bot: Harness, text: str) -> None:
    """Telegram allows 4096 UTF-16 units; the bot reads the first 1000 characters."""
    assert len(text.encode("utf-16-le")) // 2 <= 4096
    await ask(bot, ALICE, text)
    assert_clean(bot)


async def test_empty_text_is_treated_as_non_text(bot: Harness) -> None:
    """Telegram never sends empty text; if it did, the bot would say it reads text only."""
    message = bot.api._new_message(ALICE, None, text="")
    bot.api.push_update({"message": message})
    await bot.api.wait_for(lambda: bot.api.sent(ALICE.id))
    reply = bot.api.sent(ALICE.id)[-1]
    assert ONLY_TEXT in text_of(reply) and topic_buttons(reply)
    assert_clean(bot)


async def test_whitespace_gets_the_menu(bot: Harness) -> None:
    reply = await ask(bot, ALICE, "   \n\t ")
    assert topic_buttons(reply)
    assert_clean(bot)


# --------------------------------------------------------------------------- commands


@pytest.mark.parametrize(
    "command", ["/frobnicate", "/START", "/start@some_other_bot", "/x" + "y" * 31, "/_"]
)
async def test_unknown_or_foreign_commands(bot: Harness, command: str) -> None:
    reply = await ask(bot, ALICE, command)
    text = text_of(reply)
    assert "do not know that command" in text or "never ask" in text  # /START is /start
    assert topic_buttons(reply)
    assert_clean(bot)


JUNK_PAYLOADS = [
    "no-such-topic",
    "<b>",
    "&amp;",
    "..%2F..%2Fetc",
    "t:gp-registration",
    "gp-registration--",
    "-",
    "--en",
    "gp-registration-zz-yy-xx",
    "x" * 300,
    "🏥",
    "\u202egp",
    "gp-registration\u200b",
    "طبيب",
    "gp-registration-EN-gb",  # a real deep link with odd case: opens the topic
]


@pytest.mark.parametrize("payload", JUNK_PAYLOADS)
async def test_start_with_junk_payloads(bot: Harness, payload: str) -> None:
    reply = await ask(bot, ALICE, f"/start {payload}")
    if payload.lower().startswith(GP + "-en"):
        assert "menu" in buttons(reply)  # the topic itself
    else:
        assert "never ask about your immigration status" in text_of(reply)
        assert f"t:{GP}" in buttons(reply)
    assert_clean(bot)


async def test_start_with_several_words(bot: Harness) -> None:
    reply = await ask(bot, ALICE, f"/start {GP} and more words")
    assert "menu" in buttons(reply)
    assert_clean(bot)


# --------------------------------------------------------------------------- non-text messages

NON_TEXT = [
    "photo",
    "voice",
    "sticker",
    "location",
    "document",
    "video_note",
    "video",
    "audio",
    "animation",
    "contact",
    "venue",
    "poll",
    "dice",
]


@pytest.mark.parametrize("kind", NON_TEXT)
async def test_every_kind_of_media_gets_a_kind_answer(bot: Harness, kind: str) -> None:
    bot.api.send_other(ALICE, kind)
    await bot.api.wait_for(lambda: bot.api.sent(ALICE.id))
    reply = bot.api.sent(ALICE.id)[-1]
    assert ONLY_TEXT in text_of(reply)
    assert topic_buttons(reply)
    assert_clean(bot)


async def test_captions_are_not_read_as_questions(bot: Harness) -> None:
    bot.api.send_other(ALICE, "photo", caption="how do i register with a gp")
    await bot.api.wait_for(lambda: bot.api.sent(ALICE.id))
    assert ONLY_TEXT in text_of(bot.api.sent(ALICE.id)[-1])
    assert_clean(bot)


async def test_media_in_groups_only_when_addressed(bot: Harness) -> None:
    group = bot.api.group_chat()
    bot.api.send_other(ALICE, "photo", chat=group)
    bot.api.send_other(ALICE, "voice", chat=group)
    await bot.sentinel()
    assert not bot.api.sent(group["id"])
    bot.api.send_other(ALICE, "photo", chat=group, caption=f"@{BOT_USERNAME} what is this?")
    await bot.api.wait_for(lambda: bot.api.sent(group["id"]))
    assert ONLY_TEXT in text_of(bot.api.sent(group["id"])[-1])
    assert_clean(bot)


async def test_forwarded_messages_are_answered_as_questions(bot: Harness) -> None:
    bot.api.send_forwarded(ALICE, "how do i register with a gp", origin=CAROL)
    bot.api.send_forwarded(ALICE, "can i get free prescriptions")  # from a channel
    await bot.api.wait_for(lambda: len(bot.api.sent(ALICE.id)) >= 2)
    assert all(c.ok for c in bot.api.sent(ALICE.id))
    assert_clean(bot)


async def test_edits_of_media_and_commands_are_ignored(bot: Harness) -> None:
    photo = bot.api.send_other(ALICE, "photo", caption="first caption")
    await bot.api.wait_for(lambda: bot.api.sent(ALICE.id))
    sent = len(bot.api.sent(ALICE.id))
    edited = dict(photo, caption="second caption", edit_date=photo["date"] + 1)
    bot.api.push_update({"edited_message": edited})
    command = bot.api.send_text(ALICE, "/privacy")
    await bot.api.wait_for(lambda: len(bot.api.sent(ALICE.id)) > sent)
    sent = len(bot.api.sent(ALICE.id))
    bot.api.edit_text(command, "/forget")
    await bot.sentinel()
    assert len(bot.api.sent(ALICE.id)) == sent
    assert_clean(bot)


async def test_edited_group_chatter_is_ignored(bot: Harness) -> None:
    group = bot.api.group_chat()
    chatter = bot.api.send_text(ALICE, "see you at the clinic", chat=group)
    bot.api.edit_text(chatter, "see you at the surgery")
    await bot.sentinel()
    assert not bot.api.sent(group["id"])
    assert_clean(bot)


# --------------------------------------------------------------------------- other update types


async def test_channel_posts_are_never_delivered(bot: Harness) -> None:
    """allowed_updates leaves channel posts out, so Telegram (the fake) keeps them back."""
    first = bot.api.channel_post("a channel post")
    second = bot.api.channel_post("an edited channel post", edited=True)
    await bot.sentinel()
    dropped = {u["update_id"] for u in bot.api.dropped_updates}
    assert {first, second} <= dropped
    assert_clean(bot)


OTHER_UPDATES = {
    "channel_post": {
        "channel_post": {
            "message_id": 1,
            "chat": {"id": -1009876543210, "type": "channel", "title": "NHS news"},
            "date": 1700000000,
            "text": "how do i register with a gp",
        }
    },
    "poll": {
        "poll": {
            "id": "9",
            "question": "Which GP?",
            "options": [
                {"text": "A", "voter_count": 1, "persistent_id": "0"},
                {"text": "B", "voter_count": 0, "persistent_id": "1"},
            ],
            "total_voter_count": 1,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            "allows_revoting": False,
            "members_only": False,
        }
    },
    "poll_answer": {
        "poll_answer": {
            "poll_id": "9",
            "user": ALICE.to_dict(),
            "option_ids": [0],
            "option_persistent_ids": ["0"],
        }
    },
    "chosen_inline_result": {
        "chosen_inline_result": {"result_id": GP, "from": ALICE.to_dict(), "query": "gp"}
    },
    "chat_join_request": {
        "chat_join_request": {
            "chat": {"id": -1001234567890, "type": "supergroup", "title": "Group"},
            "from": ALICE.to_dict(),
            "user_chat_id": ALICE.id,
            "date": 1700000000,
        }
    },
    "message_reaction": {
        "message_reaction": {
            "chat": {"id": ALICE.id, "type": "private", "first_name": "Amina"},
            "message_id": 1,
            "user": ALICE.to_dict(),
            "date": 1700000000,
            "old_reaction": [],
            "new_reaction": [{"type": "emoji", "emoji": "👍"}],
        }
    },
    "empty": {},
}


@pytest.mark.parametrize("update", OTHER_UPDATES.values(), ids=OTHER_UPDATES.keys())
async def test_other_update_types_are_ignored_on_purpose(bot: Harness, update: dict) -> None:
    """Should Telegram deliver a type the bot did not ask for, it is ignored quietly."""
    await bot.inject(update)
    await bot.sentinel()
    assert [c.params["chat_id"] for c in bot.api.sent()] == [CAROL.id]
    assert_clean(bot)


async def test_service_messages_are_ignored(bot: Harness) -> None:
    group = bot.api.group_chat()
    bot_user = bot.api.bot_user()
    for content in (
        {"new_chat_members": [bot_user]},
        {"left_chat_member": ALICE.to_dict()},
        {"new_chat_title": "Renamed"},
        {"pinned_message": {"message_id": 1, "chat": group, "date": 0}},
    ):
        message = bot.api._new_message(ALICE, group, **content)
        bot.api.push_update({"message": message})
    await bot.sentinel()
    assert not bot.api.sent(group["id"])
    assert_clean(bot)


# --------------------------------------------------------------------------- membership


async def test_added_to_and_removed_from_groups(bot: Harness, caplog) -> None:
    group = bot.api.group_chat()
    for status in ("member", "administrator", "left", "kicked"):
        bot.api.member_status(ALICE, status, chat=group)
    channel = {"id": -1009876543210, "type": "channel", "title": "NHS news"}
    bot.api.member_status(ALICE, "administrator", chat=channel)
    await bot.sentinel()
    assert not bot.api.sent(group["id"]) and not bot.api.sent(channel["id"])
    assert_clean(bot)


async def test_blocked_then_restarted(bot: Harness) -> None:
    await bot.choose_language(ALICE, "en")
    assert bot.has_row(ALICE)
    bot.api.member_status(ALICE, "kicked")
    await bot.api.wait_for(lambda: not bot.has_row(ALICE))
    bot.api.member_status(ALICE, "member")  # unblocked: nothing to send until they write
    await bot.sentinel()
    assert not bot.has_row(ALICE)
    assert (await bot.say(ALICE, "/start")).ok
    assert_clean(bot)


# --------------------------------------------------------------------------- buttons


FORGED = [
    "",
    " ",
    "t:",
    "t:no-such-topic",
    "t:" + GP + "\u200b",
    "c:no-such-card",
    "c:hospital-charges",  # a topic without a card
    "lang:",
    "lang:zz",
    "lang:" + "x" * 61,
    "forget:maybe",
    "menu ",
    "x" * 64,
    "ü" * 32,
    "💥" * 16,
    "\x00",
    '{"a": 1}',
    "t:../../etc/passwd",
    "ت:طبيب",
]


async def test_forged_and_stale_callback_data_gets_the_menu_again(bot: Harness) -> None:
    menu = await bot.say(ALICE, "/topics")
    for data in FORGED:
        sends = len(bot.api.sent(ALICE.id))
        query = await bot.press(ALICE, menu.result, data)
        assert bot.api.callback_queries[query] is True, data
        new = bot.api.sent(ALICE.id)[sends:]
        assert new and EXPIRED in text_of(new[-1]), data
        assert topic_buttons(new[-1]), data
    assert not bot.api.calls_to("editMessageText")  # the old message was left alone
    assert_clean(bot)


async def test_query_too_old_to_answer_still_shows_the_result(bot: Harness) -> None:
    menu = await bot.say(ALICE, "/topics")
    query = bot.api.press(ALICE, menu.result, f"t:{GP}")
    bot.api.callback_queries[query] = True  # expired: Telegram refuses to answer it
    await bot.api.wait_for(lambda: bot.api.calls_to("editMessageText", ok=True))
    refused = bot.api.calls_to("answerCallbackQuery", ok=False)
    assert refused and "too old" in refused[-1].response["description"]
    assert bot.errors == []


async def test_button_of_an_inline_message(bot: Harness) -> None:
    """No chat to answer in: the expiry note comes as the query's notification."""
    query = bot.api.press_inline_message(ALICE, f"t:{GP}")
    await bot.api.wait_for(lambda: bot.api.callback_queries[query])
    answer = bot.api.calls_to("answerCallbackQuery", ok=True)[-1]
    assert EXPIRED in answer.params["text"]
    assert not bot.api.sent()
    assert_clean(bot)


async def test_buttons_pressed_in_a_group_by_someone_else(bot: Harness) -> None:
    group = bot.api.group_chat()
    menu = await bot.say(ALICE, f"/topics@{BOT_USERNAME}", chat=group)
    await bot.press(CAROL, menu.result, f"t:{GP}")
    edited = bot.api.calls_to("editMessageText", ok=True)[-1]
    assert edited.params["chat_id"] == group["id"]
    assert_clean(bot)


# --------------------------------------------------------------------------- inline queries


INLINE = ["", "   ", "gp", "x" * 256, "\u200b", "🏥🏥", "<b>&amp;", "طبيب", "\x00\x01", "gp " * 80]


async def test_inline_queries_of_any_shape(bot: Harness) -> None:
    for query in INLINE:
        answered = len(bot.api.calls_to("answerInlineQuery", ok=True))
        query_id = bot.api.inline(ALICE, query, chat_type="supergroup")
        await bot.api.wait_for(lambda q=query_id: bot.api.inline_queries[q])
        assert len(bot.api.calls_to("answerInlineQuery", ok=True)) == answered + 1, query
    assert_clean(bot)


# --------------------------------------------------------------------------- odd people


async def test_odd_users(bot: Harness) -> None:
    for user in (
        FakeUser(1, "", None),  # the smallest id, no name, no language
        FakeUser(8_000_000_001, "<b>&amp;</b>", "zz-Latn-XX"),
        FakeUser(424242009, "\u202eNaN", "ar-SA"),
        FakeUser(424242010, "🙂", "pt-BR", username="x" * 32),
    ):
        assert (await bot.say(user, "/start")).ok
        assert (await bot.say(user, "can i see a gp")).ok
    assert_clean(bot)


async def test_anonymous_group_admin_mentions_the_bot(bot: Harness) -> None:
    group = bot.api.group_chat()
    anonymous = FakeUser(1087968824, "Group", None, username="GroupAnonymousBot")
    message = bot.api._new_message(
        anonymous,
        group,
        text=f"@{BOT_USERNAME} can i see a gp",
        entities=bot.api.entities_for(f"@{BOT_USERNAME} can i see a gp"),
        sender_chat=group,
    )
    bot.api.push_update({"message": message})
    await bot.api.wait_for(lambda: bot.api.sent(group["id"]))
    assert_clean(bot)


async def test_an_update_ptb_cannot_read_does_not_block_the_others(bot: Harness, caplog) -> None:
    """A poll from an older Bot API (no persistent_id) would make python-telegram-bot drop
    and re-fetch the whole batch forever; it is skipped, and the next message answered."""
    old_poll = {
        "id": "1",
        "question": "Which GP?",
        "options": [{"text": "A", "voter_count": 0}],
        "total_voter_count": 0,
        "is_closed": False,
        "is_anonymous": True,
        "type": "regular",
        "allows_multiple_answers": False,
    }
    message = bot.api._new_message(ALICE, None, poll=old_poll)
    poison = bot.api.push_update({"message": message})
    reply = await bot.say(ALICE, "how do i register with a gp")
    assert reply.ok
    await bot.api.wait_for(lambda: poison not in bot.api.pending_update_ids())
    assert "skipped an update python-telegram-bot cannot read (type=message" in caplog.text
    assert "Which GP" not in caplog.text
    assert_clean(bot)


# --------------------------------------------------------------------------- the webhook server


JSON = {"Content-Type": "application/json"}
WITH_SECRET = {**JSON, "X-Telegram-Bot-Api-Secret-Token": HOOK_SECRET}
MARKER = "zebra-canary-5309"


async def post(session, url: str, body: bytes, headers: dict) -> int:
    """The HTTP status, or 0 when the server closed the connection instead of answering."""
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            return response.status
    except (aiohttp.ClientError, ConnectionError):
        return 0


async def test_webhook_refuses_bad_requests_and_keeps_serving(
    engine, tmp_path: Path, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 1, "type": "private"},
            "text": MARKER,
        },
    }
    good = json.dumps(update).encode()
    async with webhook_bot(engine, tmp_path) as run:
        api, url, errors = run.api, run.url, run.errors
        async with aiohttp.ClientSession() as session:
            cases = [
                (good, JSON, 403),  # no secret
                (good, {**JSON, "X-Telegram-Bot-Api-Secret-Token": "wrong"}, 403),
                (good, {**JSON, "X-Telegram-Bot-Api-Secret-Token": "ü" * 10}, 403),
                (good, {**WITH_SECRET, "Content-Type": "text/plain"}, 415),
                (f"{MARKER} not json".encode(), WITH_SECRET, 400),
                (b"\xff\xfe" + MARKER.encode(), WITH_SECRET, 400),
                (json.dumps([MARKER]).encode(), WITH_SECRET, 400),
                (json.dumps(MARKER).encode(), WITH_SECRET, 400),
                (json.dumps({"update_id": "1", "text": MARKER}).encode(), WITH_SECRET, 400),
                (json.dumps({"message": {"text": MARKER}}).encode(), WITH_SECRET, 400),
                (b"", WITH_SECRET, 400),
            ]
            for body, headers, expected in cases:
                assert await post(session, url, body, headers) == expected, (body, headers)
            # over 1 MB: refused (413) before the body is read, the connection closed,
            # never queued
            huge = json.dumps({"update_id": 2, "x": MARKER * 200_000}).encode()
            assert len(huge) > 1024 * 1024
            assert await post(session, url, huge, WITH_SECRET) in (0, 400, 413)
            # an update PTB cannot read (its message is a string): acknowledged, skipped
            odd = json.dumps({"update_id": 3, "message": MARKER}).encode()
            assert await post(session, url, odd, WITH_SECRET) == 200
            async with session.get(url) as response:
                assert response.status == 405
            # still serving: Telegram's own delivery works
            api.send_text(ALICE, "/start")
            await api.wait_for(lambda: api.sent(ALICE.id))
        assert errors == []
    assert MARKER not in caplog.text
    assert "refused a request with 400 (malformed JSON" in caplog.text
    assert "Traceback" not in caplog.text
