"""Matching a question against every topic's examples, keywords and title.

People ask the same thing in words no example used, so an exact or nearest-example match
is not enough: each label (topic, small-talk intent, out-of-scope) is scored by how well
the question's words and letter groups fit all of that label's phrasings together
(`_Model`), after rapidfuzz has corrected typos against the known vocabulary; a phrasing
almost identical to the question (rapidfuzz ratio) also counts on its own.

The index is split by script, so a question in Arabic letters is scored only against
Arabic-script phrasings: cost grows with one script's share of the catalogue, not with
every language added. `decide` turns a ranking into an outcome with thresholds learnt
from the content itself (see `bot.evaluation`).
"""

from __future__ import annotations

import itertools
import math
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from bot.content import Catalogue
from bot.i18n import Locales
from bot.normalise import normalise, script_of
from bot.replies import Outcome

SMALL_TALK_PREFIX = "small-talk:"
OUT_OF_SCOPE = "out-of-scope"
KEYWORD_WEIGHT = 3.0  # a curated keyword or title counts as much as three examples
SMOOTHING = 0.5
MASS_BALANCE = 0.5  # 0: labels keep their size, 1: every label weighs the same
TEMPERATURE = 4.0  # softens the posterior so that score and margin carry confidence
TYPO_SIMILARITY = 82.0  # rapidfuzz ratio for replacing an unknown word by a known one
NEAR_COPY = 92.0  # rapidfuzz ratio at which a phrasing counts as the question itself
NEAR_COPY_LABELS = 5  # near copies are looked for among this many leading labels
MAX_CANDIDATES = 3


def is_special(label: str) -> bool:
    return label == OUT_OF_SCOPE or label.startswith(SMALL_TALK_PREFIX)


@dataclass(frozen=True, slots=True)
class Phrase:
    """One thing a person might type for a label: an example or a title."""

    text: str  # normalised
    label: str
    lang: str
    is_example: bool


@dataclass(frozen=True, slots=True)
class Thresholds:
    answer: float = 80.0  # best score needed to answer outright
    margin: float = 8.0  # lead over the next label needed to answer outright
    suggest: float = 55.0  # below this nothing fits: fallback to the menu


@dataclass(frozen=True, slots=True)
class Match:
    outcome: Outcome
    label: str | None  # topic id answered, or the small-talk label
    score: float
    ranking: tuple[tuple[str, float], ...]  # labels best first (topics and specials)

    def topic_candidates(self, limit: int = MAX_CANDIDATES) -> list[tuple[str, float]]:
        return [(lab, s) for lab, s in self.ranking if not is_special(lab)][:limit]


def features(text: str) -> Counter[str]:
    """Words, word pairs and character 3/4-grams of a normalised text.

    Character n-grams make "pregnent" share most of its evidence with "pregnant";
    word pairs keep "home office" apart from "office" and "home".
    """
    out: Counter[str] = Counter()
    _add_features(text, out, 1.0)
    return out


def _add_features(text: str, into: dict[str, float], scale: float) -> None:
    """Add the features of `text`, times `scale`, to `into` (no Counter per phrase)."""
    words = text.split()
    get = into.get
    half = 0.5 * scale
    for word in words:
        key = "w:" + word
        into[key] = get(key, 0.0) + scale
        padded = f" {word} "
        for n in (3, 4):
            for i in range(len(padded) - n + 1):
                gram = padded[i : i + n]
                into[gram] = get(gram, 0.0) + half
    for a, b in itertools.pairwise(words):
        key = f"b:{a} {b}"
        into[key] = get(key, 0.0) + scale


class _Model:
    """Multinomial naive Bayes over one script's phrasings, with label-specificity weights.

    Every label (topic, small-talk intent, out-of-scope) is a class. A query feature is
    weighted by log(labels / labels using it), so words every topic shares ("doctor",
    "free", "papers") count for little and words one topic owns ("hits", "hc2") decide.

    The index is kept in flat arrays (features numbered; each feature's postings a slice
    of two arrays) rather than a dict of lists of tuples and a Counter per phrase: the
    ten languages' ~12,800 phrasings took ~150 MB as Python objects, several times the
    memory of the whole rest of the bot. Per-label counts, needed only to take one
    phrasing out exactly (leave-one-out, `bot.evaluation`), are rebuilt when first asked.
    """

    def __init__(self, phrases: list[Phrase], keyword_weight: float) -> None:
        self.phrases = phrases
        self.keyword_weight = keyword_weight
        self.labels = sorted({p.label for p in phrases})
        label_index = {label: i for i, label in enumerate(self.labels)}
        counts = self._count(phrases, [label_index[p.label] for p in phrases])
        self.totals = [sum(c.values()) for c in counts]
        # Number the features; how many labels use each decides its weight.
        self.feature_ids: dict[str, int] = {}
        spread: list[int] = []
        for counter in counts:
            for f in counter:
                fid = self.feature_ids.setdefault(f, len(spread))
                if fid == len(spread):
                    spread.append(0)
                spread[fid] += 1
        n_labels = len(self.labels)
        self.weights = array("d", (math.log(n_labels / df) for df in spread))
        # A label with little text (a greeting) would otherwise be penalised less for
        # words it has never seen than a topic with many examples; even out the mass.
        mean = sum(self.totals) / max(1, len(self.totals))
        self.scale = [(mean / t) ** MASS_BALANCE if t else 1.0 for t in self.totals]
        self.vocabulary = len(spread)
        # Sparse postings for the fast path: a label's log-likelihood is a baseline every
        # label shares (each feature unseen) plus a correction for each feature it has seen.
        # Feature i's postings are post_labels/post_deltas[starts[i]:starts[i + 1]].
        alpha = SMOOTHING
        self.log_alpha = math.log(alpha)
        self.denominator = [
            math.log(t * s + alpha * self.vocabulary)
            for t, s in zip(self.totals, self.scale, strict=True)
        ]
        self.starts = array("l", [0]) * (len(spread) + 1)
        for fid, df in enumerate(spread):
            self.starts[fid + 1] = self.starts[fid] + df
        cursor = array("l", self.starts)
        self.post_labels = array("H", [0]) * self.starts[-1]
        self.post_deltas = array("d", [0.0]) * len(self.post_labels)
        for i, counter in enumerate(counts):
            scale = self.scale[i]
            for f, c in counter.items():
                fid = self.feature_ids[f]
                k = cursor[fid]
                cursor[fid] = k + 1
                self.post_labels[k] = i
                self.post_deltas[k] = math.log(c * scale + alpha) - self.log_alpha
        self._derive()

    # What `state()` gives and `from_state` takes: everything indexing computes, as plain
    # numbers, strings and arrays (bot.snapshot stores them without pickle).
    STATE = (
        "keyword_weight",
        "labels",
        "totals",
        "feature_ids",
        "weights",
        "scale",
        "vocabulary",
        "log_alpha",
        "denominator",
        "starts",
        "post_labels",
        "post_deltas",
    )

    def state(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.STATE}

    @classmethod
    def from_state(cls, phrases: list[Phrase], state: dict[str, object]) -> _Model:
        """A model from `state()` of one built over the same `phrases`, without indexing."""
        model = cls.__new__(cls)
        model.phrases = phrases
        for name in cls.STATE:
            setattr(model, name, state[name])
        model._derive()
        return model

    def _derive(self) -> None:
        """The lookup tables that follow from the index (cheap, so never stored)."""
        phrases = self.phrases
        self.words = sorted(f[2:] for f in self.feature_ids if f.startswith("w:"))
        self.word_set = frozenset(self.words)
        self.texts = [p.text for p in phrases]
        self._typo_windows: dict[tuple[str, int], list[str]] | None = None
        by_label: dict[str, list[int]] = {}
        for i, phrase in enumerate(phrases):
            by_label.setdefault(phrase.label, []).append(i)
        self.texts_by_label = {label: array("l", idxs) for label, idxs in by_label.items()}
        self._positions: dict[int, int] | None = None
        self._label_counts: list[dict[int, float]] | None = None

    @property
    def typo_windows(self) -> dict[tuple[str, int], list[str]]:
        """Typo correction compares an unknown word only with known words of similar length
        (within 2) that begin with its first or second letter (see `correct`). Built on
        first use: a restart from the snapshot need not wait for it."""
        if self._typo_windows is None:
            windows: dict[tuple[str, int], list[str]] = {}
            for word in self.words:
                for n in range(len(word) - 2, len(word) + 3):
                    windows.setdefault((word[0], n), []).append(word)
            self._typo_windows = windows
        return self._typo_windows

    def position(self, phrase: Phrase) -> int | None:
        """Where `phrase` (this very object) is in `phrases`; for leave-one-out only, so
        the map is built on first use rather than kept by every running bot."""
        if self._positions is None:
            self._positions = {id(p): i for i, p in enumerate(self.phrases)}
        return self._positions.get(id(phrase))

    def _count(self, phrases: list[Phrase], labels: list[int]) -> list[dict[str, float]]:
        counts: list[dict[str, float]] = [{} for _ in self.labels]
        for phrase, label in zip(phrases, labels, strict=True):
            # titles and keywords: curated vocabulary, weighted up
            scale = 1.0 if phrase.is_example else self.keyword_weight
            _add_features(phrase.text, counts[label], scale)
        return counts

    def weigh(self, feats: dict[str, float]) -> dict[int, float]:
        """Known features of a query by number, each times its label-specificity weight."""
        ids, weights = self.feature_ids, self.weights
        out: dict[int, float] = {}
        for f, v in feats.items():
            fid = ids.get(f)
            if fid is not None:
                out[fid] = v * weights[fid]
        return out

    def _phrase_counts(self, index: int) -> dict[int, float]:
        """One phrasing's own contribution to its label's counts, by feature number."""
        phrase = self.phrases[index]
        feats: dict[str, float] = {}
        _add_features(phrase.text, feats, 1.0 if phrase.is_example else self.keyword_weight)
        return {self.feature_ids[f]: v for f, v in feats.items()}

    def label_counts(self, label: int) -> dict[int, float]:
        """A label's feature counts (rebuilt from the phrasings on first use)."""
        if self._label_counts is None:
            label_index = {lab: i for i, lab in enumerate(self.labels)}
            counts = self._count(self.phrases, [label_index[p.label] for p in self.phrases])
            self._label_counts = [
                {self.feature_ids[f]: c for f, c in counter.items()} for counter in counts
            ]
        return self._label_counts[label]

    def correct(self, text: str) -> str:
        """Replace unknown words by the nearest known word (typos), when one is close.

        Candidates are the known words of similar length that begin with the typed word's
        first letter, or its second (the first two swapped): comparing with every word of
        similar length made this step grow with the whole vocabulary, nine tenths of the
        cost at ten times the catalogue. A wrong or missing first letter is left to the
        letter n-grams, which still share most of their evidence (held-out accuracy was
        unchanged: 91.9% correct outright against 91.8%).
        """
        out = []
        windows = self.typo_windows
        for word in text.split():
            if len(word) >= 4 and word not in self.word_set:
                near = windows.get((word[0], len(word)), [])
                if word[1] != word[0]:
                    near = near + windows.get((word[1], len(word)), [])
                best = process.extractOne(
                    word, near, scorer=fuzz.ratio, score_cutoff=TYPO_SIMILARITY
                )
                if best is not None:
                    word = best[0]
            out.append(word)
        return " ".join(out)

    def posterior(self, query: str, exclude: int | None = None) -> dict[str, float]:
        weighted = self.weigh(features(query))
        if not weighted:
            return {}
        return self._posterior_sparse(weighted, exclude)

    def _posterior_sparse(
        self, weighted: dict[int, float], exclude: int | None = None
    ) -> dict[str, float]:
        """The same scores as the dense sum, touching only the labels each feature has.

        Taking one phrase out changes only its own label's counts, so for leave-one-out
        that one label is recomputed exactly and the rest come from the postings.
        """
        mass = sum(weighted.values())
        logp = [mass * (self.log_alpha - den) for den in self.denominator]
        starts, labels, deltas = self.starts, self.post_labels, self.post_deltas
        for fid, v in weighted.items():
            for k in range(starts[fid], starts[fid + 1]):
                logp[labels[k]] += v * deltas[k]
        if exclude is not None:
            label = self.labels.index(self.phrases[exclude].label)
            logp[label] = self._label_logp(weighted, label, self._phrase_counts(exclude))
        return self._softmax(dict(zip(self.labels, logp, strict=True)))

    def _label_logp(
        self, weighted: dict[int, float], label: int, minus: dict[int, float] | None = None
    ) -> float:
        """One label's log-likelihood, optionally without one phrase's counts."""
        alpha, counts, scale = SMOOTHING, self.label_counts(label), self.scale[label]
        total = self.totals[label] - (sum(minus.values()) if minus else 0.0)
        denominator = math.log(total * scale + alpha * self.vocabulary)
        score = 0.0
        for fid, v in weighted.items():
            c = counts.get(fid, 0.0) - (minus.get(fid, 0.0) if minus else 0.0)
            score += v * (math.log(c * scale + alpha) - denominator)
        return score

    @staticmethod
    def _softmax(logp: dict[str, float]) -> dict[str, float]:
        top = max(logp.values())
        exps = {label: math.exp((v - top) / TEMPERATURE) for label, v in logp.items()}
        z = sum(exps.values())
        return {label: 100.0 * e / z for label, e in exps.items()}

    def _posterior_dense(
        self, weighted: dict[int, float], exclude: int | None
    ) -> dict[str, float]:
        """Every label, every feature: the plain sum the fast path must equal (tests)."""
        removed = self.phrases[exclude].label if exclude is not None else None
        minus = self._phrase_counts(exclude) if exclude is not None else None
        return self._softmax(
            {
                label: self._label_logp(weighted, i, minus if label == removed else None)
                for i, label in enumerate(self.labels)
            }
        )

    def near_copies(
        self, query: str, exclude: int | None, labels: Iterable[str]
    ) -> dict[str, float]:
        """Which of `labels` have a phrasing almost identical to the query ("thank you")."""
        out: dict[str, float] = {}
        idxs = [i for label in labels for i in self.texts_by_label.get(label, ())]
        texts = [self.texts[i] for i in idxs]
        for _text, score, pos in process.extract(
            query, texts, scorer=fuzz.ratio, limit=5, score_cutoff=NEAR_COPY
        ):
            idx = idxs[pos]
            if idx == exclude:
                continue
            label = self.phrases[idx].label
            out[label] = max(out.get(label, 0.0), score)
        return out


class Matcher:
    """Ranks labels for a question; immutable once built."""

    def __init__(self, phrases: Iterable[Phrase]) -> None:
        grouped: dict[str, list[Phrase]] = {}
        for phrase in phrases:
            grouped.setdefault(script_of(phrase.text) or "other", []).append(phrase)
        self.models = {script: _Model(items, KEYWORD_WEIGHT) for script, items in grouped.items()}

    @classmethod
    def from_models(cls, models: dict[str, _Model]) -> Matcher:
        """A matcher over models restored by bot.snapshot (`_Model.from_state`)."""
        matcher = cls.__new__(cls)
        matcher.models = models
        return matcher

    @classmethod
    def from_catalogue(cls, catalogue: Catalogue, extra: Iterable[Phrase] = ()) -> Matcher:
        return cls(catalogue_phrases(catalogue, extra))

    @property
    def phrases(self) -> list[Phrase]:
        return [p for m in self.models.values() for p in m.phrases]

    def known_words(self, query: str) -> int:
        """How many words of a normalised query the catalogue knows (after typo correction)."""
        model = self.models.get(script_of(query) or "other")
        if model is None:
            return 0
        return sum(1 for w in model.correct(query).split() if w in model.word_set)

    def rank(self, query: str, *, exclude: Phrase | None = None) -> list[tuple[str, float]]:
        """Labels with their score (0-100), best first. `query` must be normalised."""
        model = self.models.get(script_of(query) or "other")
        if model is None or not query:
            return []
        skip = model.position(exclude) if exclude is not None else None
        query = model.correct(query)
        scores = model.posterior(query, skip)
        leading = sorted(scores, key=scores.__getitem__, reverse=True)[:NEAR_COPY_LABELS]
        for label, score in model.near_copies(query, skip, leading).items():
            scores[label] = max(scores.get(label, 0.0), score)
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        return [(label, round(score, 2)) for label, score in ranked if score >= 0.01]


def decide(ranking: list[tuple[str, float]], th: Thresholds) -> Match:
    """Turn a ranking into an outcome; a wrong outright answer costs more than a question."""
    ranked = tuple(ranking)
    if not ranked or ranked[0][1] < th.suggest:
        score = ranked[0][1] if ranked else 0.0
        return Match(Outcome.FALLBACK, None, score, ranked)
    label, score = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    confident = score >= th.answer and score - runner_up >= th.margin
    if is_special(label):
        if confident or (score >= th.answer and is_special(ranked[1][0])):
            kind = Outcome.OUT_OF_SCOPE if label == OUT_OF_SCOPE else Outcome.SMALL_TALK
            return Match(kind, label, score, ranked)
    elif confident:
        return Match(Outcome.ANSWER, label, score, ranked)
    topics = [(lab, s) for lab, s in ranked if not is_special(lab) and s >= th.suggest]
    if not topics:
        return Match(Outcome.FALLBACK, None, score, ranked)
    return Match(Outcome.DID_YOU_MEAN, None, score, ranked)


def locale_examples(catalogue: Catalogue, locales: Locales) -> Iterator[tuple[str, str, str]]:
    """(text as written, label, language) for the examples of every shipped language:
    topics under their id, small talk under SMALL_TALK_PREFIX + intent, out-of-scope.

    Languages still being written are left out: their examples have not been checked.
    """
    intents = {i.name for i in catalogue.small_talk}
    for code, data in locales.data.items():
        if not data.language.shipped:
            continue
        examples = data.examples or {}
        for topic_id, items in (examples.get("topics") or {}).items():
            if topic_id in catalogue.topics:
                for item in items or ():
                    yield str(item), topic_id, code
        for name, items in (examples.get("small_talk") or {}).items():
            if name in intents:
                for item in items or ():
                    yield str(item), SMALL_TALK_PREFIX + name, code
        for item in examples.get("out_of_scope") or ():
            yield str(item), OUT_OF_SCOPE, code


def catalogue_phrases(catalogue: Catalogue, extra: Iterable[Phrase] = ()) -> list[Phrase]:
    """Every English phrasing in the catalogue, plus `extra` (other languages)."""
    phrases: list[Phrase] = []

    def add(text: str, label: str, is_example: bool, lang: str = "en") -> None:
        norm = normalise(text)
        if norm:
            phrases.append(Phrase(norm, label, lang, is_example))

    for topic in catalogue.topics.values():
        add(topic.title, topic.id, False)
        for keyword in topic.keywords:
            add(keyword, topic.id, False)
        for example in topic.examples:
            add(example, topic.id, True)
    for intent in catalogue.small_talk:
        for example in intent.examples:
            add(example, SMALL_TALK_PREFIX + intent.name, True)
    for example in catalogue.out_of_scope.examples:
        add(example, OUT_OF_SCOPE, True)
    phrases.extend(extra)
    return phrases
