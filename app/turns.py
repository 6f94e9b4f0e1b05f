"""The contract between every door and the worker: a Turn goes in, a Reply comes out.

Channels turn their protocol frames into a Turn; the worker answers with a Reply that is routed
back to the API process named in `reply_to`. Nothing here knows a wire protocol.
"""

import math
import secrets
import time
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

TurnKind = Literal["init", "text"]
TRANSCRIPT_LINES = 40  # of a client's conversation, the most recent lines a turn carries
LARGEST_NUMBER = 2**53  # beyond it a JSON number means nothing to a persona, and math on it overflows


def bounded(value: Any) -> Any:
    """A client's variables without numbers no persona can use (`1e400`, `10**400`): each such
    number is dropped, so the turn is answered normally instead of failing in the worker."""
    if isinstance(value, dict):
        return {k: bounded(v) for k, v in value.items() if not _absurd(v)}
    if isinstance(value, list):
        return [bounded(v) for v in value if not _absurd(v)]
    return value


def _absurd(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) > LARGEST_NUMBER
    if isinstance(value, float):
        return not math.isfinite(value) or abs(value) > LARGEST_NUMBER
    return False


def new_turn_id() -> str:
    """Time-ordered id: turns of one session sort in arrival order, which the lanes rely on."""
    return f"{time.time_ns():016x}{secrets.token_hex(4)}"


class TranscriptLine(BaseModel):
    """One message of the conversation as the client heard it (Hume, OpenAI clients send it all)."""

    role: Literal["user", "assistant"]
    text: str = Field(max_length=4000)


class Turn(BaseModel):
    turn_id: str = Field(default_factory=new_turn_id)
    session_id: str
    user_id: str
    persona_id: str
    channel: str
    kind: TurnKind = "text"
    text: str = ""
    variables: dict[str, Any] = Field(default_factory=dict)
    client_turn_id: str | None = None
    reply_to: str
    enqueued_at: float = Field(default_factory=time.time)
    deadline_at: float | None = None
    tracked: bool = False  # a REST job: progress and result go to its job record, not a socket
    known_facts: dict[str, str] = Field(default_factory=dict)  # what the platform knows: {"name": "Sam"}
    brain: str | None = None  # a brain the session chose (the console does); None: the worker's default
    stream: bool = False  # the door shows words as they come: the worker publishes each Delta
    # The conversation before this turn as the client heard it, oldest first (bounded).
    transcript: list[TranscriptLine] = Field(default_factory=list, max_length=TRANSCRIPT_LINES)

    @field_validator("variables")
    @classmethod
    def _bounded_variables(cls, variables: dict[str, Any]) -> dict[str, Any]:
        return bounded(variables)


CardKind = Literal["image", "options", "markdown", "externalLink", "video"]


class Card(BaseModel):
    """A content card; each channel renders it in its own protocol's shape."""

    kind: CardKind
    data: dict[str, Any]


class Delta(BaseModel):
    """Words of a turn's reply as the brain produced them, before the reply is whole.

    `offset` is how many characters of the reply came before these, so a door takes each piece
    once, in order, whatever is repeated (a turn run again elsewhere) or lost (the final Reply
    heals a gap)."""

    kind: Literal["delta"] = "delta"
    session_id: str
    turn_id: str
    offset: int = Field(ge=0)
    text: str


class Reply(BaseModel):
    kind: Literal["reply"] = "reply"
    session_id: str
    turn_id: str | None = None  # None: spontaneous speech, not an answer to a request
    persona_id: str
    input_text: str = ""
    text: str
    cards: dict[str, Card] = Field(default_factory=dict)
    fallback: bool = False
    interrupted: bool = False  # the listener cut the turn short: `text` is what reached them
    user_facts: dict[str, str] = Field(default_factory=dict)  # what the persona knows of the user now

    @classmethod
    def to(cls, turn: Turn, text: str, **fields: Any) -> "Reply":
        """The answer to `turn` (cards, fallback, user_facts as `fields`)."""
        return cls(
            session_id=turn.session_id,
            turn_id=turn.turn_id,
            persona_id=turn.persona_id,
            input_text=turn.text,
            text=text,
            **fields,
        )

    @property
    def spontaneous(self) -> bool:
        return self.turn_id is None
