"""Appraisal of the user's words (VADER), the scene's perception and the voice's prosody."""

import pytest

from app.persona.appraisal import appraise, appraise_words, perception_deltas


def test_kind_words_bring_joy_and_love_when_aimed_at_the_persona() -> None:
    result = appraise_words("You are wonderful, thank you so much!")
    assert result.valence > 0.5
    assert result.directed_at_persona
    assert result.deltas["joy"] > 0
    assert result.deltas["love"] > 0


def test_insults_aimed_at_the_persona_anger_it_while_sad_news_saddens_it() -> None:
    insult = appraise_words("You are stupid and useless")
    assert insult.deltas["anger"] > 0
    assert insult.deltas["joy"] < 0
    sad = appraise_words("My grandmother died last night and I feel terrible")
    assert sad.deltas["sadness"] > 0
    assert "anger" not in sad.deltas


def test_negation_is_understood() -> None:
    assert appraise_words("I am not happy at all").valence < 0
    assert appraise_words("").deltas == {}


def test_hume_prosody_and_scene_perception_add_up() -> None:
    deltas = perception_deltas({"prosody": {"Joy": 0.8, "Amusement": 0.2, "Fear": 0.1, "Bogus": 3}})
    assert deltas["joy"] == pytest.approx(0.2)
    assert deltas["fear"] == pytest.approx(0.025)
    combined = appraise("great", {"User_Turn_Positivity": 1.0})
    assert combined.deltas["joy"] > appraise("great", {}).deltas["joy"]
