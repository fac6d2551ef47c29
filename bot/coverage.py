"""Translation coverage: what each language has translated, what is fuzzy, what is missing.

The messages are extracted afresh from the code and the content (the same extractors as
`make translations`), so a stale template cannot hide an untranslated paragraph.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

from bot.content import Catalogue
from bot.i18n import SOURCE_LANGUAGE, Locales

MIN_EXAMPLES = 10
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None}


@dataclass(frozen=True, slots=True)
class Messages:
    interface: frozenset[str]
    content: frozenset[str]


def extract_messages(repo: Path) -> Messages:
    """Every msgid of the interface (bot/**.py) and of the content (content/**.yaml)."""
    from bot.babel_extract import extract_content

    interface: set[str] = set()
    content: set[str] = set()
    method_map = [("bot/**.py", "python"), ("content/**.yaml", extract_content)]
    for filename, _line, message, _comments, _context in extract_from_dir(
        str(repo), method_map=method_map, keywords=KEYWORDS
    ):
        ids = message if isinstance(message, tuple) else (message,)
        target = content if filename.startswith("content") else interface
        target.update(m for m in ids[:1] if m)
    return Messages(frozenset(interface), frozenset(content))


@dataclass
class Part:
    translated: int = 0
    fuzzy: int = 0
    missing: int = 0
    missing_ids: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.translated + self.fuzzy + self.missing

    def share(self, n: int) -> str:
        return f"{n / self.total:6.1%}" if self.total else "   n/a"


@dataclass
class LanguageCoverage:
    code: str
    shipped: bool
    status: str
    interface: Part
    answers: Part
    examples: dict[str, int]  # topic id -> native examples
    emergency: int

    def topics_without_examples(self) -> list[str]:
        return sorted(t for t, n in self.examples.items() if n == 0)

    def topics_with_few_examples(self) -> list[str]:
        return sorted(t for t, n in self.examples.items() if 0 < n < MIN_EXAMPLES)

    @property
    def complete(self) -> bool:
        return (
            self.interface.missing == 0
            and self.answers.missing == 0
            and not self.topics_without_examples()
            and self.emergency > 0
        )


def _part(ids: Iterable[str], translations) -> Part:
    part = Part()
    for msgid in sorted(ids):
        if translations.lookup(msgid) is not None:
            part.translated += 1
        elif msgid in translations.fuzzy:
            part.fuzzy += 1
        else:
            part.missing += 1
            part.missing_ids.append(msgid)
    return part


def measure(catalogue: Catalogue, locales: Locales, messages: Messages) -> list[LanguageCoverage]:
    out = []
    for code, data in locales.data.items():
        if code == SOURCE_LANGUAGE:
            continue
        topics = (data.examples or {}).get("topics") or {}
        examples = {t: len(topics.get(t) or ()) for t in catalogue.topics}
        emergency = len((data.examples or {}).get("emergency") or ())
        out.append(
            LanguageCoverage(
                code=code,
                shipped=data.language.shipped,
                status=data.language.status,
                interface=_part(messages.interface, data.translations),
                answers=_part(messages.content, data.translations),
                examples=examples,
                emergency=emergency,
            )
        )
    return out


def report(rows: list[LanguageCoverage], verbose: bool = False) -> tuple[str, bool]:
    """A table for people, and whether every shipped language is complete."""
    lines = [
        f"{'lang':5} {'shipped':8} {'status':9} {'part':10} {'done':>7} {'fuzzy':>7} "
        f"{'missing':>8}",
    ]
    ok = True
    for row in rows:
        for name, part in (("interface", row.interface), ("answers", row.answers)):
            lines.append(
                f"{row.code:5} {'yes' if row.shipped else 'no':8} {row.status:9} {name:10} "
                f"{part.share(part.translated):>7} {part.share(part.fuzzy):>7} "
                f"{part.share(part.missing):>8}"
            )
        with_examples = sum(1 for n in row.examples.values() if n)
        enough = sum(1 for n in row.examples.values() if n >= MIN_EXAMPLES)
        lines.append(
            f"{row.code:5} {'':8} {'':9} {'examples':10} "
            f"{with_examples}/{len(row.examples)} topics have examples, "
            f"{enough} have {MIN_EXAMPLES}+; {row.emergency} emergency phrases"
        )
        problems = []
        if row.interface.missing or row.answers.missing:
            problems.append(f"{row.interface.missing + row.answers.missing} missing translations")
        if row.topics_without_examples():
            problems.append("no examples for " + ", ".join(row.topics_without_examples()))
        if row.emergency == 0:
            problems.append("no emergency phrases")
        if row.shipped and problems:
            ok = False
            lines.append(f"  ERROR {row.code} is shipped but has " + "; ".join(problems))
        if verbose:
            for msgid in row.interface.missing_ids + row.answers.missing_ids:
                lines.append(f"  missing {row.code}: {msgid[:90]!r}")
    return "\n".join(lines), ok
