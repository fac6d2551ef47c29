"""Languages: catalogues read at start-up, honest fallback, RTL, detection, cards, coverage."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from bot.babel_extract import extract_content
from bot.content import load_catalogue
from bot.coverage import extract_messages, measure, report
from bot.engine import Engine
from bot.i18n import Locales
from bot.langdetect import LanguageDetector
from bot.markup import FSI, PDI, to_html
from bot.normalise import normalise
from bot.replies import Outcome

TODAY = dt.date(2026, 11, 23)
GP_FIRST = "**You can register with a GP without ID, proof of address or immigration status.**"
GP_SECOND = (
    "GP appointments are free. See the [BMA guidance](https://www.bma.org.uk/advice-and-support/"
    "gp-practices/managing-your-practice-list/patient-registration)."
)
DRAFT_NOTE = "This translation is a draft: a native speaker has not checked it yet."
STALE_NOTE = "Some parts are shown in English because their translation is being updated."


def _write_locale(root: Path, code: str, meta: dict, messages: dict, fuzzy=(), examples=None):
    folder = root / code / "LC_MESSAGES"
    folder.mkdir(parents=True)
    catalog = Catalog(locale=code)
    for msgid, msgstr in messages.items():
        catalog.add(msgid, msgstr, flags=("fuzzy",) if msgid in fuzzy else ())
    with (folder / "messages.po").open("wb") as handle:
        write_po(handle, catalog)
    (root / code / "language.yaml").write_text(yaml.safe_dump(meta, allow_unicode=True))
    if examples is not None:
        (root / code / "examples.yaml").write_text(yaml.safe_dump(examples, allow_unicode=True))


@pytest.fixture
def locales(tmp_path: Path) -> Locales:
    root = tmp_path / "locales"
    _write_locale(
        root,
        "fr",
        {
            "name": "Français",
            "direction": "ltr",
            "shipped": True,
            "status": "draft",
            "detect": {"letters": "éèàç", "words": ["je", "suis", "médecin", "sans"]},
        },
        {
            "Registering with a GP": "S'inscrire chez un médecin",
            GP_FIRST: "**Vous pouvez vous inscrire chez un médecin sans papiers.**",
            GP_SECOND: "Les rendez-vous sont gratuits.",  # marked fuzzy below
            "All topics": "Tous les sujets",
            "Last reviewed: {date}": "Dernière vérification : {date}",
            "Reply in {language}": "Répondre en {language}",
            DRAFT_NOTE: "Cette traduction est un brouillon.",
            STALE_NOTE: "Certaines parties sont en anglais.",
            "Show this message to the staff at reception.": "Montrez ce message à l'accueil.",
            "I would like to register with this practice.": "Je voudrais m'inscrire.",
        },
        fuzzy={GP_SECOND},
        examples={
            "topics": {"gp-registration": ["je veux m'inscrire chez un médecin généraliste"]},
            "emergency": ["douleur thoracique"],
            "crisis": ["je veux mourir"],
        },
    )
    _write_locale(
        root,
        "ar",
        {
            "name": "العربية",
            "direction": "rtl",
            "shipped": True,
            "status": "reviewed",
            "reviewed_by": "A. Reviewer",
            "reviewed_on": dt.date(2026, 11, 1),
            "detect": {"letters": "ةيك", "words": ["انا", "هل"]},
        },
        {"Registering with a GP": "التسجيل لدى طبيب GP", GP_FIRST: "**اتصل بـ NHS 111 أو 999.**"},
    )
    _write_locale(
        root,
        "de",
        {"name": "Deutsch", "direction": "ltr", "shipped": False, "status": "draft"},
        {},
    )
    return Locales(root)


@pytest.fixture
def engine(locales: Locales) -> Engine:
    fixture = Path(__file__).parent / "fixtures" / "content"
    return Engine(load_catalogue(fixture, today=TODAY), locales=locales)


def test_fallback_chain(locales: Locales) -> None:
    assert locales.resolve("ar", "fr-FR") == "ar"  # saved choice first
    assert locales.resolve(None, "fr-CA") == "fr"  # then Telegram's primary subtag
    assert locales.resolve(None, "pt-BR") == "en"  # not shipped: English
    assert locales.resolve("de", "de") == "en"  # present but not shipped
    assert locales.resolve("xx", None) == "en"
    assert [lang.code for lang in locales.shipped()] == ["en", "ar", "fr"]


def test_translated_fuzzy_and_missing_paragraphs(engine: Engine) -> None:
    reply = engine.topic_reply("gp-registration", "fr")
    text = reply.markup
    assert reply.blocks[0] == "**S'inscrire chez un médecin**"
    assert "Vous pouvez vous inscrire" in text
    assert GP_SECOND in text  # fuzzy: shown in English, not as if current
    assert "Les rendez-vous sont gratuits." not in text
    assert "Certaines parties sont en anglais." in reply.blocks
    assert "Cette traduction est un brouillon." in reply.blocks  # draft is said


def test_reviewed_language_has_no_draft_note(engine: Engine) -> None:
    reply = engine.topic_reply("gp-registration", "ar")
    assert DRAFT_NOTE not in reply.blocks
    assert reply.rtl


def test_dates_and_names_from_babel(engine: Engine, locales: Locales) -> None:
    assert (
        "Dernière vérification : 10 janvier 2026"
        in engine.topic_reply("gp-registration", "fr").markup
    )
    assert locales.display_name("uk") == "українська"
    assert locales.display_name("ar", "en") == "Arabic"


def test_plural_rules_come_from_the_catalogue(tmp_path: Path) -> None:
    root = tmp_path / "locales"
    folder = root / "uk" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    catalog = Catalog(locale="uk")
    catalog.add(("{n} topic", "{n} topics"), ("{n} тема", "{n} теми", "{n} тем"))
    with (folder / "messages.po").open("wb") as handle:
        write_po(handle, catalog)
    (root / "uk" / "language.yaml").write_text(
        "name: Українська\ndirection: ltr\nshipped: true\nstatus: draft\n"
    )
    t = Locales(root).translations("uk")
    forms = [t.ngettext("{n} topic", "{n} topics", n).format(n=n) for n in (1, 3, 5, 21)]
    assert forms == ["1 тема", "3 теми", "5 тем", "21 тема"]


def test_rtl_paragraphs_isolate_numbers_and_english(engine: Engine) -> None:
    reply = engine.topic_reply("gp-registration", "ar")
    html = to_html(reply.blocks[1], rtl=reply.rtl)
    assert f"{FSI}NHS 111{PDI}" in html and f"{FSI}999{PDI}" in html
    # an English fallback paragraph in the same reply is left alone
    assert FSI not in to_html(GP_SECOND, rtl=True)


def test_language_detection_by_letters_and_words(locales: Locales) -> None:
    detector = LanguageDetector(d.language for d in locales.data.values())

    def detect(text: str) -> str | None:
        return detector.detect(text, normalise(text))

    assert detect("can i see a doctor without papers") == "en"
    assert detect("je suis malade, où est le médecin") == "fr"
    assert detect("هل يمكنني التسجيل عند الطبيب") == "ar"
    assert detect("آیا می‌توانم پیش دکتر بروم") is None  # Persian letters: not Arabic
    assert detect("12345 !!") is None


def test_cross_language_matching_and_switch_button(engine: Engine) -> None:
    reply = engine.ask("je veux m'inscrire chez un medecin generaliste", "en")
    assert reply.detected_lang == "fr"
    assert reply.topic == "gp-registration" or reply.candidates[0].topic == "gp-registration"
    first_row = reply.buttons[0]
    assert first_row[0].data == "lang:fr"
    assert first_row[0].label == "Répondre en français"  # Babel's name, as in a sentence
    same = engine.ask("je veux m'inscrire chez un medecin generaliste", "fr")
    assert all(b.data != "lang:fr" for row in same.buttons for b in row)


def test_emergency_in_another_language(engine: Engine) -> None:
    reply = engine.ask("j'ai une douleur thoracique", "fr")
    assert reply.emergency and reply.topic == "emergency-care"
    assert engine.ask("je veux mourir", "fr").crisis


def test_staff_card_side_by_side(engine: Engine) -> None:
    answer = engine.topic_reply("gp-registration", "fr")
    card_button = answer.buttons[0][0]
    assert card_button.data == "c:gp-registration"
    card = engine.press(card_button.data, "fr")
    assert card.outcome is Outcome.ANSWER
    text = card.markup
    assert "I would like to register with this practice." in text  # English for the staff
    assert "Je voudrais m'inscrire." in text  # and the person's language
    assert "https://www.bma.org.uk/" in text  # with the official source
    assert text.index("For staff (English)") < text.index("**Français:**")
    with pytest.raises(KeyError):
        engine.card("hospital-charges", "fr")  # no card for this topic
    assert engine.press("c:hospital-charges", "fr").outcome is Outcome.EXPIRED


def test_broken_catalogue_does_not_take_the_bot_down(tmp_path: Path) -> None:
    root = tmp_path / "locales"
    (root / "fr" / "LC_MESSAGES").mkdir(parents=True)
    (root / "fr" / "LC_MESSAGES" / "messages.po").write_text('msgid "a"\nmsgstr "b\n')
    (root / "fr" / "language.yaml").write_text("name: Français\nshipped: yes\n")
    (root / "no").mkdir()
    locales = Locales(root)
    assert locales.translations("fr").lookup("a") is None
    messages = [str(p) for p in locales.problems]
    assert any("language.yaml" in m and "missing key 'direction'" in m for m in messages)


def test_extractor_gives_one_msgid_per_paragraph_or_bullet(tmp_path: Path) -> None:
    path = Path(__file__).parent / "fixtures" / "content" / "topics" / "emergency-care.yaml"
    with path.open("rb") as handle:
        found = list(extract_content(handle, [], [], {}))
    assert (2, None, "A&E and 999", ["title of topic emergency-care (button label)"]) in found
    texts = [m for _l, _f, m, _c in found]
    assert "Call **999** if a life is in danger." in texts  # a bullet alone
    lines = {m: line for line, _f, m, _c in found}
    assert lines["Call **999** if a life is in danger."] == 6


def test_coverage_reports_and_fails_for_incomplete_shipped_language(
    engine: Engine, locales: Locales
) -> None:
    messages = extract_messages(Path(__file__).resolve().parents[1])
    rows = {r.code: r for r in measure(engine.catalogue, locales, messages)}
    fr = rows["fr"]
    assert fr.interface.translated >= 3  # "All topics", "Reply in {language}", ...
    assert fr.interface.missing > 0 and fr.answers.missing > 0
    text, ok = report(list(rows.values()))
    assert not ok and "ERROR fr is shipped" in text
    assert "ERROR de" not in text  # not shipped: reported, not fatal


def test_coverage_command_exit_codes(tmp_path: Path) -> None:
    root = tmp_path / "locales"
    meta = {"name": "Français", "direction": "ltr", "shipped": False, "status": "draft"}
    _write_locale(root, "fr", meta, {"All topics": "Tous les sujets"})

    def coverage() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", "coverage", "--locales", str(root)],
            capture_output=True,
            text=True,
            timeout=120,
        )

    result = coverage()
    assert result.returncode == 0, result.stdout  # incomplete but not shipped: reported
    assert "fr    no       draft     interface" in result.stdout
    meta["shipped"] = True
    (root / "fr" / "language.yaml").write_text(yaml.safe_dump(meta, allow_unicode=True))
    result = coverage()
    assert result.returncode == 1
    assert "ERROR fr is shipped but has" in result.stdout
    assert "Traceback" not in result.stderr
