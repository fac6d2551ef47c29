"""The console front end: the same engine as Telegram, rendered as plain text.

Buttons are numbered; typing a number presses one. Works with piped input, so a whole
conversation can be scripted in a test.
"""

from __future__ import annotations

import sys
from typing import TextIO

from bot.engine import LANGUAGE_BUTTON_PREFIX, Engine
from bot.i18n import translator
from bot.markup import to_plain
from bot.replies import Button, Reply


def render(reply: Reply) -> tuple[str, list[Button]]:
    """Plain text of a reply and its buttons in the order they are numbered."""
    buttons = [b for row in reply.buttons for b in row]
    lines = [to_plain(block) for block in reply.blocks]
    if buttons:
        lines.append("\n".join(f"  [{i}] {b.label}" for i, b in enumerate(buttons, 1)))
    return "\n\n".join(lines), buttons


def chat(engine: Engine, lang: str, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    _ = translator(lang).gettext
    interactive = stdin.isatty()
    text, buttons = render(engine.menu(lang))
    print(
        _("Ask a question about health care in the UK. Type a number to press a button."), file=out
    )
    print(_("Empty line or Ctrl-D to quit."), file=out)
    print(file=out)
    print(text, file=out)
    while True:
        if interactive:
            print("\n> ", end="", file=out, flush=True)
        try:
            line = stdin.readline()
        except KeyboardInterrupt:
            break
        if not line:
            break
        line = line.strip()
        if not line:
            if interactive:
                break
            continue
        if line.isdigit() and 1 <= int(line) <= len(buttons):
            data = buttons[int(line) - 1].data
            if data.startswith(LANGUAGE_BUTTON_PREFIX):  # "reply in ...": switch, show the menu
                lang = data[len(LANGUAGE_BUTTON_PREFIX) :]
                reply = engine.menu(lang)
            else:
                reply = engine.press(data, lang)
        else:
            reply = engine.ask(line, lang)
        text, buttons = render(reply)
        print(file=out)
        print(text, file=out, flush=True)
    return 0
