"""Languages: which are offered, their gettext catalogues, and their matching data.

Translators work with standard gettext files (`locales/<lang>/LC_MESSAGES/messages.po`,
see TRANSLATING.md). The bot reads the `.po` files at start-up and compiles them in memory,
so nobody has to remember a compile step and no compiled file is committed. Fuzzy and
empty entries are never shown as if current: `lookup` returns None for them and the
caller shows English with a note. Review status lives in `language.yaml`, because
`pybabel update` drops custom PO headers.
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from babel import Locale
from babel.core import UnknownLocaleError
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po

from bot.content import SAFE_LOADER, Problem

SOURCE_LANGUAGE = "en"
DOMAIN = "messages"
CODE_RE = re.compile(r"^[a-z]{2,3}$")
LANGUAGE_KEYS = {
    "name": True,
    "direction": True,
    "shipped": True,
    "status": True,
    "reviewed_by": False,
    "reviewed_on": False,
    "detect": False,
}


def default_locales_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "locales"


@dataclass(frozen=True, slots=True)
class Language:
    code: str
    native_name: str
    rtl: bool = False
    shipped: bool = True
    status: str = "source"  # source (English), draft, or reviewed
    reviewed_by: str | None = None
    reviewed_on: dt.date | None = None
    letters: str = ""  # letters that mark this language among others of its script
    words: tuple[str, ...] = ()  # common words that mark it

    @property
    def draft(self) -> bool:
        return self.status == "draft"


ENGLISH = Language(
    SOURCE_LANGUAGE,
    "English",
    words=tuple(
        [
            "i",
            "the",
            "a",
            "to",
            "is",
            "am",
            "are",
            "can",
            "do",
            "my",
            "me",
            "you",
            "will",
            "what",
            "how",
            "if",
            "no",
            "not",
            "for",
            "have",
            "with",
            "in",
            "at",
            "of",
            "and",
            "or",
            "get",
            "go",
            "need",
            "help",
            "doctor",
            "hospital",
            "pay",
            "free",
            "without",
            "when",
            "who",
            "where",
            "why",
            "does",
            "they",
            "it",
            "be",
        ]
    ),
)


class Translations:
    """One language's catalogue: gettext for interface strings, lookup for content."""

    def __init__(self, code: str, catalog: Catalog | None = None) -> None:
        self.code = code
        self.current: dict[str, str] = {}
        self.fuzzy: set[str] = set()
        self._gnu: gettext.NullTranslations = gettext.NullTranslations()
        self._mo = b""
        if catalog is None:
            return
        for message in catalog:
            if not message.id or isinstance(message.id, tuple):
                continue
            if message.fuzzy:
                self.fuzzy.add(message.id)
            elif message.string:
                self.current[message.id] = message.string
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        self._mo = buffer.getvalue()
        self._gnu = gettext.GNUTranslations(io.BytesIO(self._mo))

    @property
    def mo(self) -> bytes:
        """The compiled catalogue (gettext's .mo format; empty for English)."""
        return self._mo

    @classmethod
    def from_parts(
        cls, code: str, current: dict[str, str], fuzzy: set[str], mo: bytes
    ) -> Translations:
        """Translations as stored by bot.snapshot: plain strings and the .mo bytes, read by
        gettext exactly as a .mo file would be (OSError when they are not a catalogue)."""
        translations = cls(code)
        translations.current = dict(current)
        translations.fuzzy = set(fuzzy)
        translations._mo = mo
        if mo:
            translations._gnu = gettext.GNUTranslations(io.BytesIO(mo))
        return translations

    def gettext(self, message: str) -> str:
        return self._gnu.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._gnu.ngettext(singular, plural, n)

    def lookup(self, message: str) -> str | None:
        """The current translation, or None when it is missing or fuzzy."""
        if self.code == SOURCE_LANGUAGE:
            return message
        return self.current.get(message)


@dataclass
class LocaleData:
    language: Language
    translations: Translations
    examples: dict[str, Any] = field(default_factory=dict)


class Locales:
    """Every language under `locales/`, with English as the source."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_locales_dir()
        self.problems: list[Problem] = []
        # The strict check of each catalogue read (see `check_catalogues`), kept apart:
        # the loader itself carries on with what Babel could parse.
        self.catalogue_problems: list[Problem] = []
        self.data: dict[str, LocaleData] = {
            SOURCE_LANGUAGE: LocaleData(ENGLISH, Translations(SOURCE_LANGUAGE))
        }
        if not self.root.is_dir():
            return
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            self._load(folder)

    @classmethod
    def from_parts(
        cls,
        root: Path,
        data: dict[str, LocaleData],
        problems: list[Problem],
        catalogue_problems: list[Problem],
    ) -> Locales:
        """Locales read before and stored by bot.snapshot, without parsing any file."""
        locales = cls.__new__(cls)
        locales.root = root
        locales.problems = list(problems)
        locales.catalogue_problems = list(catalogue_problems)
        locales.data = dict(data)
        return locales

    # -------------------------------------------------------------- loading

    def _problem(self, path: Path, line: int, message: str) -> None:
        try:
            rel = str(path.relative_to(self.root.parent))
        except ValueError:
            rel = str(path)
        self.problems.append(Problem(rel, line, message))

    def _yaml(self, path: Path) -> Any:
        try:
            return yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            self._problem(path, mark.line + 1 if mark else 1, f"invalid YAML: {exc}")
        except OSError as exc:
            self._problem(path, 1, f"cannot read file: {exc}")
        return None

    def _load(self, folder: Path) -> None:
        code = folder.name
        if not CODE_RE.match(code) or code == SOURCE_LANGUAGE:
            self._problem(folder, 1, f"'{code}' is not a two- or three-letter language code")
            return
        meta_path = folder / "language.yaml"
        meta = self._yaml(meta_path)
        if not isinstance(meta, dict):
            self._problem(meta_path, 1, "language.yaml missing or not a mapping")
            return
        for key in meta:
            if not isinstance(key, str) or key not in LANGUAGE_KEYS:
                self._problem(meta_path, 1, f"unknown key {key!r}")
        for key, required in LANGUAGE_KEYS.items():
            if required and key not in meta:
                self._problem(meta_path, 1, f"missing key '{key}'")
        status = meta.get("status")
        if status not in ("draft", "reviewed"):
            self._problem(meta_path, 1, "status must be 'draft' or 'reviewed'")
            status = "draft"
        reviewed_on = meta.get("reviewed_on")
        if status == "reviewed" and not (meta.get("reviewed_by") and reviewed_on):
            self._problem(meta_path, 1, "status 'reviewed' needs reviewed_by and reviewed_on")
            status = "draft"
        detect = meta.get("detect") or {}
        language = Language(
            code=code,
            native_name=str(meta.get("name") or code),
            rtl=meta.get("direction") == "rtl",
            shipped=meta.get("shipped") is True,
            status=status,
            reviewed_by=meta.get("reviewed_by"),
            reviewed_on=reviewed_on if isinstance(reviewed_on, dt.date) else None,
            letters=str(detect.get("letters") or ""),
            words=tuple(str(w) for w in detect.get("words") or ()),
        )
        po_path = folder / "LC_MESSAGES" / f"{DOMAIN}.po"
        try:
            catalog = None
            if po_path.is_file():
                catalog, problems = read_catalogue(po_path, code, self.root)
                self.catalogue_problems += problems
                if catalog is None:  # nothing could be read: the loader's problem too
                    self.problems += problems
            translations = Translations(code, catalog)
        except Exception as exc:  # a broken catalogue must not take the bot down
            self._problem(po_path, 1, f"cannot read catalogue: {exc}")
            translations = Translations(code)
        examples_path = folder / "examples.yaml"
        examples = self._yaml(examples_path) if examples_path.is_file() else {}
        if not isinstance(examples, dict):
            self._problem(examples_path, 1, "examples.yaml must be a mapping")
            examples = {}
        self.data[code] = LocaleData(language, translations, examples)

    # -------------------------------------------------------------- queries

    def language(self, code: str) -> Language:
        return self.data[code].language if code in self.data else ENGLISH

    def translations(self, code: str) -> Translations:
        return self.data[code].translations if code in self.data else self.data["en"].translations

    def shipped(self) -> list[Language]:
        """Languages offered to people: English first, then by code."""
        return [d.language for d in self.data.values() if d.language.shipped]

    def is_shipped(self, code: str | None) -> bool:
        return code in self.data and self.data[code].language.shipped

    def resolve(self, saved: str | None, telegram_code: str | None) -> str:
        """Reply language: saved choice, else Telegram's primary subtag, else English."""
        if saved and self.is_shipped(saved):
            return saved
        if telegram_code:
            primary = telegram_code.replace("_", "-").split("-")[0].lower()
            if self.is_shipped(primary):
                return primary
        return SOURCE_LANGUAGE

    def display_name(self, code: str, in_language: str | None = None) -> str:
        """A language's name from Babel (`Locale.get_display_name`), else language.yaml."""
        try:
            name = Locale.parse(code).get_display_name(in_language or code)
        except (ValueError, LookupError):
            name = None
        return name or self.language(code).native_name


_default: Locales | None = None


def default_locales() -> Locales:
    global _default
    if _default is None:
        _default = Locales()
    return _default


def shipped_languages() -> list[Language]:
    return default_locales().shipped()


def is_shipped(code: str | None) -> bool:
    return default_locales().is_shipped(code)


def resolve_language(saved: str | None, telegram_code: str | None) -> str:
    return default_locales().resolve(saved, telegram_code)


def translator(lang: str) -> Translations:
    """Interface strings for `lang`: `_ = translator(lang).gettext`."""
    return default_locales().translations(lang)


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def check_catalogues(locales_dir: Path) -> list[Problem]:
    """Every `locales/<lang>/LC_MESSAGES/messages.po` parsed strictly; problems with lines.

    The loader skips what Babel cannot parse (with a warning); here a line Babel cannot
    parse, and a translation whose `{placeholders}` differ from the English (`.format()`
    would fail when the message is shown), are errors with their line.
    """
    problems: list[Problem] = []
    for po_path in sorted(locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        problems += read_catalogue(po_path, po_path.parent.parent.name, locales_dir)[1]
    return problems


def read_catalogue(
    po_path: Path, code: str, locales_dir: Path
) -> tuple[Catalog | None, list[Problem]]:
    """One catalogue, read once: strictly first (for `check_catalogues`' problems), and
    when that fails, again leniently, so the loader still gets what Babel can parse."""
    rel = _relative(po_path, locales_dir)
    problems: list[Problem] = []
    try:
        catalog = _read_po(po_path, code, strict=True)
    except PoFileError as exc:
        reason = str(exc).rsplit(" on ", 1)[0]
        problems.append(Problem(rel, exc.lineno + 1, f"invalid catalogue: {reason}"))
        try:
            return _read_po(po_path, code, strict=False), problems
        except (OSError, UnicodeDecodeError, ValueError):
            return None, problems
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, [Problem(rel, 1, f"cannot read catalogue: {type(exc).__name__}")]
    for message in catalog:
        if not message.id or message.fuzzy or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set().union(*(_PLACEHOLDER.findall(i) for i in ids))
        for string in strings:
            if not string:
                continue
            found = set(_PLACEHOLDER.findall(string))
            if found != wanted:
                shown = ", ".join(f"{{{n}}}" for n in sorted(found ^ wanted))
                problems.append(
                    Problem(
                        rel,
                        message.lineno or 1,
                        f"placeholders differ from the English ({shown})",
                    )
                )
                break
    return catalog, problems


def _read_po(po_path: Path, code: str, *, strict: bool) -> Catalog:
    with po_path.open("rb") as handle:
        try:
            return read_po(handle, locale=code, abort_invalid=strict)
        except UnknownLocaleError:
            handle.seek(0)
            return read_po(handle, abort_invalid=strict)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)
