"""Thin handlers: translate between Telegram updates and the Engine, nothing more.

What is decided where:
- The Engine decides every answer (topics, did-you-mean, fallback, expired menus).
- Here: which updates deserve an answer (groups: only commands, mentions and replies to the
  bot), the person's language (stored choice, then Telegram's language_code, then English),
  the Telegram-only buttons (`lang`, `lang:<code>`, `forget:yes`, `forget:no`), and sending.

Edited messages: a person who edits a question has usually fixed a typo, so an edited text
message is answered again (as a reply to the edited message), under the same group rules
as new messages. Edited commands and edited non-text messages are ignored on purpose.

Nothing here logs or stores message text, names or ids: logs carry the update type, the
outcome, the topic id and the time taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from telegram import (
    Chat,
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError
from telegram.ext import ContextTypes

from bot.engine import CARD_BUTTON_PREFIX, Engine
from bot.i18n import SOURCE_LANGUAGE, Locales
from bot.markup import escape, to_plain
from bot.replies import Button, Outcome, Reply
from bot.storage import IDLE_DAYS, Storage
from bot.telegram.render import Rendered, render_markup, render_reply

log = logging.getLogger("bot.telegram")

LANG_MENU = "lang"
LANG_PREFIX = "lang:"
FORGET_YES = "forget:yes"
FORGET_NO = "forget:no"
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
INLINE_LIMIT = 5
INLINE_EMPTY_LIMIT = 20
INLINE_CACHE_SECONDS = 300
_LANG_CODE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,4})?$")
_PRIVATE = Chat.PRIVATE


@dataclass
class Services:
    """Everything handlers need, kept in `application.bot_data["services"]`."""

    engine: Engine  # replaced as a whole when the content is reloaded (SIGHUP)
    storage: Storage
    tasks: list = field(default_factory=list)
    timers: list = field(default_factory=list)  # asyncio.TimerHandle (the purge schedule)
    content_dir: Path | None = None  # None: the shipped content/ and locales/
    locales_dir: Path | None = None
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.bot_data["services"]


# --------------------------------------------------------------------------- plumbing

Result = tuple[str, str | None] | None  # (outcome, topic id) for the log line
Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[Result]]


def traced(kind: str) -> Callable[[Handler], Callable[..., Awaitable[None]]]:
    """Log one line per handled update: type, outcome, topic id and milliseconds."""

    def decorate(fn: Handler) -> Callable[..., Awaitable[None]]:
        @functools.wraps(fn)
        async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            started = time.perf_counter()
            result = await fn(update, context)
            outcome, topic = result if result else ("ignored", None)
            log.log(
                logging.INFO if result else logging.DEBUG,  # ignored group chatter: DEBUG
                "update=%s outcome=%s topic=%s ms=%.1f",
                kind,
                outcome,
                topic or "-",
                (time.perf_counter() - started) * 1000,
            )

        return wrapper

    return decorate


async def language_of(
    context: ContextTypes.DEFAULT_TYPE, user: User | None, engine: Engine | None = None
) -> str:
    """Stored choice, then Telegram's language_code, then English; marks the row active.

    Languages come from the engine's locales, so a content reload (SIGHUP) that ships a
    language takes effect at once.
    """
    if user is None:
        return SOURCE_LANGUAGE
    svc = services(context)
    locales = (engine or svc.engine).locales
    saved = await svc.storage.get_language(user.id)
    if saved is not None:
        await svc.storage.touch(user.id)
    return locales.resolve(saved, user.language_code)


async def send(
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    rendered: Rendered,
    *,
    reply_to: int | None = None,
) -> Message | None:
    """Send every chunk in order; the keyboard goes on the last one."""
    last: Message | None = None
    for index, chunk in enumerate(rendered.chunks):
        final = index == len(rendered.chunks) - 1
        last = await context.bot.send_message(
            chat_id,
            chunk,
            parse_mode=ParseMode.HTML,
            reply_markup=rendered.markup if final else None,
            link_preview_options=NO_PREVIEW,
            reply_parameters=(
                ReplyParameters(reply_to, allow_sending_without_reply=True)
                if reply_to is not None and index == 0
                else None
            ),
        )
    return last


async def edit_or_send(
    update: Update, context: ContextTypes.DEFAULT_TYPE, rendered: Rendered
) -> None:
    """Replace the pressed message in place; fall back to new messages when it can't be."""
    query = update.callback_query
    message = query.message if query else None
    if not rendered.chunks:
        return
    if isinstance(message, Message):
        first, rest = rendered.chunks[0], rendered.chunks[1:]
        try:
            await message.edit_text(
                first,
                parse_mode=ParseMode.HTML,
                reply_markup=None if rest else rendered.markup,
                link_preview_options=NO_PREVIEW,
            )
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return  # the same button pressed twice: the message already shows this
            log.info("edit failed (%s); sending a new message instead", type(exc).__name__)
        else:
            if rest:
                await send(context, message.chat_id, Rendered(rest, rendered.markup))
            return
    chat_id = message.chat.id if message is not None else (query.from_user.id if query else None)
    if chat_id is not None:
        await send(context, chat_id, rendered)


def addressed_to_me(message: Message, bot_user: User) -> bool:
    """In a group: a mention of the bot, a text mention of it, or a reply to its message."""
    replied = message.reply_to_message
    if (
        replied is not None
        and replied.from_user is not None
        and replied.from_user.id == bot_user.id
    ):
        return True
    username = (bot_user.username or "").casefold()
    parsed = {**message.parse_entities(), **message.parse_caption_entities()}
    for entity, text in parsed.items():
        if entity.type == MessageEntity.MENTION and text[1:].casefold() == username:
            return True
        if (
            entity.type == MessageEntity.TEXT_MENTION
            and entity.user
            and entity.user.id == bot_user.id
        ):
            return True
    return False


def strip_mention(text: str, bot_user: User) -> str:
    if not bot_user.username:
        return text
    return re.sub(rf"@{re.escape(bot_user.username)}\b", " ", text, flags=re.IGNORECASE).strip()


def is_private(update: Update) -> bool:
    return update.effective_chat is not None and update.effective_chat.type == _PRIVATE


def parse_start_payload(
    payload: str, topics: Sequence[str] | dict
) -> tuple[str | None, str | None]:
    """`<topic>` or `<topic>-<lang>` (lang like `fr` or `pt-br`) -> (topic id, lang code)."""
    payload = payload.strip().lower()
    if payload in topics:
        return payload, None
    for cuts in (1, 2):
        parts = payload.rsplit("-", cuts)
        if len(parts) == cuts + 1:
            topic, code = parts[0], "-".join(parts[1:])
            if topic in topics and _LANG_CODE.match(code):
                return topic, code
    return None, None


def language_button(locales: Locales, lang: str) -> Button:
    _ = locales.translations(lang).gettext
    return Button(LANG_MENU, "🌐 " + _("Language"))


# --------------------------------------------------------------------------- texts


def greeting_blocks(locales: Locales, lang: str) -> list[str]:
    _ = locales.translations(lang).gettext
    return [
        _(
            "**Hello! I explain what NHS health care you can get in the UK, and how to get "
            "it.** My answers are free, confidential and checked against official sources."
        ),
        _("I never ask about your immigration status, and you never need to tell me."),
    ]


def help_blocks(locales: Locales, lang: str, username: str) -> list[str]:
    _ = locales.translations(lang).gettext
    return [
        _("**How to use me**"),
        _(
            "Type your question in your own words, for example: can I see a GP without a "
            "passport? Or choose a topic from the menu."
        ),
        _(
            "- /topics shows all topics\n"
            "- /language changes the language\n"
            "- /privacy says what I store about you\n"
            "- /forget deletes it"
        ),
        _(
            "To share an answer in another chat, type @{username} and a few words there, "
            "for example: @{username} register with a GP"
        ).format(username=escape(username)),
        _("I give general information, not medical advice. In an emergency call 999."),
    ]


def privacy_blocks(locales: Locales, lang: str) -> list[str]:
    _ = locales.translations(lang).gettext
    return [
        _("**What I store about you**"),
        _(
            "- If you choose a language: that choice and the date you last used me. "
            "Nothing else: not your messages, not your name or username, not your Telegram id.\n"
            "- It is stored under a code made from your Telegram id with a secret key, so the "
            "stored data cannot be linked back to you.\n"
            "- It is deleted automatically after {days} days without use, when you block me, "
            "or straight away when you send /forget."
        ).format(days=IDLE_DAYS),
        _(
            "I read your messages only to find an answer; they are not saved or logged. "
            "I never ask about your immigration status."
        ),
        _(
            "Telegram itself keeps your chat history: see "
            "[Telegram's privacy policy](https://telegram.org/privacy)."
        ),
        _(
            "Your chat with this bot stays in Telegram on your phone. "
            "If someone may look at your phone, delete the chat in Telegram."
        ),
    ]


def non_text_blocks(locales: Locales, lang: str) -> list[str]:
    _ = locales.translations(lang).gettext
    return [
        _(
            "Sorry, I can only read text messages. Please type your question, or choose a "
            "topic below."
        )
    ]


def unknown_command_blocks(locales: Locales, lang: str) -> list[str]:
    _ = locales.translations(lang).gettext
    return [_("I do not know that command. Type your question, or choose a topic below.")]


def apology_blocks(locales: Locales, lang: str) -> list[str]:
    _ = locales.translations(lang).gettext
    return [_("Sorry, something went wrong on my side. Please try again, or choose a topic.")]


def language_menu(locales: Locales, lang: str) -> Rendered:
    _ = locales.translations(lang).gettext
    rows = [
        [
            Button(
                LANG_PREFIX + language.code,
                ("✓ " if language.code == lang else "") + language.native_name,
            )
        ]
        for language in locales.shipped()
    ]
    return render_markup([_("Choose your language:")], rows)


# --------------------------------------------------------------------------- commands


def _with_menu(
    engine: Engine, lang: str, blocks: list[str], extra: Sequence[Sequence[Button]] = ()
) -> Rendered:
    menu = engine.menu(lang)
    return render_reply(
        Reply((), menu.outcome, lang=lang, buttons=menu.buttons),
        before=blocks,
        extra_rows=extra,
    )


@traced("command:start")
async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Result:
    """/start, /start <topic> and /start <topic>-<lang> (deep links from posters)."""
    message = update.effective_message
    engine = services(context).engine
    locales = engine.locales
    lang = await language_of(context, update.effective_user, engine)
    if context.args:
        topic, link_lang = parse_start_payload(context.args[0], engine.catalogue.topics)
        if topic is not None:
            if link_lang is not None:  # the poster's language, if it ships; else theirs
                primary = link_lang.split("-")[0]
                if locales.is_shipped(link_lang):
                    lang = link_lang
                elif locales.is_shipped(primary):
                    lang = primary
            reply = engine.topic_reply(topic, lang)
            extra = [[language_button(locales, lang)]]
            await send(context, message.chat_id, render_reply(reply, extra_rows=extra))
            return "deep-link", reply.topic
    menu = engine.menu(lang)
    rendered = render_reply(
        menu,
        before=greeting_blocks(locales, lang),
        extra_rows=[[language_button(locales, lang)]],
    )
    await send(context, message.chat_id, rendered)
    return ("start-bad-payload" if context.args else "start"), None


@traced("command:card")
async def card(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Result:
    """/card <topic>: a "show this to reception" card, English beside the person's language."""
    engine = services(context).engine
    lang = await language_of(context, update.effective_user, engine)
    chat_id = update.effective_message.chat_id
    wanted = context.args[0].lower() if context.args else ""
    topic = engine.catalogue.topics.get(wanted)
    if topic is not None and topic.card:
        reply = engine.card(topic.id, lang)
        await send(context, chat_id, render_reply(reply))
        return "card", topic.id
    _ = engine.locales.translations(lang).gettext
    rows = [
        [Button(CARD_BUTTON_PREFIX + t.id, engine.title(t.id, lang))]
        for t in engine.catalogue.topics.values()
        if t.card
    ]
    text = _("Which card do you need? Each one shows the key facts in English for the staff.")
    await send(context, chat_id, render_markup([text], rows))
    return "card-list", None


@traced("command:topics")
async def topics(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Result:
    """/topics: the topics menu."""
    engine = services(context).engine
    lang = await language_of(context, update.effective_user, engine)
    reply = engine.menu(lang)
    await send(context, update.effective_message.chat_id, render_reply(reply))
    return reply.outcome.value, None


@traced("command:language")
async def language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Result:
    """/language: the shipped languages by their native names."""
    engine = services(context).engine
    lang = await language_of(context, update.effective_user, engine)
    await send(context, update.effective_message.chat_id, language_menu(engine.locales, lang))
    return "language-menu", None


@traced("command:help")
async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Result:
    """/help: how to ask, the commands and inline mode."""
    engine = services(context).engine
    lang = await language_of(context, update.effective_user, engine)
    blocks = help_blocks(engine.locales, lang, context.bot.username)
    await send(context, update.effective_message.chat_id, _with_menu(engine, lang, blocks))
    return "help", None


@traced("command:privacy")
async def privacy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Result:
    """/privacy: what is stored, for how long, and how to delete it."""
    engine = services(context).engine
    lang = await language_of(context, update.effective_user, engine)
    rendered = render_markup(privacy_blocks(engine.locales, lang))
    await send(context, update.effective_message.chat_id, rendered)
    return "privacy", None


@traced("command:forget")
async def forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Result:
    """/forget: ask to confirm, then delete (see on_callback)."""
    engine = services(context).engine
    lang = await language_of(context, update.effective_user, engine)
    _ = engine.locales.translations(lang).gettext
    rendered = render_markup(
        [
            _(
                "This deletes everything I store about you (your language choice). "
                "Do you want to delete it?"
            )
        ],
        [[Button(FORGET_YES, _("Yes, delete it")), Button(FORGET_NO, _("No, keep it"))]],
    )
    await send(context, update.effective_message.chat_id, rendered)
    return "forget-ask", None


@traced("command:unknown")
async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Result:
    """A command this bot does not have: in groups only when addressed to this bot."""
    message = update.effective_message
    if not is_private(update):
        command = (message.text or "").split(maxsplit=1)[0]
        if not command.casefold().endswith("@" + context.bot.username.casefold()):
            return None
    engine = services(context).engine
    lang = await language_of(context, update.effective_user, engine)
    blocks = unknown_command_blocks(engine.locales, lang)
    await send(context, message.chat_id, _with_menu(engine, lang, blocks))
    return "unknown-command", None


# --------------------------------------------------------------------------- messages


async def _answer_text(
    update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message, *, edited: bool
) -> Result:
    private = is_private(update)
    text = message.text or ""
    if not private:
        if not addressed_to_me(message, context.bot.bot):
            return None  # groups: only commands, mentions and replies to the bot
        text = strip_mention(text, context.bot.bot)
    engine = services(context).engine
    lang = await language_of(context, update.effective_user, engine)
    reply_to = message.message_id if (edited or not private) else None
    if not text.strip():
        await send(context, message.chat_id, render_reply(engine.menu(lang)), reply_to=reply_to)
        return Outcome.MENU.value, None
    # In a worker thread: the sentence encoder (bot.semantic) spends ~10-60 ms in C with
    # the GIL released, so other updates go on and the second core is used.
    reply = await asyncio.to_thread(engine.ask, text, lang)
    await send(context, message.chat_id, render_reply(reply), reply_to=reply_to)
    return reply.outcome.value, reply.topic


@traced("message")
async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Result:
    """A typed question (in groups only when addressed to the bot)."""
    return await _answer_text(update, context, update.message, edited=False)


@traced("edited_message")
async def on_edited_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Result:
    """An edited question is answered again, as a reply to the edited message."""
    message = update.edited_message
    if message is None or not message.text or message.text.startswith("/"):
        return None
    return await _answer_text(update, context, message, edited=True)


@traced("message:non-text")
async def on_non_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Result:
    """Voice, photos, stickers, locations...: say kindly that only text is read."""
    message = update.message
    if not is_private(update) and not addressed_to_me(message, context.bot.bot):
        return None
    engine = services(context).engine
    lang = await language_of(context, update.effective_user, engine)
    rendered = _with_menu(engine, lang, non_text_blocks(engine.locales, lang))
    await send(
        context,
        message.chat_id,
        rendered,
        reply_to=None if is_private(update) else message.message_id,
    )
    return "non-text", None


# --------------------------------------------------------------------------- buttons


@traced("callback_query")
async def on_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Result:
    """Every button press: always answer the query, then edit in place (or send)."""
    query = update.callback_query
    svc = services(context)
    engine = svc.engine
    user = update.effective_user
    if query.message is None:
        # A button of a message sent via inline mode (ours have URL buttons only), or forged
        # data: there is no chat to answer in, so the answer is the query's notification.
        lang = await language_of(context, user, engine)
        _ = engine.locales.translations(lang).gettext
        with contextlib.suppress(BadRequest):
            await query.answer(_("That menu has expired. Here are the topics again."))
        return "expired-inline", None
    with contextlib.suppress(BadRequest):  # too old to answer: still show the result
        await query.answer()
    lang = await language_of(context, user, engine)
    locales = engine.locales
    data = query.data or ""
    if data == LANG_MENU:
        await edit_or_send(update, context, language_menu(locales, lang))
        return "language-menu", None
    if data.startswith(LANG_PREFIX):
        code = data[len(LANG_PREFIX) :]
        if locales.is_shipped(code) and user is not None:
            saved = await svc.storage.set_language(user.id, code)
            _ = locales.translations(code).gettext
            name = locales.language(code).native_name
            blocks = [_("Language: {language}.").format(language=escape(name))]
            if saved is False:  # GuardedStorage: the choice applies to this reply only
                blocks.append(
                    _(
                        "I could not save this choice just now, so I may not remember it "
                        "next time. Please choose your language again later."
                    )
                )
            await edit_or_send(update, context, _with_menu(engine, code, blocks))
            return ("language-set" if saved is not False else "language-not-saved"), None
        data = "expired"  # a language that is not offered (any more): a stale menu
    elif data in (FORGET_YES, FORGET_NO):
        _ = locales.translations(lang).gettext
        if data == FORGET_YES and user is not None:
            deleted = await svc.storage.forget(user.id)
            if deleted is None:  # storage failing: never claim that nothing is stored
                text = _("Sorry, I could not delete it just now. Please send /forget again later.")
                outcome = "forget-failed"
            elif deleted:
                text = _("Done: I deleted everything I stored about you.")
                outcome = "forgotten"
            else:
                text = _("There was nothing stored about you, so there was nothing to delete.")
                outcome = "forget-nothing"
            await edit_or_send(update, context, render_markup([text]))
            return outcome, None
        await edit_or_send(update, context, render_markup([_("Nothing was deleted.")]))
        return "forget-cancelled", None
    reply = engine.press(data, lang)
    if reply.outcome is Outcome.EXPIRED:
        # keep the old message (it may hold a useful answer); the menu comes as a new one
        await send(context, query.message.chat.id, render_reply(reply))
        return reply.outcome.value, None
    await edit_or_send(update, context, render_reply(reply))
    return reply.outcome.value, reply.topic


# --------------------------------------------------------------------------- inline mode


def _inline_result(
    engine: Engine, topic_id: str, lang: str, bot_username: str
) -> InlineQueryResultArticle:
    reply = engine.topic_reply(topic_id, lang)
    topic = engine.catalogue.topics[topic_id]
    rendered = render_reply(reply)
    _ = engine.locales.translations(lang).gettext
    first_line = to_plain(topic.answer).strip().split("\n", 1)[0]
    if len(first_line) > 120:
        first_line = first_line[:117].rstrip() + "..."
    return InlineQueryResultArticle(
        id=topic_id,
        title=topic.title,
        description=first_line,
        input_message_content=InputTextMessageContent(
            rendered.chunks[0], parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW
        ),
        reply_markup=InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        _("Ask the bot"), url=f"https://t.me/{bot_username}?start={topic_id}"
                    )
                ]
            ]
        ),
    )


@traced("inline_query")
async def on_inline_query(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Result:
    """`@bot gp` in any chat: matching topics, each a ready-to-share answer with sources."""
    inline_query = update.inline_query
    engine = services(context).engine
    lang = await language_of(context, update.effective_user, engine)
    text = inline_query.query.strip()
    if text:
        found = [t.id for t in engine.search(text, lang, limit=INLINE_LIMIT)]
    else:
        found = [t.id for t in engine.catalogue.menu_topics()[:INLINE_EMPTY_LIMIT]]
    results = [_inline_result(engine, topic_id, lang, context.bot.username) for topic_id in found]
    await inline_query.answer(results, cache_time=INLINE_CACHE_SECONDS, is_personal=True)
    return ("inline-results" if results else "inline-empty"), (found[0] if found else None)


# --------------------------------------------------------------------------- membership, errors


@traced("my_chat_member")
async def on_my_chat_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Result:
    """A person blocked the bot (or deleted the chat): delete their row.

    Being added to or removed from a group or channel is ignored on purpose: in groups the
    bot speaks only when spoken to.
    """
    change = update.my_chat_member
    if change.chat.type != _PRIVATE:
        return "group-membership", None
    if change.new_chat_member.status in (ChatMember.BANNED, ChatMember.LEFT):
        deleted = await services(context).storage.forget(change.from_user.id)
        if deleted is None:  # storage failing: retried when it works again (GuardedStorage)
            return "blocked-forget-pending", None
        return "blocked-forgotten", None
    return "unblocked", None


def _update_kind(update: object) -> str:
    if isinstance(update, Update):
        for kind in (
            "message",
            "edited_message",
            "callback_query",
            "inline_query",
            "my_chat_member",
        ):
            if getattr(update, kind, None) is not None:
                return kind
        return "other"
    return type(update).__name__ if update is not None else "none"


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log (no text, no ids), forget people who blocked the bot, apologise when possible."""
    error = context.error
    kind = _update_kind(update)
    if isinstance(error, Forbidden):
        if isinstance(update, Update) and is_private(update) and update.effective_user is not None:
            deleted = await services(context).storage.forget(update.effective_user.id)
            outcome = "blocked-forget-pending" if deleted is None else "blocked-forgotten"
            log.info("update=%s outcome=%s", kind, outcome)
        else:
            log.info("update=%s outcome=forbidden", kind)
        return
    if isinstance(error, Conflict):
        log.error("another process is polling with this token: run only one polling instance")
        return
    if isinstance(error, NetworkError) and not isinstance(error, BadRequest):
        log.warning("update=%s network error: %s", kind, type(error).__name__)
        return
    log.error("update=%s outcome=error", kind, exc_info=error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if not is_private(update) and update.callback_query is None:
        message = update.effective_message
        command = message is not None and (message.text or "").startswith("/")
        if message is None or not (command or addressed_to_me(message, context.bot.bot)):
            return
    try:
        engine = services(context).engine
        lang = await language_of(context, update.effective_user, engine)
        rendered = _with_menu(engine, lang, apology_blocks(engine.locales, lang))
        await send(context, update.effective_chat.id, rendered)
    except Exception as exc:  # the apology must never raise
        log.warning("could not send the apology (%s)", type(exc).__name__)
