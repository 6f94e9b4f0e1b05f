"""The persona's relationship with one user: updated every turn, labelled from its numbers."""

from typing import Literal

from pydantic import BaseModel, Field

from app.persona.bounds import clamp, reinforce
from app.persona.emotion import offset

SUMMARY_PHRASES = 6  # what the running summary says the persona knows of the user, at most
# Feelings towards a user fade while apart (the relationship's numbers stay): a friend back next
# week meets a persona glad to see them, not one still saturated from last time.
FEELING_HALF_LIFE_SECONDS = 24 * 3600.0

RelationshipLabel = Literal["stranger", "acquaintance", "friend", "close friend", "wary", "hostile"]


class Relationship(BaseModel):
    affinity: float = 0.0  # [-1, 1]: how much the persona likes the user
    trust: float = 0.0  # [0, 1]
    familiarity: float = 0.0  # [0, 1]: grows with every interaction
    interactions: int = 0
    last_seen: float | None = None
    summary: str = ""  # a short running summary of who the user is to the persona
    # What the persona feels talking to this user, each in [0, 1] (0: nothing yet): the turns'
    # emotional changes in full, where the persona's shared mood takes only a share of them.
    feelings: dict[str, float] = Field(default_factory=dict)

    @property
    def label(self) -> RelationshipLabel:
        if self.affinity <= -0.5:
            return "hostile"
        if self.affinity <= -0.2:
            return "wary"
        if self.familiarity >= 0.6 and self.affinity >= 0.5:
            return "close friend"
        if self.familiarity >= 0.3 and self.affinity >= 0.2:
            return "friend"
        if self.interactions >= 3:
            return "acquaintance"
        return "stranger"


def faded(rel: Relationship, now: float) -> Relationship:
    """The relationship with its feelings faded for the time since the user was last seen."""
    if rel.last_seen is None or not rel.feelings:
        return rel
    factor = 0.5 ** (max(0.0, now - rel.last_seen) / FEELING_HALF_LIFE_SECONDS)
    return rel.model_copy(update={"feelings": {name: round(v * factor, 4) for name, v in rel.feelings.items()}})


def felt_after(feelings: dict[str, float], deltas: dict[str, float]) -> dict[str, float]:
    """The feelings towards a user after a turn's emotional changes (opposites offset)."""
    result = dict(feelings)
    for name, delta in offset(deltas).items():
        result[name] = round(reinforce(result.get(name, 0.0), delta), 4)
    return result


def record_interaction(
    rel: Relationship,
    signal: float,
    now: float,
    known: list[str] | None = None,
    feeling_deltas: dict[str, float] | None = None,
) -> Relationship:
    """One more turn with this user; `signal` in [-1, 1] says how it felt to the persona.

    `known`: short phrases of what the persona knows about the user, for the running summary;
    `feeling_deltas`: the turn's emotional changes, for the persona's feelings towards the user.
    """
    signal = clamp(signal, -1.0, 1.0)
    updated = Relationship(
        affinity=reinforce(rel.affinity, 0.15 * signal, low=-1.0, high=1.0),
        trust=reinforce(rel.trust, 0.05 * signal if signal > 0 else 0.2 * signal),
        familiarity=reinforce(rel.familiarity, 0.04),
        interactions=rel.interactions + 1,
        last_seen=now,
        feelings=felt_after(faded(rel, now).feelings, feeling_deltas or {}),
    )
    about = "; ".join((known or [])[:SUMMARY_PHRASES]) or "little known yet"
    updated.summary = f"{updated.label}, {updated.interactions} turns: {about}"[:300]
    return updated
