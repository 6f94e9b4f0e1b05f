"""What every brain receives and returns."""

from collections.abc import Awaitable, Callable
from typing import Protocol

from pydantic import BaseModel, Field

from app.persona.appraisal import Appraisal
from app.persona.emotion import EmotionState
from app.persona.facts import Fact, FactKind
from app.persona.memory import SessionMemory, UserMemory
from app.persona.profiles import PersonaProfile
from app.persona.relationship import Relationship
from app.turns import Card, Turn


class BrainContext(BaseModel):
    """Everything a brain may use, all of it about this user and this persona only."""

    profile: PersonaProfile
    emotion: EmotionState  # already decayed to `now`
    dominant_emotion: str | None
    relationship: Relationship
    session: SessionMemory
    user_memory: UserMemory  # including what this turn just taught
    recalled: list[Fact]  # the memories most relevant to this turn
    asked: tuple[FactKind, ...]  # fact kinds the user asked about ("what's my name?")
    asked_about: str = ""  # the relation or pet asked about ("what's my cat's name?" -> "cat")
    new_facts: list[Fact]  # facts the user just told
    appraisal: Appraisal
    turn: Turn
    now: float
    seed: int


class BrainOutput(BaseModel):
    text: str
    cards: dict[str, Card] = Field(default_factory=dict)
    fallback: bool = False
    emotion_deltas: dict[str, float] = Field(default_factory=dict)  # each in [-1, 1]
    relationship_signal: float = 0.0  # [-1, 1]: how this turn felt to the persona
    facts: list[Fact] = Field(default_factory=list)  # more facts the brain learned
    flagged: str | None = None  # why this answer is not the configured brain's (e.g. LLM failure)
    answered_by: str | None = None  # the brain that stood in for the one asked (the LLM's rules fallback)
    crisis: bool = False  # the safety answer to crisis language (operators review these turns)
    interrupted: bool = False  # the listener barged in: `text` is the part that reached them


class Brain(Protocol):
    name: str

    def respond(self, ctx: BrainContext) -> BrainOutput: ...


Say = Callable[[str], Awaitable[None]]  # words of the reply, in order, as they come


class BrainHealth(BaseModel):
    brain: str
    provider: str | None = None
    model: str | None = None
    reachable: bool


class AsyncBrain(Protocol):
    """A brain as a worker runs it: it hands its words to `say` as they come (the pure brains all
    at once), then returns the whole answer."""

    name: str

    async def respond(self, ctx: BrainContext, say: Say) -> BrainOutput: ...

    async def health(self) -> BrainHealth: ...

    async def aclose(self) -> None:
        """Let go of what it holds (the LLM brain's connections to its model)."""
