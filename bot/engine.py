"""The conversation engine: (text or button id, language) -> Reply.

Telegram, the console, tests and benchmarks all drive this one class, so what a person
sees is decided here and nowhere else. It holds no per-person state.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from babel.dates import format_date

from bot.content import TOPIC_BUTTON_PREFIX, Catalogue, Topic
from bot.emergency import Alarm, EmergencyDetector
from bot.i18n import translator
from bot.langdetect import ENGLISH, LanguageDetector
from bot.markup import escape
from bot.matching import MAX_CANDIDATES, SMALL_TALK_PREFIX, Match, Matcher, Thresholds, decide
from bot.normalise import normalise
from bot.replies import Button, Candidate, Outcome, Reply

MENU_BUTTON = "menu"
THRESHOLDS_FILE = "thresholds.yaml"
MAX_QUESTION = 1000  # characters considered; longer messages are cut, never refused


def load_thresholds(root: Path) -> Thresholds:
    """Thresholds learnt by `python -m bot check --write`; defaults when never tuned."""
    path = root / THRESHOLDS_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return Thresholds(
            answer=float(data["answer"]),
            margin=float(data["margin"]),
            suggest=float(data["suggest"]),
        )
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
        return Thresholds()


class Engine:
    def __init__(
        self,
        catalogue: Catalogue,
        matcher: Matcher | None = None,
        thresholds: Thresholds | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.matcher = matcher or Matcher.from_catalogue(catalogue)
        self.thresholds = thresholds or load_thresholds(catalogue.root)
        self.detector = EmergencyDetector(
            catalogue.emergency.phrases, catalogue.emergency.crisis_phrases
        )
        self.languages = LanguageDetector([ENGLISH])
        self._intents = {SMALL_TALK_PREFIX + i.name: i for i in catalogue.small_talk}

    # ------------------------------------------------------------------ analysis

    def analyse(self, text: str) -> tuple[Match, Alarm | None, str | None]:
        """Match, alarm and detected language for a question, without composing a reply."""
        text = text[:MAX_QUESTION]
        norm = normalise(text)
        alarm = self.detector.detect(norm)
        match = decide(self.matcher.rank(norm), self.thresholds)
        return match, alarm, self.languages.detect(text, norm)

    # ------------------------------------------------------------------ replies

    def ask(self, text: str, lang: str = "en") -> Reply:
        """Reply to a typed question."""
        match, alarm, detected = self.analyse(text)
        candidates = tuple(Candidate(t, round(s, 1)) for t, s in match.topic_candidates())
        common = {"score": round(match.score, 1), "detected_lang": detected}
        if alarm is not None:
            return self._emergency_reply(match, alarm, candidates, lang, common)
        if match.outcome is Outcome.ANSWER:
            topic = self.catalogue.topics[match.label]
            return self._topic_reply(topic, lang, Outcome.ANSWER, candidates, **common)
        if match.outcome is Outcome.SMALL_TALK:
            intent = self._intents[match.label]
            return Reply(
                (intent.reply,),
                Outcome.SMALL_TALK,
                lang=lang,
                buttons=(self._menu_row(lang),),
                candidates=candidates,
                **common,
            )
        if match.outcome is Outcome.OUT_OF_SCOPE:
            return Reply(
                (self.catalogue.out_of_scope.reply,),
                Outcome.OUT_OF_SCOPE,
                lang=lang,
                buttons=(self._menu_row(lang),),
                candidates=candidates,
                **common,
            )
        if match.outcome is Outcome.DID_YOU_MEAN:
            _ = translator(lang).gettext
            rows = tuple(
                (Button(self.catalogue.topics[c.topic].button, self._title(c.topic, lang)),)
                for c in candidates
            )
            return Reply(
                (_("Did you mean one of these? Tap a topic, or ask again in other words."),),
                Outcome.DID_YOU_MEAN,
                lang=lang,
                buttons=(*rows, self._menu_row(lang)),
                candidates=candidates,
                **common,
            )
        _ = translator(lang).gettext
        return Reply(
            (_("Sorry, I did not understand that. Choose a topic, or ask in other words."),),
            Outcome.FALLBACK,
            lang=lang,
            buttons=self._menu_buttons(lang),
            candidates=candidates,
            **common,
        )

    def press(self, data: str, lang: str = "en") -> Reply:
        """Reply to a button. Stale or forged data gets a kind 'expired' and the menu."""
        if data == MENU_BUTTON:
            return self.menu(lang)
        if data.startswith(TOPIC_BUTTON_PREFIX):
            topic = self.catalogue.topics.get(data[len(TOPIC_BUTTON_PREFIX) :])
            if topic is not None:
                return self._topic_reply(topic, lang, Outcome.ANSWER)
        _ = translator(lang).gettext
        return Reply(
            (_("That menu has expired. Here are the topics again."),),
            Outcome.EXPIRED,
            lang=lang,
            buttons=self._menu_buttons(lang),
        )

    def menu(self, lang: str = "en") -> Reply:
        _ = translator(lang).gettext
        return Reply(
            (_("Choose a topic, or type your question in your own words."),),
            Outcome.MENU,
            lang=lang,
            buttons=self._menu_buttons(lang),
        )

    def topic_reply(self, topic_id: str, lang: str = "en") -> Reply:
        """A topic's full answer; KeyError for an unknown id."""
        return self._topic_reply(self.catalogue.topics[topic_id], lang, Outcome.ANSWER)

    def search(self, text: str, lang: str = "en", limit: int = 5) -> list[Topic]:
        """Topics for inline mode: best matches first, only real topics."""
        match, _alarm, _detected = self.analyse(text)
        floor = self.thresholds.suggest
        return [
            self.catalogue.topics[label]
            for label, score in match.topic_candidates(limit)
            if score >= floor
        ]

    # ------------------------------------------------------------------ helpers

    def sources_block(self, topic: Topic, lang: str) -> str:
        _ = translator(lang).gettext
        links = "\n".join(
            f"- [{escape(s.title)}]({s.url}) ({escape(s.publisher)})" for s in topic.sources
        )
        reviewed = format_date(topic.reviewed, format="long", locale=lang)
        return f"**{_('Sources')}**\n{links}\n\n" + _("Last reviewed: {date}").format(
            date=reviewed
        )

    def _title(self, topic_id: str, lang: str) -> str:
        return self.catalogue.topics[topic_id].title

    def _topic_reply(
        self,
        topic: Topic,
        lang: str,
        outcome: Outcome,
        candidates: tuple[Candidate, ...] = (),
        **common,
    ) -> Reply:
        blocks = (f"**{escape(topic.title)}**", topic.answer, self.sources_block(topic, lang))
        rows = tuple(
            (Button(self.catalogue.topics[r].button, self._title(r, lang)),) for r in topic.related
        )
        return Reply(
            blocks,
            outcome,
            lang=lang,
            topic=topic.public_id,
            buttons=(*rows, self._menu_row(lang)),
            candidates=candidates or (Candidate(topic.public_id, 100.0),),
            **common,
        )

    def _emergency_reply(
        self,
        match: Match,
        alarm: Alarm,
        candidates: tuple[Candidate, ...],
        lang: str,
        common: dict,
    ) -> Reply:
        """What to do now first, then the matched answer (or emergency care's)."""
        em = self.catalogue.emergency
        header = em.crisis_header if alarm is Alarm.CRISIS else em.header
        if match.outcome is Outcome.ANSWER:
            topic = self.catalogue.topics[match.label]
        else:
            crisis_topic = "mental-health" if alarm is Alarm.CRISIS else "emergency-care"
            topic = self.catalogue.topics.get(crisis_topic) or self.catalogue.topics.get(
                "emergency-care"
            )
        if topic is None:  # content without the emergency topic: header alone still helps
            return Reply(
                (header,),
                Outcome.ANSWER,
                lang=lang,
                emergency=True,
                crisis=alarm is Alarm.CRISIS,
                topic="emergency-care",
                candidates=candidates,
                **common,
            )
        body = self._topic_reply(topic, lang, Outcome.ANSWER)
        first = [c for c in candidates if c.topic == topic.public_id]
        rest = [c for c in candidates if c.topic != topic.public_id]
        ordered = tuple(first or [Candidate(topic.public_id, round(match.score, 1))]) + tuple(rest)
        return Reply(
            (header, *body.blocks),
            Outcome.ANSWER,
            topic="emergency-care",
            emergency=True,
            crisis=alarm is Alarm.CRISIS,
            lang=lang,
            buttons=body.buttons,
            candidates=ordered[:MAX_CANDIDATES],
            **common,
        )

    def _menu_row(self, lang: str) -> tuple[Button, ...]:
        _ = translator(lang).gettext
        return (Button(MENU_BUTTON, _("All topics")),)

    def _menu_buttons(self, lang: str) -> tuple[tuple[Button, ...], ...]:
        buttons = [Button(t.button, self._title(t.id, lang)) for t in self.catalogue.menu_topics()]
        return tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))
