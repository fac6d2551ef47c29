"""Telling languages apart by letters and words, on real-looking questions.

Arabic, Dari/Farsi, Pashto and Urdu share a script; Ukrainian and Russian share most of
theirs. A wrong guess would offer the wrong language, so unsure means None.
"""

from __future__ import annotations

import pytest

from bot.i18n import Locales
from bot.langdetect import LanguageDetector
from bot.normalise import normalise


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    # every language under locales/, shipped or not, with its language.yaml hints
    return LanguageDetector(d.language for d in Locales().data.values())


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("آیا بدون پاسپورت می‌توانم پیش داکتر بروم؟", "fa"),
        ("من حامله هستم و ویزا ندارم، چه کار کنم", "fa"),
        ("زه امیندواره یم، ایا کولی شم ډاکټر ته لاړ شم؟", "ps"),
        ("زما ماشوم ناروغه دی روغتون ته څنګه لاړ شم", "ps"),
        ("کیا میں بغیر پاسپورٹ کے ڈاکٹر کے پاس جا سکتا ہوں؟", "ur"),
        ("مجھے ہسپتال کا بل ملا ہے میں ادا نہیں کر سکتی", "ur"),
        ("هل يمكنني التسجيل عند الطبيب بدون اوراق؟", "ar"),
        ("انا حامل وليس عندي اقامة", "ar"),
        ("чи можу я зареєструватися у лікаря без документів", "uk"),
        ("можно ли к врачу без документов", None),  # Russian: not Ukrainian
        ("puedo ver a un médico sin papeles", "es"),
        ("czy mogę iść do lekarza bez dokumentów", "pl"),
        ("pot să merg la medic fără acte", "ro"),
        ("est-ce que je peux voir un médecin sans papiers", "fr"),
        ("can i see a gp without papers", "en"),
        ("999", None),
        ("🙂", None),
    ],
)
def test_detects_language(detector: LanguageDetector, text: str, lang: str | None) -> None:
    assert detector.detect(text, normalise(text)) == lang


def test_capital_letters_count(detector: LanguageDetector) -> None:
    text = "ЧИ МОЖНА ЗРОБИТИ ТЕСТ НА ВІЛ БЕЗКОШТОВНО"
    assert detector.detect(text, normalise(text)) == "uk"


def test_spanish_accents_are_not_french(detector: LanguageDetector) -> None:
    text = "¿puedo ir al médico sin papeles?"
    assert detector.detect(text, normalise(text)) == "es"


def test_pashto_typed_on_a_persian_keyboard_is_pashto(detector: LanguageDetector) -> None:
    text = "زه پاسپورت نه لرم داکتر ته تلی شم"  # پ without Pashto-only letters
    assert detector.detect(text, normalise(text)) == "ps"
