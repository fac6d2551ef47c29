"""Interface languages: which are offered, and the translator for each.

Today only English ships; the languages issue adds gettext catalogues under `locales/`.
Front ends call `translator(lang).gettext(msg)` (bound to `_`) so strings are extractable.
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass

SOURCE_LANGUAGE = "en"


@dataclass(frozen=True, slots=True)
class Language:
    code: str
    native_name: str
    rtl: bool = False


_SHIPPED: dict[str, Language] = {"en": Language("en", "English")}


def shipped_languages() -> list[Language]:
    """Languages offered to people, English first."""
    return list(_SHIPPED.values())


def is_shipped(code: str | None) -> bool:
    return code in _SHIPPED


def resolve_language(saved: str | None, telegram_code: str | None) -> str:
    """Reply language: saved choice, else the primary subtag of Telegram's code, else English."""
    if saved and is_shipped(saved):
        return saved
    if telegram_code:
        primary = telegram_code.replace("_", "-").split("-")[0].lower()
        if is_shipped(primary):
            return primary
    return SOURCE_LANGUAGE


def translator(lang: str) -> gettext.NullTranslations:
    """The catalogue for `lang`; English (the msgids themselves) when there is none."""
    return gettext.NullTranslations()
