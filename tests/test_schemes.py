"""People who came through the Ukraine and Afghan schemes get a plain answer (issue 20).

End to end through the engine the console and Telegram use (`load_engine`, `engine.ask`):
a question about paying for care from someone on a Ukraine scheme or relocated under
ARAP/ACRS is answered outright with 'Who does not have to pay' or 'Paying for hospital
care', and the answer carries the new sentence in the person's language.
The `engine` fixture (tests/conftest.py) is `bot.telegram.app.load_engine()`.
The questions were written for this test, not copied from the examples.
"""

from __future__ import annotations

import pytest

from bot.engine import Engine
from bot.normalise import normalise
from bot.replies import Outcome

UKRAINE = (
    "In 2022 the government made NHS care in England free for people who lived in Ukraine "
    "(and their close family) and are in the UK lawfully, except fertility treatment such as "
    "IVF. Check that this still applies to you."
)
AFGHAN = (
    "People relocated or resettled from Afghanistan under ARAP or ACRS have indefinite leave "
    "to remain, so NHS care is free for them, as for anyone who lives here."
)
ANSWERS = {"charging-exemptions", "hospital-charges"}

# A piece of each translation, so the test fails if the paragraph shows in English.
MARKERS = {
    ("uk", UKRAINE): "Перевірте, чи це досі стосується вас.",
    ("uk", AFGHAN): "безстроковий дозвіл на проживання",
    ("fa", UKRAINE): "بررسی کنید که آیا این هنوز شامل حال شما می‌شود.",
    ("fa", AFGHAN): "اقامت دائم",
    ("en", UKRAINE): "Check that this still applies to you.",
    ("en", AFGHAN): "indefinite leave to remain",
}

QUESTIONS = [
    ("en", UKRAINE, "I'm Ukrainian and staying with a host family, will the hospital bill me"),
    ("en", UKRAINE, "we fled ukraine last year, does the hospital charge us"),
    ("en", AFGHAN, "my family was relocated from afghanistan under arap, is the hospital free"),
    ("en", AFGHAN, "came with the afghan resettlement scheme (acrs), do we pay for treatment"),
    ("uk", UKRAINE, "ми втекли від війни з україни, за лікування в NHS треба платити?"),
    ("uk", UKRAINE, "ми українці по програмі спонсорства, з нас візьмуть гроші в госпіталі?"),
    ("uk", AFGHAN, "наша сімʼя з афганістану приїхала по ARAP, чи платимо за лікарню"),
    ("fa", UKRAINE, "من اوکراینی هستم آیا باید پول شفاخانه بدهم"),
    ("fa", AFGHAN, "ما از طریق ARAP به انگلستان آمدیم آیا باید برای شفاخانه پول بدهیم"),
    ("fa", AFGHAN, "خانواده ام با ACRS آمده، درمان در شفاخانه رایگان است؟"),
]


def test_the_questions_are_not_copied_from_the_examples(engine: Engine) -> None:
    learnt = {p.text for p in engine.matcher.phrases}
    assert not [q for _l, _s, q in QUESTIONS if normalise(q) in learnt]


@pytest.mark.parametrize(("lang", "sentence", "question"), QUESTIONS)
def test_scheme_question_gets_the_answer_with_the_new_sentence(
    engine: Engine, lang: str, sentence: str, question: str
) -> None:
    reply = engine.ask(question, lang)
    assert reply.outcome is Outcome.ANSWER, (reply.outcome, reply.candidates)
    assert reply.topic in ANSWERS, reply.topic
    translated = engine.locales.translations(lang).gettext(sentence)
    if lang != "en":
        assert translated != sentence, f"no {lang} translation"
    text = "\n".join(reply.blocks)
    assert translated in text
    assert MARKERS[lang, sentence] in text


def test_a_vaguer_ukrainian_question_puts_the_exemptions_first(engine: Engine) -> None:
    """Visa, "free?" and a woman's word for Ukrainian (also in pregnancy examples): the
    matcher is not sure enough to answer outright, but 'Who does not have to pay' is the
    first button."""
    reply = engine.ask(
        "я українка, живу в англії за візою, чи безкоштовно мене лікуватимуть в NHS", "uk"
    )
    assert reply.outcome in (Outcome.ANSWER, Outcome.DID_YOU_MEAN)
    first = reply.topic if reply.outcome is Outcome.ANSWER else reply.candidates[0].topic
    assert first == "charging-exemptions"


@pytest.mark.parametrize("topic", sorted(ANSWERS))
@pytest.mark.parametrize("lang", ["ar", "es", "fa", "fr", "pl", "ps", "ro", "uk", "ur"])
def test_both_answers_carry_both_sentences_translated(
    engine: Engine, topic: str, lang: str
) -> None:
    gettext = engine.locales.translations(lang).gettext
    text, stale = engine.translate(engine.catalogue.topics[topic].answer, lang)
    assert not stale
    for sentence in (UKRAINE, AFGHAN):
        assert gettext(sentence) != sentence
        assert gettext(sentence) in text
