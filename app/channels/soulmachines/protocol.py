"""Soul Machines orchestration frames: parsing scene events and rendering our requests.

Pure functions over pydantic models (see docs/protocols.md, section 1). No I/O here.
"""

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.auth.identity import ID_PATTERN, resolve_user
from app.turns import Card, Reply, TurnKind

CHANNEL = "soulmachines"
# The other doors name their sessions "<door>:<id>" (REST "rest:<user>:<conversation>"). A scene
# naming one of them would share that session's memory and words (invariant 8).
OTHER_DOORS_SESSIONS = ("rest:", "skills:", "hume:")


class Envelope(BaseModel):
    """Every frame: `category` (always "scene"), `kind`, `name`, `body`."""

    model_config = ConfigDict(extra="allow")

    category: str = "scene"
    kind: str
    name: str = Field(min_length=1, max_length=100)
    body: dict[str, Any] = Field(default_factory=dict)


class SceneSession(BaseModel):
    """`body.session` of a `state` event: binds the socket to a Digital Person session."""

    model_config = ConfigDict(extra="allow")

    sessionId: str = Field(pattern=ID_PATTERN)
    state: str | None = None
    userInfo: Any = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("sessionId")
    @classmethod
    def not_another_doors(cls, session_id: str) -> str:
        if session_id.startswith(OTHER_DOORS_SESSIONS):
            raise ValueError("the session id of another door")
        return session_id


class ConversationInput(BaseModel):
    model_config = ConfigDict(extra="allow")

    text: str = ""


class ConversationRequest(BaseModel):
    """`body` of a `conversationRequest` event: one user turn."""

    model_config = ConfigDict(extra="allow")

    personaId: str | int = 1
    input: ConversationInput = Field(default_factory=ConversationInput)
    optionalArgs: dict[str, Any] = Field(default_factory=dict)
    variables: dict[str, Any] = Field(default_factory=dict)

    @property
    def kind(self) -> TurnKind:
        return "init" if self.optionalArgs.get("kind") == "init" else "text"

    @property
    def client_turn_id(self) -> str | None:
        value = self.variables.get("Turn_Id")
        return value if isinstance(value, str) else None


def parse_user_info(raw: Any) -> dict[str, Any]:
    """`userInfo` is an empty string, a JSON string, or (from some clients) an object."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str) and raw.strip():
        try:
            value = json.loads(raw)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
    return {}


def user_id_for(user_info: dict[str, Any], session_id: str, secret: str) -> str:
    """The user behind a session (see app/auth/identity.py): the account an `identityToken` in
    userInfo proves; else `id` or `userId` from userInfo, as a scene user (`sm:<id>`), never an
    account; else anonymous per session."""
    claimed = None
    for field in ("id", "userId"):
        value = user_info.get(field)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            claimed = str(value).strip()
            break
    token = user_info.get("identityToken")
    return resolve_user("sm", claimed, token if isinstance(token, str) else None, secret, f"sm-session:{session_id}")


def render_cards(cards: dict[str, Card]) -> dict[str, Any]:
    """Cards as scene variables: `public-<id>` with both `component` and `type` (UIs read either)."""
    return {
        f"public-{card_id}": {"component": card.kind, "type": card.kind, "data": card.data}
        for card_id, card in cards.items()
    }


def conversation_response(
    persona_id: str | int,
    input_text: str,
    output_text: str,
    cards: dict[str, Card],
    fallback: bool,
) -> dict[str, Any]:
    """A `conversationResponse` request: one-way (`transaction: null`), no scene response expected."""
    return {
        "category": "scene",
        "kind": "request",
        "name": "conversationResponse",
        "transaction": None,
        "body": {
            "personaId": persona_id,
            "input": {"text": input_text},
            "output": {"text": output_text},
            "variables": render_cards(cards),
            "fallback": fallback,
        },
    }


def reply_frame(persona_id: str | int, reply: Reply) -> dict[str, Any]:
    return conversation_response(persona_id, reply.input_text, reply.text, reply.cards, reply.fallback)


def fallback_frame(persona_id: str | int, input_text: str, text: str) -> dict[str, Any]:
    return conversation_response(persona_id, input_text, text, {}, True)


def words_frame(persona_id: str | int, input_text: str, words: str) -> dict[str, Any]:
    """Words of the reply to `input_text` as they come: an event this backend adds for clients that
    ask for it (userInfo `"stream": true`); the request still gets its one conversationResponse."""
    return {
        "category": "scene",
        "kind": "event",
        "name": "conversationWords",
        "body": {"personaId": persona_id, "input": {"text": input_text}, "output": {"text": words}},
    }
