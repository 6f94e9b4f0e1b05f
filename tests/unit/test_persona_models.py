"""Emotion, relationship and session-memory models: pure functions, no fakes needed."""

import itertools

import pytest

from app.persona.bounds import reinforce
from app.persona.emotion import EmotionState, apply_deltas, decayed, dominant, initial_state
from app.persona.memory import Exchange, SessionMemory, remember
from app.persona.relationship import Relationship, record_interaction

BASELINE = {"joy": 0.4, "sadness": 0.1}
HALF_LIFE = 100.0


def test_emotions_decay_towards_baseline_not_zero_by_half_life() -> None:
    state = EmotionState(values={"joy": 1.0, "sadness": 1.0}, as_of=0.0)
    one = decayed(state, BASELINE, HALF_LIFE, 100.0)
    assert one.values["joy"] == pytest.approx(0.4 + 0.6 / 2)
    assert one.values["sadness"] == pytest.approx(0.1 + 0.9 / 2)
    much_later = decayed(state, BASELINE, HALF_LIFE, 100_000.0)
    assert much_later.values == pytest.approx(BASELINE)


def test_decay_is_a_function_of_elapsed_time_only() -> None:
    state = apply_deltas(initial_state(BASELINE, 0.0), {"joy": 0.5}, BASELINE, HALF_LIFE, 0.0)
    stepwise = decayed(decayed(state, BASELINE, HALF_LIFE, 40.0), BASELINE, HALF_LIFE, 100.0)
    direct = decayed(state, BASELINE, HALF_LIFE, 100.0)
    assert stepwise.values == pytest.approx(direct.values)
    assert decayed(state, BASELINE, HALF_LIFE, -5.0).values == state.values  # clock skew: no time travel


def test_reinforcement_has_diminishing_returns_and_respects_bounds() -> None:
    value, steps = 0.5, []
    for _ in range(20):
        new = reinforce(value, 0.3)
        steps.append(new - value)
        value = new
    assert all(later < earlier for earlier, later in itertools.pairwise(steps))
    assert 0.99 < value <= 1.0
    assert reinforce(0.2, -1.0) == 0.0
    assert reinforce(0.0, -0.5) == 0.0
    assert reinforce(0.9, 5.0) == 1.0  # deltas are clamped to [-1, 1]
    assert reinforce(0.0, 0.5, low=-1.0, high=1.0) == pytest.approx(0.5)


def test_unknown_emotions_are_ignored_and_dominant_is_the_most_lifted() -> None:
    state = apply_deltas(initial_state(BASELINE, 0.0), {"rage": 1.0, "sadness": 0.5}, BASELINE, HALF_LIFE, 0.0)
    assert set(state.values) == set(BASELINE)
    assert dominant(state, BASELINE) == "sadness"
    assert dominant(initial_state(BASELINE, 0.0), BASELINE) is None


def test_relationship_grows_from_stranger_to_close_friend() -> None:
    rel, labels = Relationship(), []
    for turn in range(60):
        rel = record_interaction(rel, 1.0, float(turn))
        labels.append(rel.label)
    assert labels[0] == "stranger"
    order = ["stranger", "acquaintance", "friend", "close friend"]
    seen = [label for i, label in enumerate(labels) if i == 0 or labels[i - 1] != label]
    assert seen == order
    assert rel.interactions == 60
    assert rel.last_seen == 59.0
    assert 0 < rel.trust <= 1
    assert rel.affinity <= 1


def test_relationship_turns_wary_then_hostile_with_hostile_turns() -> None:
    rel, seen = Relationship(), list[str]()
    for turn in range(30):
        rel = record_interaction(rel, -1.0, float(turn))
        if not seen or seen[-1] != rel.label:
            seen.append(rel.label)
    assert seen[-2:] == ["wary", "hostile"]
    assert rel.trust == 0.0
    assert rel.affinity >= -1.0


def test_session_memory_is_bounded_and_forgets_the_oldest() -> None:
    memory = SessionMemory()
    for i in range(15):
        memory = remember(memory, Exchange(turn_id=str(i), user_text=f"u{i}", reply_text=f"r{i}", at=i), limit=10)
    assert memory.turn_count == 15
    assert [e.turn_id for e in memory.recent] == [str(i) for i in range(5, 15)]
