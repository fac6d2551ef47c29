"""A fake Telegram Bot API server for end-to-end tests (aiohttp on 127.0.0.1, random port).

It behaves like api.telegram.org where it matters to this bot, so a test failing here
would fail in production too:

- `/bot<token>/<method>` with the token checked (401 otherwise) and method names matched
  case-insensitively; unknown methods get 404 "Not Found". Parameters are accepted as query
  string, form data (what python-telegram-bot sends, with JSON-encoded nested values),
  multipart or a JSON body.
- `getUpdates` long polling: `offset` confirms (drops) earlier updates, negative offsets
  count from the end, `limit` 1-100, `timeout` waits for the next update; a second poller
  terminates the first with 409 Conflict; 409 while a webhook is set; `allowed_updates` is
  remembered across calls exactly as Telegram does (omitted = unchanged, empty = default)
  and updates of other types are never delivered.
- Webhooks: `setWebhook` (secret_token checked), `deleteWebhook`, `getWebhookInfo`; while a
  webhook is set, pushed updates are POSTed to it with `X-Telegram-Bot-Api-Secret-Token`.
- Messages: `parse_mode=HTML` is parsed like Telegram's parser (tdlib): only supported tags,
  balanced, named entities `&lt; &gt; &amp; &quot;` and numeric ones (a bare `&` is a
  character); errors are "Bad Request: can't parse entities: ...". Text must be 1-4096
  UTF-16 units after parsing and trimming. Inline keyboards: `callback_data` 1-64 bytes
  (BUTTON_DATA_INVALID), URL buttons must be http(s)/tg URLs, exactly one action per button.
  Unknown chats get "chat not found"; editing checks the message exists, belongs to the bot
  and actually changes ("message is not modified").
- `answerCallbackQuery` only for a known, not yet answered query; `answerInlineQuery`
  validates every result (id 1-64 bytes and unique, at most 50, message text as above).
- `setMyCommands` / `setMyDescription` / `setMyShortDescription` validate like Telegram and
  are kept per language code.
- Fault injection, per method and optionally per chat: `fail(method, status, ...)` (429
  with retry_after, 5xx, any 4xx), `stall(method)` (no answer until the client gives up:
  a time-out), `drop(method)` (the connection is closed without an answer),
  `drop_after(method)` (carried out, then the connection closed before the answer: "act,
  then drop"), `slow(method, seconds)` (every call answered late), `block(chat_id)` (403
  "bot was blocked by the user" for that chat) and `hold(chat_id)` (calls for that chat
  hang until the test releases them). A stalled or dropped call is not carried out, and
  is recorded with status 0; an acted-then-dropped one is recorded as done.

Every call is recorded in `calls` (method, parameters, response) and tests can wait for a
condition with `wait_for`, never on wall-clock sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

TOKEN = "123456789:TEST-fake-token-for-the-local-api-0123456789"
BOT_ID = 123456789
BOT_USERNAME = "nhs_rights_test_bot"
MAX_TEXT = 4096
MAX_CALLBACK_BYTES = 64
ALL_UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
NOT_BY_DEFAULT = {"chat_member", "message_reaction", "message_reaction_count"}
DEFAULT_ALLOWED = tuple(t for t in ALL_UPDATE_TYPES if t not in NOT_BY_DEFAULT)

# Telegram's HTML: tag -> entity type (span and blockquote are special-cased).
HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
JSON_FIELDS = {
    "reply_markup",
    "allowed_updates",
    "commands",
    "scope",
    "results",
    "entities",
    "link_preview_options",
    "reply_parameters",
    "button",
    "caption_entities",
}
INT_FIELDS = {
    "offset",
    "limit",
    "timeout",
    "message_id",
    "user_id",
    "cache_time",
    "max_connections",
}
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_LANG_RE = re.compile(r"^[a-z]{2}$")
_URL_RE = re.compile(r"^(https?|tg)://[^\s]+$")


class ApiError(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


def bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# --------------------------------------------------------------------------- Telegram HTML


_TAG_START = re.compile(r"</?([^\s>/]*)")
_ATTR = re.compile(r"\s*([A-Za-z_:-]+)\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>\"']+)|\s*([A-Za-z_:-]+)")
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6}|lt|gt|amp|quot);")


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into (text, entities) or raise 'can't parse entities' like tdlib."""
    out: list[str] = []
    units = 0  # UTF-16 length of `out`
    stack: list[dict[str, Any]] = []
    entities: list[dict[str, Any]] = []
    i = 0
    raw = source.encode("utf-8")

    def byte_offset(pos: int) -> int:
        return len(source[:pos].encode("utf-8"))

    def err(message: str) -> ApiError:
        return bad(f"can't parse entities: {message}")

    while i < len(source):
        ch = source[i]
        if ch == "&":
            m = _ENTITY.match(source, i)
            if m:
                decoded = html.unescape(m.group(0))
                out.append(decoded)
                units += utf16_len(decoded)
                i = m.end()
                continue
            out.append("&")  # Telegram keeps a bare '&' as a character
            units += 1
            i += 1
            continue
        if ch != "<":
            out.append(ch)
            units += utf16_len(ch)
            i += 1
            continue
        begin = i
        end = source.find(">", i)
        if end == -1:
            raise err(f"Unclosed start tag at byte offset {byte_offset(begin)}")
        closing = source.startswith("</", i)
        m = _TAG_START.match(source, i)
        name = (m.group(1) if m else "").lower()
        if not name:
            raise err(f"Empty tag name at byte offset {byte_offset(begin)}")
        if closing:
            if not stack:
                raise err(f"Unexpected end tag at byte offset {byte_offset(begin)}")
            top = stack.pop()
            if name != top["tag"]:
                raise err(
                    f"Unmatched end tag at byte offset {byte_offset(begin)}, expected "
                    f'"</{top["tag"]}>", found "</{name}>"'
                )
            if source[m.end() : end].strip():
                raise err(f"Unexpected text in end tag at byte offset {byte_offset(begin)}")
            length = units - top["offset"]
            if length > 0:
                entity = {"type": top["type"], "offset": top["offset"], "length": length}
                entity.update(top["extra"])
                entities.append(entity)
            i = end + 1
            continue
        if name not in HTML_TAGS:
            raise err(f'Unsupported start tag "{name}" at byte offset {byte_offset(begin)}')
        attrs: dict[str, str] = {}
        rest = source[m.end() : end]
        pos = 0
        while pos < len(rest) and rest[pos:].strip():
            am = _ATTR.match(rest, pos)
            if not am or am.end() == pos:
                raise err(
                    f'Expected equal sign in declaration of an attribute of the tag "{name}" '
                    f"at byte offset {byte_offset(begin)}"
                )
            if am.group(1):
                value = am.group(2)
                if value[:1] in "\"'":
                    value = value[1:-1]
                attrs[am.group(1).lower()] = html.unescape(value)
            pos = am.end()
        entity_type = HTML_TAGS[name]
        extra: dict[str, Any] = {}
        if name == "span":
            if attrs.get("class") != "tg-spoiler":
                raise err(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}'
                )
        elif name == "a":
            href = attrs.get("href", "")
            if not href:
                raise err(
                    f'Tag "a" must have attribute "href" at byte offset {byte_offset(begin)}'
                )
            extra["url"] = href
        elif name == "blockquote" and "expandable" in rest:
            entity_type = "expandable_blockquote"
        elif name == "tg-emoji":
            if "emoji-id" not in attrs:
                raise err(
                    'Tag "tg-emoji" must have attribute "emoji-id" at byte offset '
                    f"{byte_offset(begin)}"
                )
            extra["custom_emoji_id"] = attrs["emoji-id"]
        if stack and stack[-1]["tag"] in ("pre", "code") and name != "code":
            raise err(f'Unsupported nested tag "{name}" at byte offset {byte_offset(begin)}')
        stack.append({"tag": name, "type": entity_type, "offset": units, "extra": extra})
        i = end + 1
    if stack:
        raise err(f'Can\'t find end tag corresponding to start tag "{stack[-1]["tag"]}"')
    del raw
    return "".join(out), sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def check_text(text: Any, parse_mode: Any, *, what: str = "message text") -> tuple[str, list]:
    """Validate message text like sendMessage does; returns (visible text, entities)."""
    if not isinstance(text, str):
        raise bad(f"{what} is empty")
    entities: list = []
    if parse_mode is not None and str(parse_mode).lower() == "html":
        text, entities = parse_html(text)
    elif parse_mode not in (None, "") and str(parse_mode).lower() not in (
        "markdown",
        "markdownv2",
    ):
        raise bad(f"unsupported parse_mode {parse_mode}")
    stripped = text.strip()
    if not stripped:
        raise bad(f"{what} is empty")
    if utf16_len(stripped) > MAX_TEXT:
        raise bad("message is too long")
    lead = utf16_len(text) - utf16_len(text.lstrip())
    if lead:
        for entity in entities:
            entity["offset"] = max(0, entity["offset"] - lead)
    return stripped, entities


def check_reply_markup(markup: Any) -> dict | None:
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return markup  # reply keyboards etc.: not used by this bot, passed through
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise bad(
            'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
        )
    if sum(len(r) for r in rows) > 100:
        raise bad("reply markup is too long")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise bad('can\'t find field "text"')
            actions = [a for a in BUTTON_ACTIONS if a in button]
            if len(actions) != 1:
                raise bad("text buttons are unallowed in the inline keyboard")
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                    raise bad("BUTTON_DATA_INVALID")
            if "url" in button and not _URL_RE.match(str(button["url"])):
                raise bad("BUTTON_URL_INVALID")
    return markup


# --------------------------------------------------------------------------- the server


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int
    response: dict[str, Any]
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def result(self) -> Any:
        return self.response.get("result")


@dataclass
class Fault:
    method: str
    status: int
    description: str
    retry_after: int | None
    times: int
    chat_id: int | None = None
    kind: str = "status"  # status | stall | drop | act-drop | delay
    seconds: float = 0.0  # for delay


@dataclass(frozen=True)
class FakeUser:
    id: int
    first_name: str = "Amina"
    language_code: str | None = "en"
    username: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.language_code:
            d["language_code"] = self.language_code
        if self.username:
            d["username"] = self.username
        return d


class FakeBotAPI:
    def __init__(self, token: str = TOKEN, username: str = BOT_USERNAME, bot_id: int = BOT_ID):
        self.token = token
        self.username = username
        self.bot_id = bot_id
        self.calls: list[Call] = []  # recorded when answered (long polls: at the end)
        self.polls: list[dict] = []  # getUpdates parameters, recorded on arrival
        self.faults: list[Fault] = []
        self.blocked: set[int] = set()
        self.held: dict[int, asyncio.Event] = {}
        self.waiting: list[int] = []  # chats whose calls are being held right now
        self.commands: dict[tuple[str, str], list[dict]] = {}
        self.descriptions: dict[str, str] = {}
        self.short_descriptions: dict[str, str] = {}
        self.allowed_updates: tuple[str, ...] = DEFAULT_ALLOWED
        self.webhook: dict[str, Any] | None = None
        self.webhook_deliveries: list[tuple[int, int]] = []  # (update_id, HTTP status)
        self.dropped_updates: list[dict] = []  # not delivered: type not in allowed_updates
        self.chats: dict[int, dict] = {}
        self.messages: dict[tuple[int, int], dict] = {}
        self.callback_queries: dict[str, bool] = {}  # id -> answered
        self.inline_queries: dict[str, bool] = {}
        self._queue: list[dict] = []
        self._update_ids = itertools.count(700_000_001)
        self._message_ids: dict[int, itertools.count] = {}
        self._query_ids = itertools.count(5_000_000_001)
        self._changed = asyncio.Condition()
        self._poll_generation = 0
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._delivery: asyncio.Task | None = None
        self._wake_delivery = asyncio.Event()
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE_URL should be (PTB appends the token)."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> FakeBotAPI:
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._delivery = asyncio.create_task(self._deliver_webhooks())
        return self

    async def stop(self) -> None:
        self._closing = True
        async with self._changed:
            self._changed.notify_all()
        if self._delivery:
            self._delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeBotAPI:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # ------------------------------------------------------------------ test helpers

    def fail(
        self,
        method: str,
        status: int = 500,
        description: str | None = None,
        *,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """The next `times` calls of `method` fail (429 needs retry_after)."""
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after}",
                500: "Internal Server Error",
                502: "Bad Gateway",
                403: "Forbidden: bot was blocked by the user",
            }.get(status, "Bad Request: injected fault")
        self.faults.append(Fault(method.lower(), status, description, retry_after, times, chat_id))

    def stall(self, method: str, *, times: int = 1, chat_id: int | None = None) -> None:
        """The next `times` calls of `method` get no answer until the client gives up."""
        self.faults.append(Fault(method.lower(), 0, "timeout", None, times, chat_id, "stall"))

    def drop(self, method: str, *, times: int = 1, chat_id: int | None = None) -> None:
        """The next `times` calls of `method` have their connection closed unanswered."""
        self.faults.append(Fault(method.lower(), 0, "dropped", None, times, chat_id, "drop"))

    def drop_after(self, method: str, *, times: int = 1, chat_id: int | None = None) -> None:
        """The next `times` calls of `method` are carried out, then their connection is
        closed before the answer: Telegram acted, and the bot cannot know it did."""
        self.faults.append(Fault(method.lower(), 0, "acted", None, times, chat_id, "act-drop"))

    def slow(
        self, method: str, seconds: float, *, times: int = 1_000_000, chat_id: int | None = None
    ) -> None:
        """Calls of `method` are answered `seconds` late (a slow Telegram)."""
        fault = Fault(method.lower(), 0, "slow", None, times, chat_id, "delay", seconds)
        self.faults.append(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def pending_update_ids(self) -> list[int]:
        """Updates Telegram still holds: not yet confirmed by a getUpdates offset."""
        return [u["update_id"] for u in self._queue]

    def hold(self, chat_id: int) -> asyncio.Event:
        """Calls for this chat hang until the returned event is set (a slow Telegram)."""
        release = asyncio.Event()
        self.held[chat_id] = release
        return release

    def block(self, chat_id: int) -> None:
        """The person blocked the bot: every call for their chat gets 403."""
        self.blocked.add(chat_id)

    def calls_to(self, method: str, *, ok: bool | None = None) -> list[Call]:
        method = method.lower()
        return [c for c in self.calls if c.method.lower() == method and (ok is None or c.ok == ok)]

    def sent(self, chat_id: int | None = None) -> list[Call]:
        """Successful sendMessage calls (optionally for one chat)."""
        return [
            c
            for c in self.calls_to("sendMessage", ok=True)
            if chat_id is None or c.params.get("chat_id") == chat_id
        ]

    def bot_messages(self, chat_id: int) -> list[dict]:
        """The bot's messages in a chat as they are now (after edits), oldest first."""
        return [
            m
            for (cid, _mid), m in sorted(self.messages.items())
            if cid == chat_id and m.get("from", {}).get("id") == self.bot_id
        ]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
        """Wait until predicate() is truthy (re-checked after every API call, and every
        50 ms for conditions outside the server: a database row, a log line)."""

        async def check() -> Any:
            async with self._changed:
                while True:
                    value = predicate()
                    if value:
                        return value
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), 0.05)

        try:
            return await asyncio.wait_for(check(), timeout)
        except TimeoutError:
            methods = [c.method for c in self.calls[-15:]]
            raise AssertionError(f"condition not met; last calls: {methods}") from None

    async def wait_idle(self) -> None:
        """Wait until every pushed update was fetched and confirmed (or delivered)."""
        await self.wait_for(lambda: not self._queue)

    # ------------------------------------------------------------------ building updates

    def _chat(self, chat: dict) -> dict:
        self.chats[chat["id"]] = chat
        return chat

    def private_chat(self, user: FakeUser) -> dict:
        chat = {"id": user.id, "type": "private", "first_name": user.first_name}
        if user.username:
            chat["username"] = user.username
        return self._chat(chat)

    def group_chat(self, chat_id: int = -1001234567890, title: str = "Community group") -> dict:
        return self._chat({"id": chat_id, "type": "supergroup", "title": title})

    def _next_message_id(self, chat_id: int) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    @staticmethod
    def entities_for(text: str) -> list[dict]:
        """The entities Telegram's clients attach: commands at the start, @mentions."""
        entities = []
        m = re.match(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{3,32})?", text)
        if m:
            entities.append({"type": "bot_command", "offset": 0, "length": utf16_len(m.group(0))})
        for m in re.finditer(r"(?<![\w/])@[A-Za-z0-9_]{3,32}", text):
            entities.append(
                {
                    "type": "mention",
                    "offset": utf16_len(text[: m.start()]),
                    "length": utf16_len(m.group(0)),
                }
            )
        return entities

    def push_update(self, update: dict) -> int:
        update = dict(update)
        update["update_id"] = next(self._update_ids)
        self._queue.append(update)
        self._notify()
        self._wake_delivery.set()
        return update["update_id"]

    def _new_message(
        self, user: FakeUser, chat: dict | None, reply_to: dict | None = None, **content
    ) -> dict:
        chat = chat or self.private_chat(user)
        self._chat(chat)
        message = {
            "message_id": self._next_message_id(chat["id"]),
            "from": user.to_dict(),
            "chat": chat,
            "date": int(time.time()),
            **content,
        }
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        self.messages[(chat["id"], message["message_id"])] = message
        return message

    def send_text(
        self, user: FakeUser, text: str, *, chat: dict | None = None, reply_to: dict | None = None
    ) -> dict:
        """A person sends a text message; returns the message (the update is queued)."""
        content: dict[str, Any] = {"text": text}
        entities = self.entities_for(text)
        if entities:
            content["entities"] = entities
        message = self._new_message(user, chat, reply_to, **content)
        self.push_update({"message": message})
        return message

    def send_other(
        self,
        user: FakeUser,
        kind: str,
        *,
        chat: dict | None = None,
        caption: str | None = None,
    ) -> dict:
        """A non-text message: photo, voice, sticker, location, document, video_note, video,
        audio, animation, contact, venue, poll, dice (`caption` for the media that have one)."""
        uid = {"file_id": "AgAC-fake-file", "file_unique_id": "AQAD-fake"}
        location = {"latitude": 51.5072, "longitude": -0.1276}
        payloads: dict[str, dict[str, Any]] = {
            "photo": {"photo": [{**uid, "width": 90, "height": 90}]},
            "voice": {"voice": {**uid, "duration": 3}},
            "sticker": {
                "sticker": {
                    **uid,
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                }
            },
            "location": {"location": {"latitude": 51.5072, "longitude": -0.1276}},
            "document": {"document": {**uid, "file_name": "letter.pdf"}},
            "video_note": {"video_note": {**uid, "length": 240, "duration": 2}},
            "video": {"video": {**uid, "width": 640, "height": 480, "duration": 5}},
            "audio": {"audio": {**uid, "duration": 30}},
            "animation": {"animation": {**uid, "width": 320, "height": 240, "duration": 2}},
            "contact": {
                "contact": {"phone_number": "+447700900123", "first_name": "Dr", "user_id": 99}
            },
            "venue": {"venue": {"location": location, "title": "Clinic", "address": "1 High St"}},
            "poll": {
                "poll": {
                    "id": "5000001",
                    "question": "Which GP?",
                    "options": [
                        {"text": "North", "voter_count": 0, "persistent_id": "0"},
                        {"text": "South", "voter_count": 0, "persistent_id": "1"},
                    ],
                    "total_voter_count": 0,
                    "is_closed": False,
                    "is_anonymous": True,
                    "type": "regular",
                    "allows_multiple_answers": False,
                    "allows_revoting": False,
                    "members_only": False,
                }
            },
            "dice": {"dice": {"emoji": "🎲", "value": 4}},
        }
        content = dict(payloads[kind])
        if caption is not None:
            content["caption"] = caption
            entities = self.entities_for(caption)
            if entities:
                content["caption_entities"] = entities
        message = self._new_message(user, chat, **content)
        self.push_update({"message": message})
        return message

    def send_forwarded(self, user: FakeUser, text: str, *, origin: FakeUser | None = None) -> dict:
        """A text message the person forwarded from someone else (or a channel)."""
        if origin is not None:
            forward = {
                "type": "user",
                "date": int(time.time()) - 60,
                "sender_user": origin.to_dict(),
            }
        else:
            forward = {
                "type": "channel",
                "date": int(time.time()) - 60,
                "chat": {"id": -1009876543210, "type": "channel", "title": "NHS news"},
                "message_id": 77,
            }
        content: dict[str, Any] = {"text": text, "forward_origin": forward}
        entities = self.entities_for(text)
        if entities:
            content["entities"] = entities
        message = self._new_message(user, None, **content)
        self.push_update({"message": message})
        return message

    def channel_post(self, text: str, *, edited: bool = False) -> int:
        """A post in a channel the bot is in (never delivered: not in allowed_updates)."""
        chat = self._chat({"id": -1009876543210, "type": "channel", "title": "NHS news"})
        post = {
            "message_id": self._next_message_id(chat["id"]),
            "sender_chat": chat,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        return self.push_update({"edited_channel_post" if edited else "channel_post": post})

    def edit_text(self, message: dict, text: str) -> dict:
        """The person edits one of their messages."""
        edited = dict(message, text=text, edit_date=int(time.time()))
        edited.pop("entities", None)
        entities = self.entities_for(text)
        if entities:
            edited["entities"] = entities
        self.messages[(message["chat"]["id"], message["message_id"])] = edited
        self.push_update({"edited_message": edited})
        return edited

    def press(self, user: FakeUser, message: dict, data: str) -> str:
        """The person presses an inline button of `message` (forged data allowed)."""
        query_id = str(next(self._query_ids))
        self.callback_queries[query_id] = False
        current = self.messages.get((message["chat"]["id"], message["message_id"]), message)
        self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": user.to_dict(),
                    "chat_instance": "-8801234567",
                    "message": current,
                    "data": data,
                }
            }
        )
        return query_id

    def press_inline_message(self, user: FakeUser, data: str) -> str:
        """A button on a message sent via inline mode: no `message`, an inline_message_id."""
        query_id = str(next(self._query_ids))
        self.callback_queries[query_id] = False
        self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": user.to_dict(),
                    "chat_instance": "-8801234567",
                    "inline_message_id": "AgAAAF-fake-inline-message",
                    "data": data,
                }
            }
        )
        return query_id

    def inline(self, user: FakeUser, query: str, *, chat_type: str = "sender") -> str:
        query_id = str(next(self._query_ids))
        self.inline_queries[query_id] = False
        self.push_update(
            {
                "inline_query": {
                    "id": query_id,
                    "from": user.to_dict(),
                    "query": query,
                    "offset": "",
                    "chat_type": chat_type,
                }
            }
        )
        return query_id

    def member_status(
        self, user: FakeUser, status: str = "kicked", *, chat: dict | None = None
    ) -> int:
        """The person blocks (kicked) or restarts (member) the bot in their private chat; with
        `chat`, adds the bot to a group (member, administrator) or removes it (left, kicked)."""
        bot = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "NHS rights",
            "username": self.username,
        }
        if chat is None:
            old = "member" if status == "kicked" else "kicked"
        else:
            old = "left" if status in ("member", "administrator") else "member"
        new_member: dict[str, Any] = {"user": bot, "status": status}
        if status == "kicked":
            new_member["until_date"] = 0
        if status == "administrator":
            new_member.update(
                {
                    "can_be_edited": False,
                    "is_anonymous": False,
                    "can_manage_chat": True,
                    "can_delete_messages": False,
                    "can_manage_video_chats": False,
                    "can_restrict_members": False,
                    "can_promote_members": False,
                    "can_change_info": False,
                    "can_invite_users": True,
                    "can_post_stories": False,
                    "can_edit_stories": False,
                    "can_delete_stories": False,
                }
            )
        return self.push_update(
            {
                "my_chat_member": {
                    "chat": self._chat(chat) if chat is not None else self.private_chat(user),
                    "from": user.to_dict(),
                    "date": int(time.time()),
                    "old_chat_member": {"user": bot, "status": old},
                    "new_chat_member": new_member,
                }
            }
        )

    def bot_user(self) -> dict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "NHS rights",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
        }

    # ------------------------------------------------------------------ HTTP plumbing

    def _notify(self) -> None:
        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(notify())

    async def _not_found(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, str):
                        params[key] = value
        for key, value in list(params.items()):
            if key in JSON_FIELDS and isinstance(value, str):
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    raise bad(f"can't parse {key} JSON object") from None
            elif (key in INT_FIELDS or key == "chat_id") and isinstance(value, str):
                with contextlib.suppress(ValueError):
                    params[key] = int(value)
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        params: dict[str, Any] = {}
        try:
            params = await self._params(request)
        except ConnectionResetError:
            # The bot hung up mid-request (stopped while a call was in flight, as Telegram
            # sees it): nobody is left to answer, and it is not the server's error.
            return web.Response(status=499)
        try:
            handler = getattr(self, f"api_{method.lower()}", None)
            if handler is None:
                raise ApiError(404, "Not Found")
            act_then_drop = False
            for fault in self._check_faults(method, params):
                if fault.kind == "delay":
                    await asyncio.sleep(fault.seconds)
                    continue
                if fault.kind == "act-drop":
                    act_then_drop = True
                    continue
                self.calls.append(Call(method, params, 0, {"ok": False, "fault": fault.kind}))
                self._notify()
                if fault.kind == "drop" and request.transport is not None:
                    request.transport.abort()
                else:  # stall: wait until the client has given up (or the server stops)
                    await self._until_client_gone(request)
                return web.Response(status=504)
            release = self.held.get(params.get("chat_id"))  # type: ignore[arg-type]
            if release is not None and not release.is_set():
                self.waiting.append(params["chat_id"])
                self._notify()
                await release.wait()
            result = await handler(params)
            status, response = 200, {"ok": True, "result": result}
            if act_then_drop and request.transport is not None:
                # Carried out (the person sees it), but the answer never reaches the bot.
                self.calls.append(Call(method, params, status, response))
                self._notify()
                request.transport.abort()
                return web.Response(status=504)
        except ApiError as exc:
            status = exc.status
            response = {"ok": False, "error_code": exc.status, "description": exc.description}
            if exc.retry_after is not None:
                response["parameters"] = {"retry_after": exc.retry_after}
        self.calls.append(Call(method, params, status, response))
        self._notify()
        return web.json_response(response, status=status)

    def _check_faults(self, method: str, params: dict) -> list[Fault]:
        """Raise the first status fault that applies; return delays, stalls and drops."""
        chat_id = params.get("chat_id")
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        actions: list[Fault] = []
        for fault in self.faults:
            if fault.method == method.lower() and fault.times > 0:
                if fault.chat_id is not None and fault.chat_id != chat_id:
                    continue
                if fault.kind == "delay":
                    fault.times -= 1
                    actions.append(fault)
                    continue
                fault.times -= 1
                if fault.kind == "status":
                    raise ApiError(fault.status, fault.description, fault.retry_after)
                actions.append(fault)
                break
        return actions

    async def _until_client_gone(self, request: web.Request, limit: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while not self._closing and loop.time() < deadline:
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            await asyncio.sleep(0.02)

    # ------------------------------------------------------------------ methods: bot

    async def api_getme(self, params: dict) -> dict:
        return self.bot_user()

    async def api_close(self, params: dict) -> bool:
        return True

    async def api_logout(self, params: dict) -> bool:
        return True

    async def api_setmycommands(self, params: dict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad("commands must be an array of at most 100 BotCommand")
        for command in commands:
            if not _COMMAND_RE.match(str(command.get("command", ""))):
                raise bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad("command description is empty or too long")
        lang = self._lang(params)
        scope = (params.get("scope") or {"type": "default"}).get("type", "default")
        self.commands[(scope, lang)] = commands
        return True

    async def api_getmycommands(self, params: dict) -> list:
        scope = (params.get("scope") or {"type": "default"}).get("type", "default")
        return self.commands.get((scope, self._lang(params)), [])

    async def api_deletemycommands(self, params: dict) -> bool:
        scope = (params.get("scope") or {"type": "default"}).get("type", "default")
        self.commands.pop((scope, self._lang(params)), None)
        return True

    @staticmethod
    def _lang(params: dict) -> str:
        lang = params.get("language_code") or ""
        if lang and not _LANG_RE.match(lang):
            raise bad("LANG_CODE_INVALID")
        return lang

    def _set_text(self, params: dict, key: str, limit: int, into: dict[str, str]) -> bool:
        """setMyDescription / setMyShortDescription: at most `limit` characters."""
        text = params.get(key) or ""
        if len(text) > limit:
            raise bad(f"BOT_{key.upper()}_INVALID")
        into[self._lang(params)] = text
        return True

    async def api_setmydescription(self, params: dict) -> bool:
        return self._set_text(params, "description", 512, self.descriptions)

    async def api_setmyshortdescription(self, params: dict) -> bool:
        return self._set_text(params, "short_description", 120, self.short_descriptions)

    async def api_getmydescription(self, params: dict) -> dict:
        return {"description": self.descriptions.get(self._lang(params), "")}

    async def api_getmyshortdescription(self, params: dict) -> dict:
        return {"short_description": self.short_descriptions.get(self._lang(params), "")}

    # ------------------------------------------------------------------ methods: updates

    def _take_allowed(self, params: dict) -> None:
        if "allowed_updates" in params and params["allowed_updates"] is not None:
            wanted = params["allowed_updates"]
            if not isinstance(wanted, list):
                raise bad("allowed_updates must be an array")
            self.allowed_updates = tuple(wanted) if wanted else DEFAULT_ALLOWED

    def _deliverable(self) -> list[dict]:
        keep, ready = [], []
        for update in self._queue:
            kind = next(k for k in update if k != "update_id")
            if kind in self.allowed_updates:
                ready.append(update)
                keep.append(update)
            else:
                self.dropped_updates.append(update)
        self._queue = keep
        return ready

    async def api_getupdates(self, params: dict) -> list:
        if self.webhook:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        self._take_allowed(params)
        self.polls.append(params)
        self._notify()
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        if offset > 0:
            self._queue = [u for u in self._queue if u["update_id"] >= offset]
        self._poll_generation += 1
        generation = self._poll_generation
        deadline = asyncio.get_running_loop().time() + timeout

        def ready() -> list[dict]:
            updates = self._deliverable()
            if offset < 0:
                updates = updates[offset:]
            return updates[:limit]

        async with self._changed:
            while True:
                if generation != self._poll_generation:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that "
                        "only one bot instance is running",
                    )
                updates = ready()
                remaining = deadline - asyncio.get_running_loop().time()
                if updates or remaining <= 0 or self._closing:
                    return updates
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    async def api_setwebhook(self, params: dict) -> bool:
        url = params.get("url") or ""
        if not url:
            self.webhook = None
            return True
        if not re.match(r"^https://|^http://(127\.0\.0\.1|localhost)[:/]", url):
            raise bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.match(secret):
            raise bad("secret token contains unallowed characters")
        self._take_allowed(params)
        if params.get("drop_pending_updates") in (True, "true", "True"):
            self._queue.clear()
        self.webhook = {"url": url, "secret_token": secret}
        self._wake_delivery.set()
        return True

    async def api_deletewebhook(self, params: dict) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates") in (True, "true", "True"):
            self._queue.clear()
        return True

    async def api_getwebhookinfo(self, params: dict) -> dict:
        info: dict[str, Any] = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self.webhook:
            info["max_connections"] = 40
            info["allowed_updates"] = list(self.allowed_updates)
        return info

    async def _deliver_webhooks(self) -> None:
        while True:
            await self._wake_delivery.wait()
            self._wake_delivery.clear()
            while self.webhook and self._queue:
                updates = self._deliverable()
                if not updates:
                    break
                update = updates[0]
                status = await self._post_webhook(update)
                self.webhook_deliveries.append((update["update_id"], status))
                if status == 200:
                    self._queue.remove(update)
                else:
                    await asyncio.sleep(0.05)  # Telegram retries later too
                self._notify()

    async def _post_webhook(self, update: dict) -> int:
        assert self.webhook is not None
        if self._session is None:
            self._session = ClientSession(timeout=ClientTimeout(total=10))
        headers = {"Content-Type": "application/json"}
        if self.webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
        try:
            async with self._session.post(
                self.webhook["url"], data=json.dumps(update), headers=headers
            ) as resp:
                return resp.status
        except Exception:
            return 0

    # ------------------------------------------------------------------ methods: messages

    def _known_chat(self, params: dict) -> int:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise bad("chat_id is empty")
        if not isinstance(chat_id, int) or chat_id not in self.chats:
            raise bad("chat not found")
        return chat_id

    async def api_sendmessage(self, params: dict) -> dict:
        chat_id = self._known_chat(params)
        text, entities = check_text(params.get("text"), params.get("parse_mode"))
        markup = check_reply_markup(params.get("reply_markup"))
        reply = params.get("reply_parameters")
        reply_to = None
        if reply:
            target = (reply.get("chat_id", chat_id), reply.get("message_id"))
            reply_to = self.messages.get(target)
            if reply_to is None and not reply.get("allow_sending_without_reply"):
                raise bad("message to be replied not found")
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "from": self.bot_user(),
            "chat": self.chats[chat_id],
            "date": int(time.time()),
            "text": text,
        }
        if entities:
            message["entities"] = entities
        if markup:
            message["reply_markup"] = markup
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _editable(self, params: dict) -> tuple[tuple[int, Any], dict]:
        """The bot's own message that an edit names, as Telegram finds it (or refuses)."""
        key = (self._known_chat(params), params.get("message_id"))
        message = self.messages.get(key)
        if message is None:
            raise bad("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise bad("message can't be edited")
        return key, message

    async def api_editmessagetext(self, params: dict) -> dict | bool:
        text, entities = check_text(params.get("text"), params.get("parse_mode"))
        markup = check_reply_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        key, message = self._editable(params)
        if (
            message.get("text") == text
            and message.get("entities", []) == entities
            and message.get("reply_markup") == markup
        ):
            raise bad(
                "message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message"
            )
        edited = dict(message, text=text, edit_date=int(time.time()))
        edited.pop("entities", None)
        edited.pop("reply_markup", None)
        if entities:
            edited["entities"] = entities
        if markup:
            edited["reply_markup"] = markup
        self.messages[key] = edited
        return edited

    async def api_editmessagereplymarkup(self, params: dict) -> dict | bool:
        markup = check_reply_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        key, message = self._editable(params)
        if message.get("reply_markup") == markup:
            raise bad("message is not modified")
        edited = dict(message)
        edited.pop("reply_markup", None)
        if markup:
            edited["reply_markup"] = markup
        self.messages[key] = edited
        return edited

    async def api_deletemessage(self, params: dict) -> bool:
        chat_id = self._known_chat(params)
        if self.messages.pop((chat_id, params.get("message_id")), None) is None:
            raise bad("message to delete not found")
        return True

    async def api_sendchataction(self, params: dict) -> bool:
        self._known_chat(params)
        return True

    async def api_answercallbackquery(self, params: dict) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if self.callback_queries.get(query_id, True):
            raise bad("query is too old and response timeout expired or query ID is invalid")
        if len(str(params.get("text") or "")) > 200:
            raise bad("MESSAGE_TOO_LONG")
        self.callback_queries[query_id] = True
        return True

    async def api_answerinlinequery(self, params: dict) -> bool:
        query_id = str(params.get("inline_query_id", ""))
        if self.inline_queries.get(query_id, True):
            raise bad("query is too old and response timeout expired or query ID is invalid")
        results = params.get("results")
        if not isinstance(results, list):
            raise bad("can't parse inline query results JSON object")
        if len(results) > 50:
            raise bad("RESULTS_TOO_MUCH")
        seen = set()
        for result in results:
            rid = str(result.get("id", ""))
            if not 1 <= len(rid.encode("utf-8")) <= 64:
                raise bad("RESULT_ID_INVALID")
            if rid in seen:
                raise bad("RESULT_ID_DUPLICATE")
            seen.add(rid)
            if result.get("type") == "article":
                if not result.get("title"):
                    raise bad("RESULT_TITLE_EMPTY")
                content = result.get("input_message_content") or {}
                check_text(content.get("message_text"), content.get("parse_mode"))
            check_reply_markup(result.get("reply_markup"))
        self.inline_queries[query_id] = True
        return True
