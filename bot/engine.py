"""The conversation engine: (text or button id, language) -> Reply.

Telegram, the console, tests and benchmarks all drive this one class, so what a person
sees is decided here and nowhere else. It holds no per-person state.

Translation happens here too: every answer is translated unit by unit (paragraph or
bullet); a unit whose translation is missing or out of date is shown in English with a
note in the person's language, never passed off as current.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import yaml
from babel.dates import format_date

from bot.alerts import (
    EMERGENCY_TOPIC,
    AlertThresholds,
    alarm_phrases,
    crisis_topic,
    decide_alert,
    mentions_past,
)
from bot.content import SAFE_LOADER, TOPIC_BUTTON_PREFIX, Catalogue, Topic
from bot.emergency import Alarm, EmergencyDetector
from bot.i18n import SOURCE_LANGUAGE, Locales, default_locales
from bot.langdetect import LanguageDetector
from bot.markup import escape, join_units, units
from bot.matching import (
    MAX_CANDIDATES,
    SMALL_TALK_PREFIX,
    Match,
    Matcher,
    Phrase,
    Thresholds,
    decide,
    locale_examples,
)
from bot.normalise import normalise
from bot.replies import Alert, Button, Candidate, Outcome, Reply
from bot.semantic import Encoder, Probe, SemanticAlarm, VectorFile, Verdict

MENU_BUTTON = "menu"
CARD_BUTTON_PREFIX = "c:"
LANGUAGE_BUTTON_PREFIX = "lang:"  # handled by the front end, which stores the choice
THRESHOLDS_FILE = "thresholds.yaml"
MAX_QUESTION = 1000  # characters considered; longer messages are cut, never refused
SEARCH_SHARE = 0.5  # inline search lists topics scoring at least this share of the best


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


def load_thresholds(root: Path) -> Thresholds:
    """Thresholds learnt by `python -m bot check --write`; defaults when never tuned."""
    path = root / THRESHOLDS_FILE
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}
        return Thresholds(
            answer=float(data["answer"]),
            margin=float(data["margin"]),
            suggest=float(data["suggest"]),
        )
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
        return Thresholds()


def locale_phrases(catalogue: Catalogue, locales: Locales) -> list[Phrase]:
    """Native question phrasings of every shipped language, for matching across languages."""
    phrases: list[Phrase] = []
    for text, label, code in locale_examples(catalogue, locales):
        norm = normalise(text)
        if norm:
            phrases.append(Phrase(norm, label, code, True))
    return phrases


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything the core decided about one typed message, before composing a reply."""

    match: Match
    phrase: Alarm | None  # what the phrase stage found
    verdict: Verdict | None  # the encoder's verdict, when it ran
    past: bool  # the message places things in the long past (see bot.alerts)
    alert: Alert | None
    detected: str | None  # the language the message is written in, when clear


def build_semantic() -> SemanticAlarm | None:
    """The encoder stage, or None where the encoder or its probe is missing (logged)."""
    encoder = Encoder.load()
    probe = VectorFile.read(probe_only=True) if encoder is not None else None
    if encoder is None or probe is None or probe.weights is None or probe.bias is None:
        return None
    return SemanticAlarm(encoder, probe.weights, probe.bias)


class Engine:
    def __init__(
        self,
        catalogue: Catalogue,
        matcher: Matcher | None = None,
        thresholds: Thresholds | None = None,
        locales: Locales | None = None,
        semantic: SemanticAlarm | bool | None = True,
    ) -> None:
        self.catalogue = catalogue
        self.locales = locales or default_locales()
        self.matcher = matcher or Matcher.from_catalogue(
            catalogue, locale_phrases(catalogue, self.locales)
        )
        self.thresholds = thresholds or load_thresholds(catalogue.root)
        self.detector = EmergencyDetector(*alarm_phrases(catalogue, self.locales))
        self.alert_thresholds = AlertThresholds.read(catalogue.root)
        if semantic is True:
            semantic = build_semantic()
        self.semantic: SemanticAlarm | None = semantic or None
        self.languages = LanguageDetector([d.language for d in self.locales.data.values()])
        self._intents = {SMALL_TALK_PREFIX + i.name: i for i in catalogue.small_talk}

    # ------------------------------------------------------------------ analysis

    def analyse(self, text: str, probe: Probe | None = None) -> Analysis:
        """Match, alert and detected language for a question, without composing a reply.

        The encoder runs only when the phrase stage found nothing certain: a listed
        phrase already puts 999 first, and the encoder is most of the cost of a message.
        `probe` replaces the encoder's trained one (evaluation: a probe that did not
        learn from this question).
        """
        text = text[:MAX_QUESTION]
        norm = normalise(text)[:MAX_QUESTION]  # NFKC can make one character eighteen
        phrase = self.detector.detect(norm)
        match = decide(self.matcher.rank(norm), self.thresholds)
        past = mentions_past(norm)
        verdict = None
        if self.semantic is not None and (phrase is None or past):
            verdict = self.semantic.judge(text, probe)
        alert = decide_alert(phrase, verdict, match, past, self.alert_thresholds)
        detected = self.languages.detect(text, norm)
        return Analysis(match, phrase, verdict, past, alert, detected)

    # ------------------------------------------------------------------ replies

    def _known(self, lang: str) -> str:
        """A language the engine can reply in: unknown codes get English, never an error."""
        return lang if lang in self.locales.data else SOURCE_LANGUAGE

    def ask(self, text: str, lang: str = SOURCE_LANGUAGE) -> Reply:
        """Reply to a typed question."""
        return self.answer(self.analyse(text), lang)

    def answer(self, analysis: Analysis, lang: str = SOURCE_LANGUAGE) -> Reply:
        """Reply to an analysed question (evaluation analyses once, replies many times)."""
        lang = self._known(lang)
        match = analysis.match
        candidates = tuple(Candidate(t, round(s, 1)) for t, s in match.topic_candidates())
        common = {"score": round(match.score, 1), "detected_lang": analysis.detected}
        switch = self._switch_row(analysis.detected, lang)
        if analysis.alert in (Alert.EMERGENCY, Alert.CRISIS):
            return self._emergency_reply(analysis, candidates, lang, common, switch)
        reply = self._ordinary_reply(match, candidates, lang, common, switch)
        if analysis.alert is Alert.POSSIBLE:
            line = self._possible_line(lang)
            return replace(reply, blocks=(line, *reply.blocks), alert=Alert.POSSIBLE)
        return reply

    def _ordinary_reply(
        self,
        match: Match,
        candidates: tuple[Candidate, ...],
        lang: str,
        common: dict,
        switch: tuple[tuple[Button, ...], ...],
    ) -> Reply:
        """The answer, small talk, did-you-mean or fallback, as if nothing were urgent."""
        if match.outcome is Outcome.ANSWER:
            topic = self.catalogue.topics[match.label]
            return self._topic_reply(topic, lang, Outcome.ANSWER, candidates, switch, **common)
        _ = self.locales.translations(lang).gettext
        if match.outcome in (Outcome.SMALL_TALK, Outcome.OUT_OF_SCOPE):
            if match.outcome is Outcome.SMALL_TALK:
                source = self._intents[match.label].reply
            else:
                source = self.catalogue.out_of_scope.reply
            text_, stale = self.translate(source, lang)
            return self._reply(
                (text_, *self._notes(lang, stale)),
                match.outcome,
                lang,
                buttons=(*switch, self._menu_row(lang)),
                candidates=candidates,
                **common,
            )
        if match.outcome is Outcome.DID_YOU_MEAN:
            rows = tuple(
                (Button(self.catalogue.topics[c.topic].button, self.title(c.topic, lang)),)
                for c in candidates
            )
            return self._reply(
                (_("Did you mean one of these? Tap a topic, or ask again in other words."),),
                Outcome.DID_YOU_MEAN,
                lang,
                buttons=(*switch, *rows, self._menu_row(lang)),
                candidates=candidates,
                **common,
            )
        return self._reply(
            (_("Sorry, I did not understand that. Choose a topic, or ask in other words."),),
            Outcome.FALLBACK,
            lang,
            buttons=(*switch, *self._menu_buttons(lang)),
            candidates=candidates,
            **common,
        )

    def press(self, data: str, lang: str = SOURCE_LANGUAGE) -> Reply:
        """Reply to a button. Stale or forged data gets a kind 'expired' and the menu."""
        lang = self._known(lang)
        if data == MENU_BUTTON:
            return self.menu(lang)
        if data.startswith(TOPIC_BUTTON_PREFIX):
            topic = self.catalogue.topics.get(data[len(TOPIC_BUTTON_PREFIX) :])
            if topic is not None:
                return self._topic_reply(topic, lang, Outcome.ANSWER)
        if data.startswith(CARD_BUTTON_PREFIX):
            topic = self.catalogue.topics.get(data[len(CARD_BUTTON_PREFIX) :])
            if topic is not None and topic.card:
                return self.card(topic.id, lang)
        _ = self.locales.translations(lang).gettext
        return self._reply(
            (_("That menu has expired. Here are the topics again."),),
            Outcome.EXPIRED,
            lang,
            buttons=self._menu_buttons(lang),
        )

    def menu(self, lang: str = SOURCE_LANGUAGE) -> Reply:
        lang = self._known(lang)
        _ = self.locales.translations(lang).gettext
        return self._reply(
            (_("Choose a topic, or type your question in your own words."),),
            Outcome.MENU,
            lang,
            buttons=self._menu_buttons(lang),
        )

    def topic_reply(self, topic_id: str, lang: str = SOURCE_LANGUAGE) -> Reply:
        """A topic's full answer; KeyError for an unknown id."""
        lang = self._known(lang)
        return self._topic_reply(self.catalogue.topics[topic_id], lang, Outcome.ANSWER)

    def card(self, topic_id: str, lang: str = SOURCE_LANGUAGE) -> Reply:
        """'Show this to reception': the key facts in English and in the person's language.

        KeyError for an unknown topic or one without a card.
        """
        lang = self._known(lang)
        topic = self.catalogue.topics[topic_id]
        if not topic.card:
            raise KeyError(topic_id)
        _ = self.locales.translations(lang).gettext
        source = topic.sources[0]
        blocks = [
            "**" + _("Show this message to the staff at reception.") + "**",
            "**For staff (English):**\n" + topic.card,
        ]
        if lang != SOURCE_LANGUAGE:
            translated, stale = self.translate(topic.card, lang)
            name = self.locales.language(lang).native_name
            blocks.append(f"**{escape(name)}:**\n{translated}")
            blocks.extend(self._notes(lang, stale))
        blocks.append(
            f"Source: [{escape(source.title)}]({source.url}) ({escape(source.publisher)})"
        )
        return self._reply(
            tuple(blocks),
            Outcome.ANSWER,
            lang,
            topic=topic.public_id,
            buttons=((Button(topic.button, self.title(topic.id, lang)),), self._menu_row(lang)),
        )

    def search(self, text: str, lang: str = SOURCE_LANGUAGE, limit: int = 5) -> list[Topic]:
        """Topics for inline mode, best first.

        A search box is not a conversation: a single word like "gp" should list every
        topic it fits, so this keeps the topics close to the best one instead of
        applying the thresholds for answering outright. Nothing is offered for text
        with no word the catalogue knows.
        """
        norm = normalise(text[:MAX_QUESTION])
        if not self.matcher.known_words(norm):
            return []
        ranking = [(lab, s) for lab, s in self.matcher.rank(norm) if lab in self.catalogue.topics]
        if not ranking:
            return []
        floor = ranking[0][1] * SEARCH_SHARE
        found: list[Topic] = []
        for label, score in ranking:
            topic = self.catalogue.topics[label]
            if score >= floor and topic.public_id not in [t.public_id for t in found]:
                found.append(topic)
        return found[:limit]

    # ------------------------------------------------------------------ translation

    def translate(self, markup: str, lang: str) -> tuple[str, bool]:
        """Markup in `lang`, unit by unit; True when some unit had to stay in English."""
        if lang == SOURCE_LANGUAGE:
            return markup, False
        translations = self.locales.translations(lang)
        stale = False
        pieces = []
        for unit in units(markup):
            text = translations.lookup(unit.text)
            if text is None:
                stale = True
                text = unit.text
            pieces.append((unit, text))
        return join_units(pieces), stale

    def title(self, topic_id: str, lang: str) -> str:
        title = self.catalogue.topics[topic_id].title
        return self.locales.translations(lang).lookup(title) or title

    def sources_block(self, topic: Topic, lang: str) -> str:
        _ = self.locales.translations(lang).gettext
        links = "\n".join(
            f"- [{escape(s.title)}]({s.url}) ({escape(s.publisher)})" for s in topic.sources
        )
        try:
            reviewed = format_date(topic.reviewed, format="long", locale=lang)
        except (ValueError, LookupError):
            reviewed = topic.reviewed.isoformat()
        heading = _("Sources")  # not inside an f-string, so pybabel extracts it
        return f"**{heading}**\n{links}\n\n" + _("Last reviewed: {date}").format(date=reviewed)

    def _notes(self, lang: str, stale: bool) -> tuple[str, ...]:
        """Honest notes: part shown in English, or a translation nobody has checked yet."""
        _ = self.locales.translations(lang).gettext
        notes = []
        if stale:
            notes.append(
                _("Some parts are shown in English because their translation is being updated.")
            )
        if self.locales.language(lang).draft:
            notes.append(
                _("This translation is a draft: a native speaker has not checked it yet.")
            )
        return tuple(notes)

    # ------------------------------------------------------------------ composition

    def _reply(self, blocks: tuple[str, ...], outcome: Outcome, lang: str, **fields) -> Reply:
        return Reply(blocks, outcome, lang=lang, rtl=self.locales.language(lang).rtl, **fields)

    def _topic_reply(
        self,
        topic: Topic,
        lang: str,
        outcome: Outcome,
        candidates: tuple[Candidate, ...] = (),
        switch: tuple[tuple[Button, ...], ...] = (),
        **common,
    ) -> Reply:
        answer, stale = self.translate(topic.answer, lang)
        blocks = (
            f"**{escape(self.title(topic.id, lang))}**",
            answer,
            *self._notes(lang, stale),
            self.sources_block(topic, lang),
        )
        rows = [
            (Button(self.catalogue.topics[r].button, self.title(r, lang)),) for r in topic.related
        ]
        if topic.card:
            _ = self.locales.translations(lang).gettext
            rows.insert(0, (Button(CARD_BUTTON_PREFIX + topic.id, _("Show this to staff")),))
        return self._reply(
            blocks,
            outcome,
            lang,
            topic=topic.public_id,
            buttons=(*switch, *rows, self._menu_row(lang)),
            candidates=candidates or (Candidate(topic.public_id, 100.0),),
            **common,
        )

    def _emergency_reply(
        self,
        analysis: Analysis,
        candidates: tuple[Candidate, ...],
        lang: str,
        common: dict,
        switch: tuple[tuple[Button, ...], ...],
    ) -> Reply:
        """What to do now first, then the answer that fits the danger.

        An emergency shows emergency care's answer; a crisis shows mental health's, or
        domestic abuse's for violence. The topic the question matched, when it is another,
        is offered as a button, so the question asked is one tap away.
        """
        em = self.catalogue.emergency
        crisis = analysis.alert is Alert.CRISIS
        header, _stale = self.translate(em.crisis_header if crisis else em.header, lang)
        shown = crisis_topic(analysis.match.ranking) if crisis else EMERGENCY_TOPIC
        topic = self.catalogue.topics.get(shown) or self.catalogue.topics.get(EMERGENCY_TOPIC)
        fields = {"alert": analysis.alert}
        if topic is None:  # content without the emergency topic: the header alone still helps
            return self._reply(
                (header,), Outcome.ANSWER, lang, candidates=candidates, **fields, **common
            )
        body = self._topic_reply(topic, lang, Outcome.ANSWER)
        match = analysis.match
        asked: tuple[tuple[Button, ...], ...] = ()
        if match.outcome is Outcome.ANSWER and match.label in self.catalogue.topics:
            other = self.catalogue.topics[match.label]
            if other.public_id != topic.public_id:
                asked = ((Button(other.button, self.title(other.id, lang)),),)
        first = [c for c in candidates if c.topic == topic.public_id]
        rest = [c for c in candidates if c.topic != topic.public_id]
        ordered = tuple(first or [Candidate(topic.public_id, round(match.score, 1))]) + tuple(rest)
        # The topic asked about comes first, and only once (it may also be related).
        offered = {b.data for row in asked for b in row}
        rest_rows = tuple(r for r in body.buttons if not any(b.data in offered for b in r))
        return self._reply(
            (header, *body.blocks),
            Outcome.ANSWER,
            lang,
            topic=topic.public_id,
            buttons=(*switch, *asked, *rest_rows),
            candidates=ordered[:MAX_CANDIDATES],
            **fields,
            **common,
        )

    def _possible_line(self, lang: str) -> str:
        """The first paragraph of the emergency header: "If this is an emergency, call 999
        now." (already translated everywhere the header is)."""
        first = units(self.catalogue.emergency.header)[0]
        text, _stale = self.translate(first.text, lang)
        return text

    def _switch_row(self, detected: str | None, lang: str) -> tuple[tuple[Button, ...], ...]:
        """Offer the language a question was written in, when it is not the reply language."""
        if not detected or detected == lang or not self.locales.is_shipped(detected):
            return ()
        _ = self.locales.translations(detected).gettext
        # In a sentence Babel's name fits ("français", not "Français"), unless the
        # language's own name differs (one text for Dari and Farsi: "دری / فارسی").
        own = self.locales.language(detected).native_name
        babel_name = self.locales.display_name(detected)
        name = babel_name if babel_name.casefold() == own.casefold() else own
        label = _("Reply in {language}").format(language=name)
        return ((Button(LANGUAGE_BUTTON_PREFIX + detected, label),),)

    def _menu_row(self, lang: str) -> tuple[Button, ...]:
        _ = self.locales.translations(lang).gettext
        return (Button(MENU_BUTTON, _("All topics")),)

    def _menu_buttons(self, lang: str) -> tuple[tuple[Button, ...], ...]:
        buttons = [Button(t.button, self.title(t.id, lang)) for t in self.catalogue.menu_topics()]
        return tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))
