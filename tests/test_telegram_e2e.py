"""The real application against a fake Telegram Bot API server, end to end.

In-process tests build the app with `build_application` (exactly what production runs) and
drive its lifecycle by hand, polling the fake server over HTTP; webhook tests run PTB's
webhook server on a loopback port; subprocess tests start `python -m bot run` the way an
operator does. Every check looks at what the fake server received, which enforces
Telegram's limits (HTML, 4096 characters, 64-byte callback data, answered queries...).
Waiting is always for a condition, never for a fixed time.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp import ClientSession

sys.path.insert(0, str(Path(__file__).parent))

from conftest import (
    ALICE,
    BOB,
    CAROL,
    GP,
    HOOK_SECRET,
    SECRET,
    Harness,
    buttons,
    free_port,
    operator_env,
    running_bot,
    start_operator,
    stop_operator,
    text_of,
    webhook_bot,
    webhook_operator_env,
)
from fake_bot_api import BOT_USERNAME, TOKEN, FakeBotAPI

from bot.engine import Engine
from bot.storage import DB_FILE
from bot.telegram.app import ALLOWED_UPDATES
from bot.telegram.logs import setup_logging

# --------------------------------------------------------------------------- start-up


async def test_startup_registers_commands_and_descriptions(bot: Harness) -> None:
    api = bot.api
    assert api.calls_to("getMe", ok=True)
    # Registration runs beside polling (post_init starts it as a task); the default set
    # comes first, then English.
    await api.wait_for(lambda: "en" in api.short_descriptions)
    default = [c["command"] for c in api.commands[("default", "")]]
    assert default == ["start", "topics", "language", "help", "privacy", "forget", "card"]
    assert [c["command"] for c in api.commands[("default", "en")]] == default
    assert api.descriptions["en"] and "immigration status" in api.descriptions["en"]
    assert api.short_descriptions["en"]
    await api.wait_for(lambda: api.polls)
    assert api.calls_to("deleteWebhook", ok=True)  # polling bootstrap
    assert api.polls[0]["allowed_updates"] == ALLOWED_UPDATES
    assert api.allowed_updates == tuple(ALLOWED_UPDATES)  # inline mode stays switched on


# --------------------------------------------------------------------------- /start


async def test_start_greets_promises_and_shows_menu(bot: Harness, engine: Engine) -> None:
    reply = await bot.say(ALICE, "/start")
    assert reply.params["parse_mode"] == "HTML"
    text = text_of(reply)
    assert "never ask about your immigration status" in text
    data = buttons(reply)
    assert {f"t:{t.id}" for t in engine.catalogue.menu_topics()} <= set(data)
    assert "lang" in data
    assert not bot.has_row(ALICE)  # nothing is stored until a language is chosen


async def test_deep_links_open_a_topic(bot: Harness, engine: Engine) -> None:
    from bot.i18n import is_shipped
    from bot.telegram.render import render_reply, visible_text

    for payload, link_lang in (
        (GP, None),
        (f"{GP}-en", "en"),
        (f"{GP}-fr", "fr"),
        (f"{GP}-pt-br", "pt"),
        (GP.upper(), None),
    ):
        lang = link_lang if link_lang and is_shipped(link_lang) else "en"  # else Alice's
        expected = render_reply(engine.topic_reply(GP, lang)).chunks[0]
        reply = await bot.say(ALICE, f"/start {payload}")
        assert text_of(reply) == visible_text(expected), payload
        assert "menu" in buttons(reply) and "lang" in buttons(reply)
    for bad in ("no-such-topic", "gp-registration-", "<b>", "x" * 64, "-en"):
        reply = await bot.say(ALICE, f"/start {bad}")
        assert "never ask about your immigration status" in text_of(reply), bad
        assert f"t:{GP}" in buttons(reply)


# --------------------------------------------------------------------------- questions


async def test_question_with_typos_gets_the_answer(bot: Harness, engine: Engine) -> None:
    reply = await bot.say(ALICE, "can i regster with a gp withut pasport")
    title = engine.catalogue.topics[GP].title
    assert title in text_of(reply) or f"t:{GP}" in buttons(reply)
    assert reply.result.get("entities"), "answers are formatted (HTML parsed by the server)"
    assert "menu" in buttons(reply)
    assert reply.params["link_preview_options"] == {"is_disabled": True}


async def test_user_text_with_html_is_safe(bot: Harness) -> None:
    for text in ("<b>gp</b> & <script>", "a < b > c &amp; gp", "**gp** [x](javascript:1)"):
        reply = await bot.say(ALICE, text)
        assert reply.ok


async def test_every_topic_fits_telegram(bot: Harness, engine: Engine) -> None:
    """Each topic's full answer goes through the fake server's HTML and length checks."""
    for topic_id in engine.catalogue.topics:
        reply = await bot.say(ALICE, f"/start {topic_id}")
        assert reply.ok
    assert not bot.api.calls_to("sendMessage", ok=False)


async def test_long_replies_are_split_on_paragraphs(bot: Harness, engine: Engine) -> None:
    """A reply over 4096 characters arrives as several valid messages, in order."""
    from bot.replies import Outcome, Reply
    from bot.telegram.handlers import send
    from bot.telegram.render import render_reply

    paragraph = "**Bold start** of a paragraph with a [link](https://www.nhs.uk/) & more. " * 12
    reply = Reply(tuple([paragraph] * 12), Outcome.ANSWER, lang="en")
    rendered = render_reply(reply)
    assert len(rendered.chunks) > 1
    bot.api.private_chat(ALICE)

    context = SimpleNamespace(bot=bot.app.bot)  # all that `send` needs of a CallbackContext
    await send(context, ALICE.id, rendered)
    sent = bot.api.sent(ALICE.id)
    assert len(sent) == len(rendered.chunks)
    assert all(len(text_of(c)) <= 4096 for c in sent)
    assert all(text_of(c).startswith("Bold start") for c in sent)


# --------------------------------------------------------------------------- buttons


async def test_button_press_edits_in_place(bot: Harness, engine: Engine, caplog) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    menu = await bot.say(ALICE, "/topics")
    query = await bot.press(ALICE, menu.result, f"t:{GP}")
    edits = bot.api.calls_to("editMessageText", ok=True)
    assert edits and edits[-1].params["message_id"] == menu.result["message_id"]
    assert text_of(edits[-1]).startswith(engine.catalogue.topics[GP].title)
    assert bot.api.callback_queries[query] is True
    # the same button again: Telegram says "message is not modified"; that is fine
    sends = len(bot.api.sent(ALICE.id))
    again = bot.api.press(
        ALICE, bot.api.messages[(ALICE.id, menu.result["message_id"])], f"t:{GP}"
    )
    await bot.api.wait_for(
        lambda: (
            bot.api.callback_queries[again]
            and any(
                "not modified" in c.response.get("description", "")
                for c in bot.api.calls_to("editMessageText")
            )
        )
    )
    await bot.sentinel()
    assert len(bot.api.sent(ALICE.id)) == sends
    assert "outcome=error" not in caplog.text
    # back to the menu, in place
    current = bot.api.messages[(ALICE.id, menu.result["message_id"])]
    await bot.press(ALICE, current, "menu")
    assert (
        bot.api.calls_to("editMessageText", ok=True)[-1].params["message_id"]
        == menu.result["message_id"]
    )


async def test_forged_and_stale_callback_data(bot: Harness) -> None:
    menu = await bot.say(ALICE, "/topics")
    for data in ("t:no-such-topic", "x" * 64, "lang:zz", "forget:maybe", "t:"):
        sends = len(bot.api.sent(ALICE.id))
        query = await bot.press(ALICE, menu.result, data)
        assert bot.api.callback_queries[query] is True
        new = bot.api.sent(ALICE.id)[sends:]
        assert new and "expired" in text_of(new[-1]), data
        assert any(b.startswith("t:") for b in buttons(new[-1]))
    assert not bot.api.calls_to("editMessageText")  # the old message was left alone
    assert not bot.api.calls_to("answerCallbackQuery", ok=False)


# --------------------------------------------------------------------------- language, privacy


async def test_language_choice_is_stored_under_a_keyed_hash(bot: Harness) -> None:
    reply = await bot.say(BOB, "/language")
    assert "lang:en" in buttons(reply)
    labels = [b["text"] for row in reply.result["reply_markup"]["inline_keyboard"] for b in row]
    assert any("English" in label for label in labels)  # native names
    assert not bot.has_row(BOB)
    await bot.press(BOB, reply.result, "lang:en")
    assert bot.has_row(BOB)
    edited = bot.api.calls_to("editMessageText", ok=True)[-1]
    assert "English" in text_of(edited) and "menu" not in buttons(edited)
    raw = b"".join(p.read_bytes() for p in bot.data_dir.glob(DB_FILE + "*"))
    assert str(BOB.id).encode() not in raw and b"Bilal" not in raw
    # the language button on /start opens the same menu, in place
    start = await bot.say(BOB, "/start")
    await bot.press(BOB, start.result, "lang")
    assert "lang:en" in buttons(bot.api.calls_to("editMessageText", ok=True)[-1])


async def test_privacy_and_help(bot: Harness) -> None:
    privacy = text_of(await bot.say(ALICE, "/privacy"))
    needles = ("language", "180 days", "/forget", "Telegram id", "delete the chat in Telegram")
    for needle in needles:
        assert needle in privacy
    help_text = text_of(await bot.say(ALICE, "/help"))
    assert f"@{BOT_USERNAME}" in help_text and "/topics" in help_text
    unknown = await bot.say(ALICE, "/frobnicate")
    assert "do not know that command" in text_of(unknown)


async def test_forget_asks_then_deletes(bot: Harness) -> None:
    await bot.choose_language(ALICE, "en")
    assert bot.has_row(ALICE)
    ask = await bot.say(ALICE, "/forget")
    assert buttons(ask) == ["forget:yes", "forget:no"]
    await bot.press(ALICE, ask.result, "forget:no")
    assert "Nothing was deleted" in text_of(bot.api.calls_to("editMessageText", ok=True)[-1])
    assert bot.has_row(ALICE)
    ask = await bot.say(ALICE, "/forget")
    await bot.press(ALICE, ask.result, "forget:yes")
    assert "deleted everything" in text_of(bot.api.calls_to("editMessageText", ok=True)[-1])
    assert not bot.has_row(ALICE)
    ask = await bot.say(ALICE, "/forget")
    await bot.press(ALICE, ask.result, "forget:yes")
    assert "nothing to delete" in text_of(bot.api.calls_to("editMessageText", ok=True)[-1])


async def test_blocking_the_bot_deletes_the_row(bot: Harness) -> None:
    await bot.choose_language(ALICE, "en")
    assert bot.has_row(ALICE)
    bot.api.member_status(ALICE, "kicked")
    await bot.api.wait_for(lambda: not bot.has_row(ALICE))


async def test_forbidden_when_sending_deletes_the_row(bot: Harness, caplog) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    await bot.choose_language(ALICE, "en")
    assert bot.has_row(ALICE)
    bot.api.block(ALICE.id)
    bot.api.send_text(ALICE, "how do i register with a gp")
    await bot.api.wait_for(lambda: bot.api.calls_to("sendMessage", ok=False))
    await bot.api.wait_for(lambda: not bot.has_row(ALICE))
    await bot.sentinel()
    assert "blocked-forgotten" in caplog.text
    bot.api.blocked.clear()  # unblocked: answered again, still nothing stored
    assert (await bot.say(ALICE, "/start")).ok
    assert not bot.has_row(ALICE)


# --------------------------------------------------------------------------- inline mode


async def test_inline_query_offers_shareable_answers(bot: Harness, engine: Engine) -> None:
    query = "interpreter"
    expected = [t.id for t in engine.search(query)]
    assert expected
    query_id = bot.api.inline(ALICE, query)
    await bot.api.wait_for(lambda: bot.api.inline_queries[query_id])
    call = bot.api.calls_to("answerInlineQuery", ok=True)[-1]
    results = call.params["results"]
    assert [r["id"] for r in results] == expected
    first = results[0]
    assert first["type"] == "article" and first["title"]
    content = first["input_message_content"]
    assert content["parse_mode"] == "HTML" and "Sources" in content["message_text"]
    url = first["reply_markup"]["inline_keyboard"][0][0]["url"]
    assert url == f"https://t.me/{BOT_USERNAME}?start={expected[0]}"
    # an empty query lists topics, so a person can browse and share
    empty = bot.api.inline(ALICE, "")
    await bot.api.wait_for(lambda: bot.api.inline_queries[empty])
    assert bot.api.calls_to("answerInlineQuery", ok=True)[-1].params["results"]


async def test_inline_query_gp(bot: Harness) -> None:
    query_id = bot.api.inline(ALICE, "gp")
    await bot.api.wait_for(lambda: bot.api.inline_queries[query_id])
    results = bot.api.calls_to("answerInlineQuery", ok=True)[-1].params["results"]
    assert GP in [r["id"] for r in results]


# --------------------------------------------------------------------------- groups


async def test_groups_only_commands_mentions_and_replies(bot: Harness) -> None:
    group = bot.api.group_chat()
    gid = group["id"]
    bot.api.send_text(ALICE, "how do i register with a gp", chat=group)
    bot.api.send_text(ALICE, "/help@some_other_bot", chat=group)
    bot.api.send_text(ALICE, "/frobnicate", chat=group)
    bot.api.send_other(ALICE, "sticker", chat=group)
    await bot.sentinel()
    assert not bot.api.sent(gid)

    mention = await bot.say(ALICE, f"@{BOT_USERNAME} how do i register with a gp", chat=group)
    assert mention.params["reply_parameters"]["message_id"] > 0
    reply = await bot.say(ALICE, f"/start@{BOT_USERNAME}", chat=group)
    assert "never ask" in text_of(reply)
    # a reply to the bot's message counts as addressed to it
    before = len(bot.api.sent(gid))
    bot.api.send_text(BOB, "and for my children?", chat=group, reply_to=reply.result)
    await bot.api.wait_for(lambda: len(bot.api.sent(gid)) > before)
    only_mention = await bot.say(ALICE, f"@{BOT_USERNAME}", chat=group)
    assert any(b.startswith("t:") for b in buttons(only_mention))


# --------------------------------------------------------------------------- other messages


async def test_non_text_messages_get_a_kind_answer(bot: Harness) -> None:
    for kind in ("photo", "voice", "sticker", "location", "document", "video_note"):
        before = len(bot.api.sent(ALICE.id))
        bot.api.send_other(ALICE, kind)
        await bot.api.wait_for(lambda n=before: len(bot.api.sent(ALICE.id)) > n)
        reply = bot.api.sent(ALICE.id)[-1]
        assert "only read text" in text_of(reply), kind
        assert any(b.startswith("t:") for b in buttons(reply))


async def test_edited_questions_are_answered_again(bot: Harness, engine: Engine) -> None:
    bot.api.send_text(ALICE, "hwo do i registr wiht a gpp")
    await bot.api.wait_for(lambda: bot.api.sent(ALICE.id))
    original = bot.api.messages[(ALICE.id, 1)]
    before = len(bot.api.sent(ALICE.id))
    bot.api.edit_text(original, "how do i register with a gp")
    await bot.api.wait_for(lambda: len(bot.api.sent(ALICE.id)) > before)
    reply = bot.api.sent(ALICE.id)[-1]
    assert reply.params["reply_parameters"]["message_id"] == original["message_id"]
    # an edited command is ignored on purpose
    start = bot.api.send_text(ALICE, "/privacy")
    await bot.api.wait_for(lambda: len(bot.api.sent(ALICE.id)) > before + 1)
    count = len(bot.api.sent(ALICE.id))
    bot.api.edit_text(start, "/help")
    await bot.sentinel()
    assert len(bot.api.sent(ALICE.id)) == count


# --------------------------------------------------------------------------- faults


async def test_a_slow_call_does_not_block_other_people(bot: Harness) -> None:
    release = bot.api.hold(ALICE.id)
    bot.api.send_text(ALICE, "/start")
    await bot.api.wait_for(lambda: ALICE.id in bot.api.waiting)
    assert (await bot.say(CAROL, "/start")).ok  # answered while Alice's reply hangs
    assert not bot.api.sent(ALICE.id)
    release.set()
    await bot.api.wait_for(lambda: bot.api.sent(ALICE.id))


async def test_storage_failure_never_stops_answers(engine: Engine, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / DB_FILE).write_bytes(b"corrupted " * 500)
    async with running_bot(engine, tmp_path) as harness:
        await harness.choose_language(ALICE, "en")
        assert "English" in text_of(harness.api.calls_to("editMessageText", ok=True)[-1])
        assert (await harness.say(ALICE, "how do i register with a gp")).ok
        ask = await harness.say(ALICE, "/forget")
        await harness.press(ALICE, ask.result, "forget:yes")
        assert "could not delete" in text_of(harness.api.calls_to("editMessageText")[-1])


async def test_press_on_a_deleted_message_sends_a_new_one(bot: Harness, engine: Engine) -> None:
    menu = await bot.say(ALICE, "/topics")
    del bot.api.messages[(ALICE.id, menu.result["message_id"])]  # deleted meanwhile
    sends = len(bot.api.sent(ALICE.id))
    await bot.press(ALICE, menu.result, f"t:{GP}")
    failed = bot.api.calls_to("editMessageText", ok=False)
    assert failed and "not found" in failed[-1].response["description"]
    await bot.api.wait_for(lambda: len(bot.api.sent(ALICE.id)) > sends)
    new = bot.api.sent(ALICE.id)[sends:]
    assert text_of(new[0]).startswith(engine.catalogue.topics[GP].title)


async def test_flood_limit_429_is_retried(bot: Harness) -> None:
    bot.api.fail("sendMessage", 429, retry_after=1, chat_id=ALICE.id)
    reply = await bot.say(ALICE, "/topics")
    assert reply.ok
    failed = [c for c in bot.api.calls_to("sendMessage", ok=False) if c.status == 429]
    assert len(failed) == 1


async def test_server_errors_do_not_stop_the_bot(bot: Harness, caplog) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    bot.api.fail("sendMessage", 502, chat_id=ALICE.id)
    bot.api.send_text(ALICE, "/topics")
    await bot.api.wait_for(lambda: bot.api.calls_to("sendMessage", ok=False))
    assert (await bot.say(ALICE, "/topics")).ok
    assert (await bot.say(CAROL, "/start")).ok


async def test_bad_request_gets_an_apology_and_is_logged_without_data(
    bot: Harness, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    bot.api.fail("sendMessage", 400, "Bad Request: injected", chat_id=ALICE.id)
    before = len(bot.api.sent(ALICE.id))
    bot.api.send_text(ALICE, "my secret question about gp 07700900123")
    await bot.api.wait_for(lambda: len(bot.api.sent(ALICE.id)) > before)
    assert "went wrong" in text_of(bot.api.sent(ALICE.id)[-1])
    assert "outcome=error" in caplog.text
    assert "secret question" not in caplog.text and str(ALICE.id) not in caplog.text


async def test_logs_carry_no_text_ids_or_token(engine: Engine, tmp_path: Path) -> None:
    """LOG_LEVEL=DEBUG must not open the libraries' request logging."""
    stream = io.StringIO()
    handler = setup_logging("DEBUG", stream=stream)
    try:
        async with running_bot(engine, tmp_path, LOG_LEVEL="DEBUG") as harness:
            await harness.say(ALICE, "I am pregnant and have no visa 07700900123")
            query = harness.api.inline(ALICE, "interpreter please")
            await harness.api.wait_for(lambda: harness.api.inline_queries[query])
            menu = await harness.say(ALICE, "/topics")
            await harness.press(ALICE, menu.result, f"t:{GP}")
            harness.api.fail("sendMessage", 400, "Bad Request: injected", chat_id=ALICE.id)
            harness.api.send_text(ALICE, "second private words")
            await harness.api.wait_for(lambda: harness.api.calls_to("sendMessage", ok=False))
            await harness.sentinel()
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger("bot").setLevel(logging.NOTSET)
    logs = stream.getvalue()
    assert "update=message outcome=" in logs and "update=callback_query" in logs
    assert "update=inline_query" in logs
    for secret in ("pregnant", "07700900123", "interpreter please", "private words", "Amina"):
        assert secret not in logs
    for user in (ALICE, CAROL):
        assert str(user.id) not in logs
    assert TOKEN not in logs and TOKEN.split(":")[1] not in logs


# --------------------------------------------------------------------------- webhook mode


async def test_webhook_mode_with_secret(engine: Engine, tmp_path: Path) -> None:
    async with webhook_bot(engine, tmp_path) as run:
        api, target = run.api, run.url
        assert api.webhook == {"url": target, "secret_token": HOOK_SECRET}
        assert api.allowed_updates == tuple(ALLOWED_UPDATES)
        # Telegram (the fake) posts updates with the secret header
        api.send_text(ALICE, "/start")
        await api.wait_for(lambda: api.sent(ALICE.id))
        assert "never ask" in text_of(api.sent(ALICE.id)[-1])
        # while a webhook is set, getUpdates is refused, as by Telegram
        async with ClientSession() as session:
            url = f"{api.base_url}{TOKEN}/getUpdates"
            async with session.post(url) as resp:
                assert resp.status == 409
            body = json.dumps({"update_id": 1, "message": {"message_id": 1}})
            headers = {"Content-Type": "application/json"}
            for extra in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                async with session.post(target, data=body, headers={**headers, **extra}) as r:
                    assert r.status == 403
            huge = b'{"update_id": 2, "x": "' + b"a" * (2 * 1024 * 1024) + b'"}'
            with contextlib.suppress(Exception):
                secret = {"X-Telegram-Bot-Api-Secret-Token": HOOK_SECRET}
                async with session.post(target, data=huge, headers={**headers, **secret}) as r:
                    assert r.status >= 400
        assert all(status == 200 for _uid, status in api.webhook_deliveries)
        assert run.errors == []


# --------------------------------------------------------------------------- as an operator


async def test_operator_polling_round_trip_and_sigterm(tmp_path: Path) -> None:
    async with FakeBotAPI() as api:
        env = operator_env(
            tmp_path,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=api.base_url,
            LOG_LEVEL="DEBUG",
            BOT_SECRET=SECRET,
        )
        proc = await start_operator(env)
        try:
            await api.wait_for(lambda: api.polls, timeout=60)
            api.send_text(ALICE, "/start")
            api.send_text(ALICE, "I have no passport, can I see a GP? 07700900123")
            await api.wait_for(lambda: len(api.sent(ALICE.id)) >= 2, timeout=30)
            # registered beside the first answers
            await api.wait_for(lambda: ("default", "") in api.commands, timeout=30)
        finally:
            code, stderr = await stop_operator(proc)
        assert code == 0, stderr
        # Updates are handled concurrently, so the two replies may come in either order.
        texts = [text_of(call) for call in api.sent(ALICE.id)]
        assert len(texts) == 2
        assert any("never ask" in t for t in texts)
        assert any(t.startswith("Registering with a GP") for t in texts)
        # the key comes from BOT_SECRET: nothing in the data dir links rows to people
        data = tmp_path / "data"
        assert not (data / "secret.key").exists()
        assert oct(data.stat().st_mode & 0o777) == "0o700"
        assert "generated" not in stderr
        assert "update=message outcome=" in stderr
        for secret in ("passport", "07700900123", str(ALICE.id), TOKEN.split(":")[1]):
            assert secret not in stderr
        assert "Traceback" not in stderr


async def test_operator_webhook_round_trip(tmp_path: Path) -> None:
    async with FakeBotAPI() as api:
        port = free_port()
        env = webhook_operator_env(tmp_path, api, port, BOT_SECRET=SECRET)
        proc = await start_operator(env, "--webhook")
        try:
            await api.wait_for(lambda: api.webhook is not None, timeout=60)
            assert api.webhook["secret_token"]  # derived from BOT_SECRET when not set
            api.send_text(ALICE, "/start")
            await api.wait_for(lambda: api.sent(ALICE.id), timeout=30)
        finally:
            code, stderr = await stop_operator(proc)
        assert code == 0, stderr
        assert "Traceback" not in stderr


@pytest.mark.parametrize(
    "token, needle",
    [(None, "TELEGRAM_BOT_TOKEN is not set"), ("not-a-token", "TELEGRAM_BOT_TOKEN is malformed")],
)
async def test_operator_bad_token_exits_2_with_one_line(
    tmp_path: Path, token: str | None, needle: str
) -> None:
    env = operator_env(tmp_path, **({"TELEGRAM_BOT_TOKEN": token} if token else {}))
    proc = await start_operator(env)
    code, stderr = await stop_operator(proc, terminate=False)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and lines[0].startswith("error: ")


@pytest.mark.parametrize("webhook", [False, True], ids=["polling", "webhook"])
async def test_operator_without_bot_secret_exits_2_with_one_line(
    tmp_path: Path, webhook: bool
) -> None:
    """No BOT_SECRET: nothing is generated (least of all into the data dir), nothing runs."""
    extra = {"WEBHOOK_URL": "https://bot.example.org/tg"} if webhook else {}
    env = operator_env(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, BOT_SECRET="", **extra)
    proc = await start_operator(env, *(["--webhook"] if webhook else []))
    code, stderr = await stop_operator(proc, terminate=False)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: BOT_SECRET is not set"), stderr
    assert "secrets.token_hex" in lines[0]
    assert not (tmp_path / "data").exists()


async def test_operator_token_rejected_by_telegram_exits_2(tmp_path: Path) -> None:
    async with FakeBotAPI(token="999:" + "z" * 35) as api:  # the server knows another token
        env = operator_env(
            tmp_path,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=api.base_url,
            BOT_SECRET=SECRET,
        )
        code, stderr = await stop_operator(await start_operator(env), terminate=False)
    assert code == 2, stderr
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in stderr
    assert "Traceback" not in stderr and TOKEN.split(":")[1] not in stderr


# --------------------------------------------------------------------------- staff card


async def test_card_command_and_card_button(bot: Harness) -> None:
    listing = await bot.say(ALICE, "/card")
    assert "c:gp-registration" in buttons(listing)
    assert "c:hospital-charges" not in buttons(listing)
    card = await bot.say(ALICE, "/card gp-registration")
    assert "For staff (English)" in text_of(card)
    assert 'href="https://www.bma.org.uk/' in card.params["text"]  # the official source
    # the same card from the button under the answer, edited in place
    answer = await bot.say(ALICE, "/start gp-registration")
    assert "c:gp-registration" in buttons(answer)
    await bot.press(ALICE, answer.result, "c:gp-registration")
    edited = bot.api.calls_to("editMessageText", ok=True)[-1]
    assert "For staff (English)" in edited.params["text"]
    # a topic without a card, or nonsense, lists the cards again
    again = await bot.say(ALICE, "/card nonsense")
    assert "Which card" in text_of(again)
