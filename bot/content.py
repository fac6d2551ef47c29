"""Load and validate the YAML content into one immutable catalogue.

Editors need every mistake at once, each as `path:line: message`, so validation never
stops at the first problem; the bot itself refuses to start from content with errors.
Line numbers come from PyYAML's node tree (`yaml.compose`), values from `safe_load`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from bot.markup import MarkupError, parse, plain_length
from bot.normalise import normalise

MAX_MESSAGE = 4096
MAX_CALLBACK_BYTES = 64
MAX_TITLE = 60
STALE_AFTER_DAYS = 365
NATIONS = ("england", "scotland", "wales", "northern-ireland")
ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
URL_RE = re.compile(r"^https://[A-Za-z0-9.-]+\.[A-Za-z]{2,}(?::\d+)?(?:[/?#][^\s<>\"]*)?$")
TOPIC_BUTTON_PREFIX = "t:"
# libyaml's safe loader when PyYAML was built with it (several times faster), else Python's.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

TOPIC_KEYS = {
    "id": True,
    "title": True,
    "answer": True,
    "examples": True,
    "keywords": True,
    "sources": True,
    "reviewed": True,
    "nations": True,
    "related": True,
    "parent": False,
    "card": False,
}
SOURCE_KEYS = {"title": True, "url": True, "publisher": True}


def default_content_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "content"


def shared_topics_file() -> Path:
    """`../shared/topics.md` beside the repository: the public list of topic ids."""
    return Path(__file__).resolve().parent.parent.parent / "shared" / "topics.md"


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    line: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        kind = "warning: " if self.warning else ""
        return f"{self.path}:{self.line}: {kind}{self.message}"


class ContentInvalid(Exception):
    """Raised by `load_catalogue` when content has errors; carries every problem."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if not p.warning]
        super().__init__(f"{len(errors)} content error(s):\n" + "\n".join(map(str, errors)))


@dataclass(frozen=True, slots=True)
class Source:
    title: str
    url: str
    publisher: str


@dataclass(frozen=True, slots=True)
class Topic:
    id: str
    title: str
    answer: str
    examples: tuple[str, ...]
    keywords: tuple[str, ...]
    sources: tuple[Source, ...]
    reviewed: dt.date
    nations: tuple[str, ...]
    related: tuple[str, ...]
    parent: str | None = None
    card: str | None = None  # key facts for reception staff ("show this card")

    @property
    def public_id(self) -> str:
        """The id reported to the outside (`match`): a sub-topic reports its parent."""
        return self.parent or self.id

    @property
    def button(self) -> str:
        return TOPIC_BUTTON_PREFIX + self.id


@dataclass(frozen=True, slots=True)
class Intent:
    """A small-talk intent (greeting, thanks, ...): examples and the reply."""

    name: str
    examples: tuple[str, ...]
    reply: str


@dataclass(frozen=True, slots=True)
class Emergency:
    header: str
    crisis_header: str
    phrases: tuple[str, ...]
    crisis_phrases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OutOfScope:
    examples: tuple[str, ...]
    reply: str


@dataclass(frozen=True)
class Catalogue:
    """Everything the bot knows, loaded once and never mutated."""

    root: Path
    topics: Mapping[str, Topic]
    emergency: Emergency
    small_talk: tuple[Intent, ...]
    out_of_scope: OutOfScope
    warnings: tuple[Problem, ...] = field(default=())

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (bot.snapshot): the read-only topics view is stored as a dict."""
        return {**self.__dict__, "topics": dict(self.topics)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, MappingProxyType(value) if key == "topics" else value)

    def menu_topics(self) -> list[Topic]:
        """Top-level topics in file order (sub-topics are reached through their parent)."""
        return [t for t in self.topics.values() if t.parent is None]


# --------------------------------------------------------------------------- YAML reading


class _Doc:
    """A parsed YAML file: the plain data and the line of every key and list item."""

    def __init__(self, path: Path, rel: str, problems: list[Problem]) -> None:
        self.rel = rel
        self.problems = problems
        self.data: Any = None
        self.node: yaml.Node | None = None
        self.ok = False
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.error(1, f"cannot read file: {exc}")
            return
        try:
            self.node = yaml.compose(text, Loader=SAFE_LOADER)
            self.data = yaml.load(text, Loader=SAFE_LOADER)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark else 1
            problem = getattr(exc, "problem", None) or str(exc)
            self.error(line, f"invalid YAML: {problem}")
            self.data = None
            return
        self.ok = True

    def error(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.rel, line, message))

    def warn(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.rel, line, message, warning=True))


def _child(node: yaml.Node | None, key: Any) -> yaml.Node | None:
    """The value node under `key` (a mapping key or a list index)."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == str(key):
                return v
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        return node.value[key]
    return None


def _line(node: yaml.Node | None, default: int = 1) -> int:
    return node.start_mark.line + 1 if node is not None else default


def _key_line(node: yaml.Node | None, key: Any) -> int:
    if isinstance(node, yaml.MappingNode):
        for k, _v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == str(key):
                return k.start_mark.line + 1
    return _line(node)


def _check_keys(
    doc: _Doc, data: dict, node: yaml.Node | None, spec: Mapping[str, bool], where: str
) -> None:
    for key in data:
        if not isinstance(key, str):
            line = _line(node)
            if isinstance(node, yaml.MappingNode):
                odd = [k for k, _v in node.value if k.tag != "tag:yaml.org,2002:str"]
                line = _line(odd[0]) if odd else line
            doc.error(
                line,
                f"{where}key {key!r} is not text (quote it: YAML reads no/yes/on as true/false)",
            )
        elif key not in spec:
            doc.error(_key_line(node, key), f"{where}unknown key '{key}'")
    for key, required in spec.items():
        if required and key not in data:
            doc.error(_line(node), f"{where}missing key '{key}'")


def _string(doc: _Doc, data: dict, node: yaml.Node | None, key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        doc.error(_key_line(node, key), f"'{key}' must be non-empty text")
        return None
    return value.strip()


def _string_list(
    doc: _Doc, data: dict, node: yaml.Node | None, key: str, *, min_items: int = 0
) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        doc.error(_key_line(node, key), f"'{key}' must be a list")
        return ()
    out = []
    list_node = _child(node, key)
    for i, item in enumerate(value):
        if isinstance(item, bool | int | float | dt.date):
            doc.error(
                _line(_child(list_node, i)),
                f"'{key}' item {i + 1} ({item!r}) was not read as text: put it in quotes",
            )
            continue
        if not isinstance(item, str) or not item.strip():
            doc.error(_line(_child(list_node, i)), f"'{key}' item {i + 1} must be non-empty text")
            continue
        out.append(item.strip())
    if len(out) < min_items:
        doc.error(_key_line(node, key), f"'{key}' needs at least {min_items} item(s)")
    return tuple(out)


def _markup(doc: _Doc, node: yaml.Node | None, key: str, text: str | None) -> None:
    """Check markup and its rendered length, reporting the line inside the file."""
    if text is None:
        return
    value_node = _child(node, key)
    try:
        parse(text)
    except MarkupError as exc:
        start = _line(value_node)
        # Block scalars (| or >) start on the line after the indicator.
        is_block = isinstance(value_node, yaml.ScalarNode) and value_node.style in ("|", ">")
        doc.error(start + exc.line + (1 if is_block else 0), f"markup: {exc.message}")
        return
    length = plain_length(text)
    if length > MAX_MESSAGE:
        doc.error(
            _line(value_node),
            f"'{key}' is {length} characters rendered; one Telegram message holds {MAX_MESSAGE}",
        )


# --------------------------------------------------------------------------- topics


def _load_sources(doc: _Doc, data: dict, node: yaml.Node | None) -> tuple[Source, ...]:
    value = data.get("sources")
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        doc.error(_key_line(node, "sources"), "'sources' must be a non-empty list")
        return ()
    sources = []
    list_node = _child(node, "sources")
    for i, item in enumerate(value):
        item_node = _child(list_node, i)
        where = f"source {i + 1}: "
        if not isinstance(item, dict):
            doc.error(_line(item_node), f"{where}must be a mapping with title, url, publisher")
            continue
        _check_keys(doc, item, item_node, SOURCE_KEYS, where)
        title = _string(doc, item, item_node, "title")
        url = _string(doc, item, item_node, "url")
        publisher = _string(doc, item, item_node, "publisher")
        if url is not None and not URL_RE.match(url):
            doc.error(_key_line(item_node, "url"), f"{where}bad URL {url!r} (must be https://)")
            continue
        if title and url and publisher:
            sources.append(Source(title, url, publisher))
    return tuple(sources)


def _load_topic(doc: _Doc, today: dt.date) -> Topic | None:
    data, node = doc.data, doc.node
    if not isinstance(data, dict):
        if data is not None or not doc.problems:
            doc.error(1, "a topic file must be a mapping of keys (id, title, answer, ...)")
        return None
    _check_keys(doc, data, node, TOPIC_KEYS, "")
    topic_id = _string(doc, data, node, "id")
    if topic_id is not None and not ID_RE.match(topic_id):
        doc.error(_key_line(node, "id"), f"id {topic_id!r} must be lowercase words joined by '-'")
        topic_id = None
    if topic_id is not None:
        if len((TOPIC_BUTTON_PREFIX + topic_id).encode()) > MAX_CALLBACK_BYTES:
            doc.error(_key_line(node, "id"), "id too long for a Telegram button (64 bytes)")
        if Path(doc.rel).stem != topic_id:
            doc.error(_key_line(node, "id"), f"id '{topic_id}' does not match the file name")
    title = _string(doc, data, node, "title")
    if title and len(title) > MAX_TITLE:
        doc.error(_key_line(node, "title"), f"title is {len(title)} characters; keep it <= 60")
    answer = _string(doc, data, node, "answer")
    _markup(doc, node, "answer", answer)
    examples = _string_list(doc, data, node, "examples", min_items=1)
    keywords = _string_list(doc, data, node, "keywords")
    sources = _load_sources(doc, data, node)
    nations = _string_list(doc, data, node, "nations", min_items=1)
    for i, nation in enumerate(nations):
        if nation not in NATIONS:
            doc.error(
                _line(_child(_child(node, "nations"), i), _key_line(node, "nations")),
                f"unknown nation {nation!r} (one of {', '.join(NATIONS)})",
            )
    related = _string_list(doc, data, node, "related")
    parent = _string(doc, data, node, "parent")
    card = _string(doc, data, node, "card")
    _markup(doc, node, "card", card)
    reviewed = data.get("reviewed")
    if "reviewed" in data:
        line = _key_line(node, "reviewed")
        if isinstance(reviewed, dt.datetime) or not isinstance(reviewed, dt.date):
            doc.error(line, "'reviewed' must be a date written YYYY-MM-DD")
            reviewed = None
        elif reviewed > today:
            doc.error(line, f"'reviewed' date {reviewed} is in the future")
        elif (today - reviewed).days > STALE_AFTER_DAYS:
            doc.warn(line, f"not reviewed for over 12 months (last {reviewed})")
    if not (topic_id and title and answer and examples and sources and reviewed and nations):
        return None
    return Topic(
        id=topic_id,
        title=title,
        answer=answer,
        examples=examples,
        keywords=keywords,
        sources=sources,
        reviewed=reviewed,
        nations=nations,
        related=related,
        parent=parent,
        card=card,
    )


# --------------------------------------------------------------------------- other files


def _load_emergency(doc: _Doc) -> Emergency | None:
    data, node = doc.data, doc.node
    if not isinstance(data, dict):
        doc.error(1, "must be a mapping with header, crisis_header, phrases, crisis_phrases")
        return None
    spec = {"header": True, "crisis_header": True, "phrases": True, "crisis_phrases": True}
    _check_keys(doc, data, node, spec, "")
    header = _string(doc, data, node, "header")
    crisis = _string(doc, data, node, "crisis_header")
    _markup(doc, node, "header", header)
    _markup(doc, node, "crisis_header", crisis)
    phrases = _string_list(doc, data, node, "phrases", min_items=1)
    crisis_phrases = _string_list(doc, data, node, "crisis_phrases", min_items=1)
    if header and crisis and phrases and crisis_phrases:
        return Emergency(header, crisis, phrases, crisis_phrases)
    return None


def _load_small_talk(doc: _Doc) -> tuple[Intent, ...] | None:
    data, node = doc.data, doc.node
    if not isinstance(data, dict) or not isinstance(data.get("intents"), dict):
        doc.error(1, "must be a mapping with 'intents': {name: {examples, reply}}")
        return None
    _check_keys(doc, data, node, {"intents": True}, "")
    intents_node = _child(node, "intents")
    intents = []
    for name, body in data["intents"].items():
        body_node = _child(intents_node, name)
        if not isinstance(name, str) or not ID_RE.match(name):
            doc.error(_line(body_node), f"intent name {name!r} must be lowercase words and '-'")
            continue
        if not isinstance(body, dict):
            doc.error(_line(body_node), f"intent '{name}' must have examples and reply")
            continue
        _check_keys(doc, body, body_node, {"examples": True, "reply": True}, f"{name}: ")
        examples = _string_list(doc, body, body_node, "examples", min_items=1)
        reply = _string(doc, body, body_node, "reply")
        _markup(doc, body_node, "reply", reply)
        if examples and reply:
            intents.append(Intent(name, examples, reply))
    return tuple(intents)


def _load_out_of_scope(doc: _Doc) -> OutOfScope | None:
    data, node = doc.data, doc.node
    if not isinstance(data, dict):
        doc.error(1, "must be a mapping with examples and reply")
        return None
    _check_keys(doc, data, node, {"examples": True, "reply": True}, "")
    examples = _string_list(doc, data, node, "examples", min_items=1)
    reply = _string(doc, data, node, "reply")
    _markup(doc, node, "reply", reply)
    if examples and reply:
        return OutOfScope(examples, reply)
    return None


# --------------------------------------------------------------------------- whole catalogue


def required_topic_ids(path: Path | None = None) -> list[str]:
    """Topic ids listed in `../shared/topics.md` (empty when the file is not beside us)."""
    path = path or shared_topics_file()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    return re.findall(r"^\|\s*`([a-z0-9-]+)`\s*\|", text, flags=re.MULTILINE)


def _collect(root: Path, today: dt.date) -> tuple[Catalogue | None, list[Problem]]:
    problems: list[Problem] = []

    def rel(p: Path) -> str:
        try:
            return str(p.relative_to(root.parent))
        except ValueError:
            return str(p)

    topics_dir = root / "topics"
    topics: dict[str, Topic] = {}
    first_seen: dict[str, str] = {}
    if not topics_dir.is_dir():
        problems.append(Problem(rel(topics_dir), 1, "missing folder of topic files"))
    files = sorted(topics_dir.glob("*.yaml")) if topics_dir.is_dir() else []
    id_lines: dict[str, tuple[_Doc, int]] = {}
    for path in files:
        doc = _Doc(path, rel(path), problems)
        if not doc.ok:
            continue
        topic = _load_topic(doc, today)
        if topic is None:
            continue
        if topic.id in topics:
            doc.error(
                _key_line(doc.node, "id"),
                f"duplicate id '{topic.id}' (also in {first_seen[topic.id]})",
            )
            continue
        topics[topic.id] = topic
        first_seen[topic.id] = doc.rel
        id_lines[topic.id] = (doc, _key_line(doc.node, "related"))

    # Cross-file rules: related ids and parents must exist.
    for topic in topics.values():
        doc, line = id_lines[topic.id]
        related_node = _child(doc.node, "related")
        for i, other in enumerate(topic.related):
            if other not in topics:
                doc.error(_line(_child(related_node, i), line), f"related id '{other}' not found")
            elif other == topic.id:
                doc.error(
                    _line(_child(related_node, i), line), "a topic cannot be related to itself"
                )
        if topic.parent is not None and topic.parent not in topics:
            doc.error(_key_line(doc.node, "parent"), f"parent id '{topic.parent}' not found")

    # An example copied into two topics would make `check` look better than the bot is.
    owner: dict[str, str] = {}
    for topic in topics.values():
        doc, _ = id_lines[topic.id]
        examples_node = _child(doc.node, "examples")
        for i, example in enumerate(topic.examples):
            key = normalise(example)
            line = _line(_child(examples_node, i))
            if key in owner and owner[key] != topic.id:
                doc.error(line, f"example {example!r} is also an example of '{owner[key]}'")
            elif key in owner:
                doc.warn(line, f"example {example!r} appears twice in this topic")
            owner.setdefault(key, topic.id)

    emergency = _load_special(root / "emergency.yaml", rel, problems, _load_emergency)
    small_talk = _load_special(root / "small_talk.yaml", rel, problems, _load_small_talk)
    out_of_scope = _load_special(root / "out_of_scope.yaml", rel, problems, _load_out_of_scope)

    for missing in [t for t in required_topic_ids() if t not in topics]:
        problems.append(
            Problem(rel(topics_dir), 1, f"topic '{missing}' of topics.md is missing", True)
        )

    if any(not p.warning for p in problems) or not (emergency and small_talk and out_of_scope):
        return None, problems
    catalogue = Catalogue(
        root=root,
        topics=MappingProxyType(topics),
        emergency=emergency,
        small_talk=small_talk,
        out_of_scope=out_of_scope,
        warnings=tuple(problems),
    )
    return catalogue, problems


def _load_special(path: Path, rel, problems: list[Problem], loader):
    if not path.is_file():
        problems.append(Problem(rel(path), 1, "file is missing"))
        return None
    doc = _Doc(path, rel(path), problems)
    return loader(doc) if doc.ok else None


def validate(root: Path, today: dt.date | None = None) -> list[Problem]:
    """Every problem in the content under `root`, errors and warnings, in file order."""
    _catalogue, problems = _collect(root, today or dt.date.today())
    return problems


def load_catalogue(root: Path | None = None, today: dt.date | None = None) -> Catalogue:
    """Load content for the running bot; raises ContentInvalid if there is any error."""
    catalogue, problems = _collect(root or default_content_dir(), today or dt.date.today())
    if catalogue is None:
        raise ContentInvalid(problems)
    return catalogue


def errors_only(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if not p.warning]
