"""The shapes Synthetic Soul clients read, beside ours in the same responses.

Its web UI (chris-cozy/SyntheticSoulWebUI, docs/BACKEND_CONTRACT.md) reads the conversation as
`conversation.messages[]` of `{id, timestamp, from_agent, message}` and the active agent as
`agent.{name, identity, personality.personality_matrix, emotional_status.emotions}`; our own
fields stay as they are, these are additions (docs/api.md, "Synthetic Soul clients").
"""

from datetime import UTC, datetime

from pydantic import BaseModel

from app.store.history import HistoryEntry


class SoulMessage(BaseModel):
    id: str
    timestamp: str  # ISO 8601, UTC: the client sorts by it
    from_agent: bool
    message: str


class SoulConversation(BaseModel):
    messages: list[SoulMessage]


class Dimension(BaseModel):
    """One bar of its client's personality or emotion matrix."""

    value: float
    min: float = 0.0
    max: float = 1.0


class SoulPersonality(BaseModel):
    personality_matrix: dict[str, Dimension]


class SoulEmotions(BaseModel):
    emotions: dict[str, Dimension]


class SoulAgent(BaseModel):
    name: str
    identity: str
    personality: SoulPersonality
    emotional_status: SoulEmotions


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


def soul_conversation(entries: list[HistoryEntry]) -> SoulConversation:
    """Each turn is the user's message (when they said something) then the persona's answer."""
    messages: list[SoulMessage] = []
    for e in entries:
        if e.input_text:
            messages.append(
                SoulMessage(id=f"{e.turn_id}:in", timestamp=_iso(e.enqueued_at), from_agent=False, message=e.input_text)
            )
        if e.output_text:
            messages.append(
                SoulMessage(
                    id=f"{e.turn_id}:out", timestamp=_iso(e.finished_at), from_agent=True, message=e.output_text
                )
            )
    return SoulConversation(messages=messages)


def _matrix(values: dict[str, float]) -> dict[str, Dimension]:
    return {name: Dimension(value=value) for name, value in values.items()}


def soul_agent(name: str, identity: str, traits: dict[str, float], emotions: dict[str, float]) -> SoulAgent:
    return SoulAgent(
        name=name,
        identity=identity,
        personality=SoulPersonality(personality_matrix=_matrix(traits)),
        emotional_status=SoulEmotions(emotions=_matrix(emotions)),
    )
