"""A Babel extraction method for our YAML content (`pybabel extract` with `[content: ...]`).

Registered as the `content` extractor in pyproject.toml, so translators use the standard
`pybabel extract/init/update` workflow. Each title, reply and answer unit (a paragraph or
a bullet) becomes one msgid, with the file line and a comment saying where it is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from bot.content import SAFE_LOADER
from bot.markup import units

Extracted = tuple[int, str | None, str, list[str]]


def _scalar_line(node: yaml.Node | None, key: str) -> tuple[int, bool]:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                block = isinstance(v, yaml.ScalarNode) and v.style in ("|", ">")
                return v.start_mark.line + 1, block
    return 1, False


def _markup(node: yaml.Node | None, data: dict, key: str, comment: str) -> Iterator[Extracted]:
    text = data.get(key)
    if not isinstance(text, str) or not text.strip():
        return
    line, block = _scalar_line(node, key)
    for unit in units(text.strip()):
        yield (line + unit.line + (1 if block else 0), None, unit.text, [comment])


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def extract_content(fileobj, keywords, comment_tags, options) -> Iterator[Extracted]:
    """Yield (line, function, message, comments) for every translatable text in a file."""
    text = fileobj.read().decode("utf-8")
    node = yaml.compose(text, Loader=SAFE_LOADER)
    data: Any = yaml.load(text, Loader=SAFE_LOADER)
    if not isinstance(data, dict):
        return
    if "id" in data and "answer" in data:  # a topic
        topic = data["id"]
        if isinstance(data.get("title"), str):
            line, _block = _scalar_line(node, "title")
            yield (line, None, data["title"].strip(), [f"title of topic {topic} (button label)"])
        yield from _markup(node, data, "answer", f"answer of topic {topic}")
        yield from _markup(node, data, "card", f"staff card of topic {topic}")
    elif "header" in data:  # emergency.yaml
        yield from _markup(node, data, "header", "emergency: shown first, before the answer")
        yield from _markup(node, data, "crisis_header", "emergency: thoughts of suicide")
    elif isinstance(data.get("intents"), dict):  # small_talk.yaml
        intents_node = _child(node, "intents")
        for name, body in data["intents"].items():
            if isinstance(body, dict):
                yield from _markup(
                    _child(intents_node, name), body, "reply", f"small talk reply: {name}"
                )
    elif "reply" in data:  # out_of_scope.yaml
        yield from _markup(node, data, "reply", "reply to questions outside health care")
