"""What every brain receives and returns."""

from typing import Protocol

from pydantic import BaseModel, Field

from app.persona.emotion import EmotionState
from app.persona.memory import SessionMemory
from app.persona.profiles import PersonaProfile
from app.persona.relationship import Relationship
from app.turns import Card, Turn


class BrainContext(BaseModel):
    profile: PersonaProfile
    emotion: EmotionState  # already decayed to `now`
    relationship: Relationship
    memory: SessionMemory
    turn: Turn
    now: float
    seed: int


class BrainOutput(BaseModel):
    text: str
    cards: dict[str, Card] = Field(default_factory=dict)
    fallback: bool = False
    emotion_deltas: dict[str, float] = Field(default_factory=dict)  # each in [-1, 1]
    relationship_signal: float = 0.0  # [-1, 1]: how this turn felt to the persona


class Brain(Protocol):
    name: str

    def respond(self, ctx: BrainContext) -> BrainOutput: ...
