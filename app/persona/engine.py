"""One persona step: state + turn + clock + seed -> what to say and how state should change.

The result carries *changes* (emotion deltas, a relationship signal, an exchange to remember)
rather than new documents, so the store can apply them to whatever state is current when it
writes, and concurrent turns compose instead of overwriting each other (invariant 3).
"""

from typing import Any

from pydantic import BaseModel, Field

from app.persona.bounds import clamp
from app.persona.brains.base import Brain, BrainContext
from app.persona.emotion import EmotionState, decayed
from app.persona.memory import Exchange, SessionMemory
from app.persona.profiles import PersonaProfile
from app.persona.relationship import Relationship
from app.turns import Card, Turn


class PersonaState(BaseModel):
    emotion: EmotionState
    relationship: Relationship
    memory: SessionMemory


class StepResult(BaseModel):
    reply_text: str
    cards: dict[str, Card] = Field(default_factory=dict)
    fallback: bool = False
    emotion_deltas: dict[str, float] = Field(default_factory=dict)
    relationship_signal: float = 0.0
    exchange: Exchange


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def perception_deltas(variables: dict[str, Any]) -> dict[str, float]:
    """Emotional shifts from the scene's perception of the user (Soul Machines variables)."""
    deltas: dict[str, float] = {}
    if (positivity := _number(variables.get("User_Turn_Positivity"))) is not None:
        deltas["joy"] = 0.2 * clamp(positivity)
    if (negativity := _number(variables.get("User_Turn_Negativity"))) is not None:
        deltas["sadness"] = 0.2 * clamp(negativity)
    if (confusion := _number(variables.get("User_Turn_Confusion"))) is not None:
        deltas["surprise"] = 0.1 * clamp(confusion)
    return deltas


def _merge(*parts: dict[str, float]) -> dict[str, float]:
    merged: dict[str, float] = {}
    for part in parts:
        for name, delta in part.items():
            merged[name] = clamp(merged.get(name, 0.0) + delta, -1.0, 1.0)
    return merged


def step(
    profile: PersonaProfile,
    state: PersonaState,
    turn: Turn,
    brain: Brain,
    now: float,
    seed: int = 0,
) -> StepResult:
    emotion = decayed(state.emotion, profile.baseline, profile.half_life_seconds, now)
    ctx = BrainContext(
        profile=profile,
        emotion=emotion,
        relationship=state.relationship,
        memory=state.memory,
        turn=turn,
        now=now,
        seed=seed,
    )
    output = brain.respond(ctx)
    return StepResult(
        reply_text=output.text,
        cards=output.cards,
        fallback=output.fallback,
        emotion_deltas=_merge(perception_deltas(turn.variables), output.emotion_deltas),
        relationship_signal=output.relationship_signal,
        exchange=Exchange(turn_id=turn.turn_id, user_text=turn.text, reply_text=output.text, at=now),
    )
