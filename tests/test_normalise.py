"""Normalisation folds the many ways one word arrives from a phone."""

from __future__ import annotations

import pytest

from bot.normalise import normalise, script_of


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Can I go to A&E???", "can i go to a and e"),
        ("Helllllo   GP!!", "hello gp"),
        ("call 999 or 111", "call 999 or 111"),
        ("I can’t pay", "i cant pay"),
        ("ＧＰ", "gp"),  # full-width letters (NFKC)
        ("gp\u200bno\u200dpassport", "gpnopassport"),  # zero-width characters removed
        ("أنا حامل", "انا حامل"),  # alef with hamza
        ("بيمارستان", "بیمارستان"),  # Arabic yeh -> Persian yeh
        ("كمك", "کمک"),  # Arabic kaf -> keheh
        ("مـــريض", "مریض"),  # tatweel
        ("مَرِيض", "مریض"),  # diacritics
        ("۱۱۱ و ٩٩٩", "111 و 999"),  # Persian and Arabic-Indic digits
        ("ДОКТОР", "доктор"),
        ("Vreau să-mi iau viața", "vreau sa mi iau viata"),  # accents folded: people omit them
        ("¿Puedo ir al médico?", "puedo ir al medico"),
        ("Mogę iść do szpitala, Łódź", "moge isc do szpitala lodz"),
        ("їжа й ґанок", "іжа и ганок"),  # Cyrillic the same way on both sides
        ("", ""),
    ],
)
def test_normalise(raw: str, folded: str) -> None:
    assert normalise(raw) == folded


def test_script_of() -> None:
    assert script_of("hello") == "latin"
    assert script_of("مرحبا hi") == "arabic"
    assert script_of("лікар") == "cyrillic"
    assert script_of("123 !!") is None
