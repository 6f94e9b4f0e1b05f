"""The engine with the demo brain: the seed example's behaviours, deterministically."""

import pytest

from app.persona.appraisal import perception_deltas
from app.persona.brains import make_brain
from app.persona.emotion import initial_state
from app.persona.engine import PersonaState, step
from app.persona.memory import SessionMemory
from app.persona.profiles import default_profile
from app.persona.relationship import Relationship
from app.turns import Turn

PROFILE = default_profile("default")


def make_turn(text: str = "", kind: str = "text", variables: dict | None = None) -> Turn:
    return Turn(
        turn_id="0000000000000001abcdef01",
        session_id="s",
        user_id="u",
        persona_id="default",
        channel="test",
        kind=kind,
        text=text,
        variables=variables or {},
        reply_to="api",
    )


def run(turn: Turn):
    state = PersonaState(
        emotion=initial_state(PROFILE.baseline, 0.0), relationship=Relationship(), memory=SessionMemory()
    )
    return step(PROFILE, state, turn, make_brain("demo"), now=10.0, seed=1)


def test_init_turn_is_welcomed() -> None:
    result = run(make_turn(kind="init"))
    assert result.reply_text == "Hi there!"
    assert not result.fallback
    assert result.emotion_deltas["joy"] > 0


def test_why_questions_fall_back() -> None:
    result = run(make_turn("Why is the sky blue?"))
    assert result.reply_text == "I do not know how to answer that"
    assert result.fallback


def test_show_card_returns_the_kitten_image_card() -> None:
    result = run(make_turn("show card"))
    assert result.reply_text == "Here is a cat @showcards(cat)"
    assert result.cards["cat"].kind == "image"
    assert result.cards["cat"].data["alt"] == "A cute kitten"


def test_anything_else_is_echoed_and_remembered() -> None:
    result = run(make_turn("hello there"))
    assert result.reply_text == "Echo: hello there"
    assert result.exchange.user_text == "hello there"
    assert result.exchange.reply_text == "Echo: hello there"


def test_step_is_deterministic() -> None:
    assert run(make_turn("hello")) == run(make_turn("hello"))


def test_scene_perception_shifts_emotion() -> None:
    variables = {"User_Turn_Positivity": 0.9, "User_Turn_Negativity": None, "User_Turn_Confusion": "x"}
    assert perception_deltas(variables) == {"joy": pytest.approx(0.18)}
    result = run(make_turn("ok", variables={"User_Turn_Negativity": 1, "FacePresent": True}))
    assert result.emotion_deltas["sadness"] == pytest.approx(0.2)


def test_unknown_brain_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown brain"):
        make_brain("nope")
