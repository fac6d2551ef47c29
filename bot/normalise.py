"""Text normalisation shared by matching, emergency detection and language detection.

People type on cheap phones in many scripts: the same word arrives with different
Unicode forms, Arabic letter variants, diacritics, Persian digits, stretched letters
("pleeease") and stray punctuation. Everything compared is first folded by `normalise`.
"""

from __future__ import annotations

import re
import unicodedata

# Arabic-script letter variants folded to one form (alef, yeh, kaf, heh families).
_ARABIC_FOLD = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ی",
        "ي": "ی",
        "ئ": "ی",
        "ې": "ی",
        "ۍ": "ی",
        "ك": "ک",
        "ڪ": "ک",
        "ە": "ه",
        "ہ": "ه",
        "ھ": "ه",
        "ۀ": "ه",
        "ة": "ه",
        "ؤ": "و",
        "ـ": None,  # tatweel
    }
)
# Persian (U+06F0..) and Arabic-Indic (U+0660..) digits to ASCII.
_DIGITS = str.maketrans(
    {chr(0x06F0 + i): str(i) for i in range(10)} | {chr(0x0660 + i): str(i) for i in range(10)}
)
_ARABIC_MARKS = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u00ad]")
_APOSTROPHES = re.compile(r"['’`´ʼ]")
_REPEATS = re.compile(r"([^\W\d_])\1{2,}")  # letters only: "999" stays
_NON_WORD = re.compile(r"[^\w]+")
_NO_DECOMPOSITION = str.maketrans({"ł": "l", "đ": "d", "ø": "o", "æ": "ae", "œ": "oe", "ґ": "г"})


def _fold_accents(text: str) -> str:
    """Latin and Cyrillic letters without their accents: "să"/"sa", "médico"/"medico",
    "mogę"/"moge" (people often type without them). Other scripts keep their marks
    here; Arabic-script marks are handled with its letter variants below."""
    if text.isascii():
        return text
    out = []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch) and out and out[-1] < "\u0590":
            continue  # an accent on a Latin or Cyrillic letter
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out)).translate(_NO_DECOMPOSITION)


def normalise(text: str) -> str:
    """Fold text for comparison: NFKC, casefold, accents, Arabic variants, digits,
    punctuation, repeated letters."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _INVISIBLE.sub("", text)
    text = _fold_accents(text)
    text = text.translate(_DIGITS)
    text = _ARABIC_MARKS.sub("", text).translate(_ARABIC_FOLD)
    text = text.replace("&", " and ")
    text = _APOSTROPHES.sub("", text)
    text = _REPEATS.sub(r"\1\1", text)
    text = _NON_WORD.sub(" ", text).replace("_", " ")
    return " ".join(text.split())


_LETTER = re.compile(r"[^\W\d_]")
_SCRIPT_RANGES = (
    ("latin", re.compile(r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")),
    ("arabic", re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")),
    ("cyrillic", re.compile(r"[\u0400-\u052f]")),
)


def script_of(text: str) -> str | None:
    """The dominant script of the letters in `text`: latin, arabic, cyrillic, or other.

    Runs for every phrase at start-up and every question, so it counts by code-point
    ranges with regular expressions rather than by looking up each character's name.
    """
    letters = "".join(_LETTER.findall(text))
    if not letters:
        return None
    counts = {name: len(pattern.findall(letters)) for name, pattern in _SCRIPT_RANGES}
    counts["other"] = len(letters) - sum(counts.values())
    return max(counts, key=counts.__getitem__)
