"""The Telegram-free core on the bundled content: what a person actually gets back."""

from __future__ import annotations

import pytest

from bot.content import MAX_CALLBACK_BYTES, load_catalogue
from bot.engine import Engine
from bot.markup import to_plain
from bot.replies import Outcome, Reply


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_catalogue())


def _best_topic(reply: Reply) -> str | None:
    """The topic a person is led to: the answer, or the first 'did you mean' button."""
    if reply.outcome is Outcome.ANSWER:
        return reply.topic
    if reply.outcome is Outcome.DID_YOU_MEAN:
        return reply.candidates[0].topic
    return None


# Questions written for these tests, not copied from the content's examples.
PARAPHRASES = [
    ("i dont have a pasport can i still registr with a doctor", "gp-registration"),
    ("the recepshonist said i need proof of adress to join the surgery", "gp-refused"),
    ("does my gp tell the home ofice where i live", "data-sharing"),
    ("hospital sent me invoice i cannot afford it, what happens", "nhs-debt"),
    ("im pregnent and have no visa will they still look after me", "maternity-care"),
    ("what does this bot keep about me", "bot-privacy"),
    ("is the surcharge paid for every year of my visa", "health-surcharge"),
    ("do i pay for an interpretor at my appointment", "interpreters"),
    ("my husband beats me where can i get help from a doctor", "domestic-abuse"),
    ("can the school nurse see my son if we have no papers", "children-health"),
    ("i feel depressed all the time and cant sleep", "mental-health"),
    ("is hiv test free for people without status", "infectious-diseases-vaccines"),
]


@pytest.mark.parametrize(("question", "topic"), PARAPHRASES)
def test_typos_and_paraphrases_lead_to_the_right_topic(
    engine: Engine, question: str, topic: str
) -> None:
    reply = engine.ask(question)
    assert _best_topic(reply) == topic, (reply.outcome, reply.candidates)


@pytest.mark.parametrize("question", [q for q, _t in PARAPHRASES])
def test_never_a_confident_wrong_answer(engine: Engine, question: str) -> None:
    reply = engine.ask(question)
    expected = dict(PARAPHRASES)[question]
    if reply.outcome is Outcome.ANSWER:
        assert reply.topic == expected


@pytest.mark.parametrize(
    "question",
    [
        "how do i get a council flat",
        "can you help me find a job",
        "how long does a spouse visa application take",
        "who will win the football tonight",
    ],
)
def test_out_of_scope_never_maps_to_a_topic(engine: Engine, question: str) -> None:
    reply = engine.ask(question)
    assert reply.outcome is not Outcome.ANSWER
    assert reply.topic is None


@pytest.mark.parametrize("question", ["hi", "Hello!!", "salam", "thanks", "thank you so much"])
def test_small_talk_never_maps_to_a_topic(engine: Engine, question: str) -> None:
    reply = engine.ask(question)
    assert reply.outcome is Outcome.SMALL_TALK
    assert reply.topic is None


@pytest.mark.parametrize(
    ("question", "first"),
    [
        ("my wife is pregnant and bleeding a lot", "maternity-care"),
        ("I have CHEST PAIN and no papers", None),
        ("my friend is unconcious and not breathing", None),
    ],
)
def test_emergency_comes_first(engine: Engine, question: str, first: str | None) -> None:
    reply = engine.ask(question)
    assert reply.emergency
    assert reply.topic == "emergency-care"
    assert reply.blocks[0] == engine.catalogue.emergency.header
    assert "999" in to_plain(reply.blocks[0])
    # The answer shown is emergency care's; the topic asked about is one tap away.
    assert reply.candidates[0].topic == "emergency-care"
    assert engine.title("emergency-care", "en") in reply.markup
    if first:
        assert f"t:{first}" in [b.data for row in reply.buttons for b in row][:2]


def test_crisis_gets_a_crisis_line(engine: Engine) -> None:
    reply = engine.ask("i want to kill myself")
    assert reply.emergency and reply.crisis
    assert reply.blocks[0] == engine.catalogue.emergency.crisis_header
    assert "116 123" in reply.blocks[0]


def test_asking_about_emergency_care_is_not_an_emergency(engine: Engine) -> None:
    assert not engine.ask("is a&e free for people with no visa").emergency


def test_every_answer_shows_sources_review_date_and_related(engine: Engine) -> None:
    for topic in engine.catalogue.topics.values():
        reply = engine.topic_reply(topic.id)
        text = to_plain(reply.markup)
        assert topic.sources[0].url in text
        assert "Last reviewed:" in text
        datas = [b.data for row in reply.buttons for b in row]
        related = [d for d in datas if d.startswith("t:")]
        assert [f"t:{r}" for r in topic.related] == related
        assert ("c:" + topic.id in datas) == bool(topic.card)
        assert datas[-1] == "menu"
        for data in datas:
            assert len(data.encode()) <= MAX_CALLBACK_BYTES


def test_buttons_round_trip_and_forged_data_expires(engine: Engine) -> None:
    menu = engine.menu()
    first = menu.buttons[0][0]
    reply = engine.press(first.data)
    assert reply.outcome is Outcome.ANSWER and reply.topic == first.data[2:]
    for forged in ["t:no-such-topic", "x" * 64, "", "t:", "menu2"]:
        expired = engine.press(forged)
        assert expired.outcome is Outcome.EXPIRED
        assert expired.buttons  # the menu again


def test_nonsense_falls_back_to_the_menu(engine: Engine) -> None:
    reply = engine.ask("qwzx vbnm plkj")
    assert reply.outcome is Outcome.FALLBACK
    assert len([b for row in reply.buttons for b in row]) == len(engine.catalogue.menu_topics())


@pytest.mark.parametrize("text", ["", "   ", "🙂🙂🙂", "\u200b\u200f", "a" * 5000, "?!?!"])
def test_odd_input_gets_a_reply(engine: Engine, text: str) -> None:
    reply = engine.ask(text)
    assert reply.blocks


def test_inline_search_lists_topics_for_one_word(engine: Engine) -> None:
    assert [t.id for t in engine.search("gp")][:2] == ["gp-registration", "gp-refused"]
    assert engine.search("hc2")[0].id == "asylum-seeker-health"
    assert engine.search("qwzx vbnm") == []
    assert engine.search("") == []


def test_arabic_joined_and_does_not_hide_an_emergency() -> None:
    from bot.emergency import EmergencyDetector
    from bot.normalise import normalise

    detector = EmergencyDetector(["ما عم يتنفس"], [])
    assert detector.detect(normalise("ابني وما عم يتنفس")) is not None
    assert detector.detect(normalise("ابني ما عم يتنفس")) is not None
    assert detector.detect(normalise("ابني يتنفس")) is None


@pytest.mark.parametrize("lang", ["xx", "", "zz-ZZ", "en"])
def test_unknown_language_codes_get_english(engine: Engine, lang: str) -> None:
    assert engine.ask("can i see a gp", lang).lang == "en"
    assert engine.topic_reply("gp-registration", lang).lang == "en"
    assert engine.menu(lang).lang == "en"
    assert engine.press("menu", lang).lang == "en"


def test_emergency_phrases_allow_one_inserted_word() -> None:
    from bot.emergency import EmergencyDetector
    from bot.normalise import normalise

    detector = EmergencyDetector(["douleur poitrine", "not breathing"], [])
    assert detector.detect(normalise("douleur forte poitrine")) is not None
    assert detector.detect(normalise("he is not really breathing")) is not None
    # two inserted words are a different sentence, not a description of the phrase
    assert detector.detect(normalise("i am not sure about breathing exercises")) is None
