"""One safety net for every reply: how urgently a message may need 999.

Two stages decide. The phrase detector (`bot.emergency`) is precise: a listed phrase
means a confident `EMERGENCY` or `CRISIS`. The sentence encoder (`bot.semantic`)
generalises to situations described in other words; it raises `POSSIBLE` (one line,
"if this is an emergency, call 999 now", above whatever else is shown) and, only when it
is very sure, `CRISIS`. A false `POSSIBLE` costs a line; a false `EMERGENCY` costs the
person their answer, so the levels are tuned apart (`python -m bot eval --tune`, on the
tuning half of `eval/` only).

A past emergency mentioned beside another question ("I had a heart attack last year,
will they charge me for the follow-up?") keeps the 999 line but no longer hides the
answer to the question asked. Only the long past counts ("last year", "two years ago",
a bill, a follow-up): "he collapsed ten minutes ago" is happening now.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.content import SAFE_LOADER, Catalogue
from bot.emergency import Alarm
from bot.i18n import Locales
from bot.matching import Match, locale_examples
from bot.normalise import normalise
from bot.replies import Alert, Outcome
from bot.semantic import CRISIS, EMERGENCY, Reference, Verdict

ALERT_THRESHOLDS_FILE = "alert_thresholds.yaml"
ALARMS_DIR = "alarms"  # content/alarms/<lang>.yaml: sentences that train the encoder's probe
EMERGENCY_TOPIC = "emergency-care"
# Topics whose answer is the right one to show under the 999 header anyway.
ALARM_TOPICS = frozenset({EMERGENCY_TOPIC})
CRISIS_TOPICS = ("mental-health", "domestic-abuse")
NEAR_CRISIS = frozenset({*CRISIS_TOPICS, "modern-slavery", EMERGENCY_TOPIC})

# Words that put an emergency in the past or make the message about its aftermath
# (bills, follow-ups), in every shipped language; matched on normalised text.
_PAST_MARKERS = """
last year|last month|years ago|months ago|year ago|month ago|a year back|in 19\\d\\d|in 20\\d\\d
follow up|followup|follow-up|check up|checkup|bill|invoice|recovered|rehab|physio
السنة الماضية|العام الماضي|الشهر الماضي|السنه الماضيه|قبل سنة|قبل سنه|قبل سنتين|قبل سنوات|قبل شهر
قبل اشهر|قبل شهرين|فاتورة|فاتوره|متابعة|متابعه|el sana el madya|l sana l madya|sant el madya
پارسال|سال گذشته|سال پیش|سال قبل|ماه پیش|ماه گذشته|ماه قبل|قبض|صورتحساب|صورت حساب|پیگیری|چکاپ
parsal|sale gozashte|sal pish|mah pish
پروسږکال|کال مخکې|کاله مخکې|میاشت مخکې|میاشتې مخکې|بیل|تعقیب|parosakal|kal makhke
پچھلے سال|گزشتہ سال|سال پہلے|مہینے پہلے|فالو اپ|pichle saal|pichlay saal|saal pehle|mahine pehle
минулого року|минулого місяця|років тому|рік тому|роки тому|місяців тому|місяць тому|рахунок
в прошлом году|лет назад|год назад|года назад|месяцев назад|счет|контрольний огляд|реабілітац
w zeszlym roku|w zeszlym miesiacu|w ubieglym roku|rok temu|lata temu|lat temu|miesiecy temu
miesiac temu|rachunek|faktura|fakture|wizyta kontrolna|rehabilitac
anul trecut|luna trecuta|ani in urma|an in urma|acum un an|acum doi ani|acum \\d+ ani|factura
acum cativa ani|la control|recuperare
l annee derniere|l an dernier|le mois dernier|il y a \\w+ ans|il y a \\w+ mois|il y a un an
facture|suivi|reeducation
el ano pasado|el mes pasado|hace \\w+ anos|hace un ano|hace \\w+ meses|factura|seguimiento
rehabilitacion
"""


def _compile_markers(text: str) -> re.Pattern[str]:
    parts: list[str] = []
    for line in text.strip().splitlines():
        for item in line.split("|"):
            item = item.strip()
            if item:
                # Regex pieces (\\d, \\w) are kept; plain words are normalised like messages.
                parts.append(item if "\\" in item else re.escape(normalise(item)))
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)")


PAST = _compile_markers(_PAST_MARKERS)


def mentions_past(norm: str) -> bool:
    """True when a normalised message places something in the past or after care."""
    return PAST.search(norm) is not None


@dataclass(frozen=True, slots=True)
class AlertThresholds:
    """Probabilities from the sentence encoder's probe (see `bot.semantic.Verdict`).

    `possible`: the 999 line, on the probability that the message is not an ordinary
    question; `crisis`: the crisis header; `emergency`: the 999 header from the encoder
    alone (off when no threshold was precise enough on the tuning half); `crisis_near`:
    the crisis header when the matcher did not answer the message with a topic far from
    danger (a false crisis there costs little: the crisis answer is the one asked for).
    """

    possible: float = 0.5
    crisis: float = 0.9
    emergency: float = 2.0  # probabilities never reach 2: off unless tuned
    crisis_near: float = 0.9  # crisis, when the question is not answered by another topic

    @classmethod
    def read(cls, root: Path) -> AlertThresholds:
        try:
            data = yaml.load((root / ALERT_THRESHOLDS_FILE).read_text("utf-8"), SAFE_LOADER)
            return cls(
                float(data["possible"]),
                float(data["crisis"]),
                float(data["emergency"]),
                float(data.get("crisis_near", data["crisis"])),
            )
        except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
            return cls()


def decide_alert(
    phrase: Alarm | None,
    verdict: Verdict | None,
    match: Match,
    past: bool,
    th: AlertThresholds,
) -> Alert | None:
    """The alert for one message, from both stages and the matcher's decision."""
    if phrase is not None:
        if not past:
            return Alert.CRISIS if phrase is Alarm.CRISIS else Alert.EMERGENCY
        # Long past ("last year", "two years ago") or the aftermath (a bill, a follow-up):
        # the question asked is answered, under the 999 line unless the encoder is sure
        # the message reads as an ordinary question ("had a stroke in 2022, is physio
        # free"), and under the crisis header when it reads as a crisis now ("I tried two
        # years ago and tonight I will do it").
        if verdict is None:
            return Alert.POSSIBLE
        if verdict.danger < th.possible:
            return None
        return _from_encoder(verdict, match, past, th) or Alert.POSSIBLE
    return None if verdict is None else _from_encoder(verdict, match, past, th)


def _from_encoder(verdict: Verdict, match: Match, past: bool, th: AlertThresholds) -> Alert | None:
    """The encoder stage's own decision."""
    answered_elsewhere = match.outcome is Outcome.ANSWER and match.label not in NEAR_CRISIS
    if verdict.crisis >= th.crisis or (
        not answered_elsewhere and verdict.crisis >= th.crisis_near
    ):
        return Alert.CRISIS
    if verdict.emergency >= th.emergency and not past:
        return Alert.EMERGENCY
    if verdict.danger >= th.possible:  # anything but an ordinary question
        # Reads more like a crisis than an emergency, and no topic far from danger
        # answers it: the crisis header (999, Samaritans) rather than one line. When
        # wrong, the person still gets the answer they were near (mental health or
        # domestic abuse), so this trades ~0.6 points of false crises for ~18 points
        # more crisis messages given the crisis header (tuning half).
        if verdict.crisis > verdict.emergency and not answered_elsewhere:
            return Alert.CRISIS
        return Alert.POSSIBLE
    return None


def crisis_topic(ranking: Iterable[tuple[str, float]]) -> str:
    """Violence happening now leads to domestic abuse's answer, anything else to mental
    health's: whichever of the two the matcher ranks higher."""
    for label, _score in ranking:
        if label in CRISIS_TOPICS:
            return label
    return CRISIS_TOPICS[0]


def alarm_phrases(catalogue: Catalogue, locales: Locales) -> tuple[list[str], list[str]]:
    """(emergency, crisis) phrases: the English ones and every language's."""
    emergency = list(catalogue.emergency.phrases)
    crisis = list(catalogue.emergency.crisis_phrases)
    for data in locales.data.values():
        emergency += [str(p) for p in (data.examples or {}).get("emergency") or ()]
        crisis += [str(p) for p in (data.examples or {}).get("crisis") or ()]
    return emergency, crisis


def alarm_sentences(root: Path) -> list[Reference]:
    """Whole messages, in every language, that describe an emergency or a crisis happening
    now, and ordinary questions that sound close (a past emergency, a mild symptom, a
    question about A&E): phrases are short, people write sentences, so the probe learns
    from both. Files that cannot be read are skipped here; `validate` reports them."""
    out: list[Reference] = []
    labels = {"emergency": EMERGENCY, "crisis": CRISIS, "ordinary": ""}
    for path in sorted((root / ALARMS_DIR).glob("*.yaml")):
        try:
            data = yaml.load(path.read_text("utf-8"), Loader=SAFE_LOADER) or {}
        except (OSError, yaml.YAMLError):
            continue
        for key, label in labels.items():
            for item in data.get(key) or () if isinstance(data, dict) else ():
                if isinstance(item, str) and item.strip():
                    out.append(Reference(item.strip(), label))
    return out


def references(catalogue: Catalogue, locales: Locales) -> list[Reference]:
    """What the encoder's probe learns from: alarm sentences and every language's alarm
    phrases (the positives), every shipped language's examples (the ordinary questions).
    The first label given to a text wins."""
    refs: list[Reference] = []
    seen: set[str] = set()

    def add(text: object, label: str) -> None:
        text = str(text).strip()
        if text and text not in seen:
            seen.add(text)
            refs.append(Reference(text, label))

    for ref in alarm_sentences(catalogue.root):
        add(ref.text, ref.label)
    emergency, crisis = alarm_phrases(catalogue, locales)
    for phrase in crisis:
        add(phrase, CRISIS)
    for phrase in emergency:
        add(phrase, EMERGENCY)
    for topic in catalogue.topics.values():
        for example in topic.examples:
            add(example, topic.public_id)
    for intent in catalogue.small_talk:
        for example in intent.examples:
            add(example, "")
    for example in catalogue.out_of_scope.examples:
        add(example, "")
    for text, label, _lang in locale_examples(catalogue, locales):
        topic = catalogue.topics.get(label)
        add(text, topic.public_id if topic else "")
    return refs
