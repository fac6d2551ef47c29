"""999 first, through Telegram: the production application against the fake Bot API.

Each message goes out as a real update, is answered by `build_application`'s handlers
(the engine runs in a worker thread) and comes back as a sendMessage the fake server
parsed as Telegram would. What a person reads first is checked, not the engine's fields.
"""

from __future__ import annotations

from conftest import ALICE, Harness, buttons, text_of

from bot.engine import Engine
from bot.replies import Alert, Outcome

# Written for these tests (not copied from eval/ or the examples).
POLISH_STROKE = "mama nagle ma krzywą twarz z jednej strony i mówi niewyraźnie, nie rozumiem jej"
CRISIS = "i have all my tablets counted out next to me and tonight i am going to swallow them all"
UNSURE_AND_WORRYING = "i burned my hand with oil and the skin is white"


def first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0]


async def test_a_described_stroke_in_polish_gets_999_first(bot: Harness, engine: Engine) -> None:
    assert engine.ask(POLISH_STROKE).alert is not None  # no listed phrase says this
    await bot.choose_language(ALICE, "pl")
    reply = await bot.say(ALICE, POLISH_STROKE)
    assert "999" in first_line(text_of(reply))


async def test_a_crisis_gets_the_crisis_header_first(bot: Harness, engine: Engine) -> None:
    decided = engine.ask(CRISIS)
    assert decided.alert is Alert.CRISIS
    reply = await bot.say(ALICE, CRISIS)
    text = text_of(reply)
    assert "999" in first_line(text)
    assert "116 123" in text.split("\n\n", 2)[1]  # Samaritans come straight after
    assert "t:mental-health" in buttons(reply) or engine.title("mental-health", "en") in text


async def test_an_unsure_match_still_says_999_above_the_choices(
    bot: Harness, engine: Engine
) -> None:
    decided = engine.ask(UNSURE_AND_WORRYING)
    assert (decided.outcome, decided.alert) == (Outcome.DID_YOU_MEAN, Alert.POSSIBLE)
    reply = await bot.say(ALICE, UNSURE_AND_WORRYING)
    assert "999" in first_line(text_of(reply))
    topics = [d for d in buttons(reply) if d and d.startswith("t:")]
    assert len(topics) >= 2  # the choices are still there under the line


async def test_an_ordinary_question_has_no_999_line(bot: Harness) -> None:
    reply = await bot.say(ALICE, "how do I register with a GP")
    assert "999" not in first_line(text_of(reply))
