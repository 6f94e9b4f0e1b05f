"""The async skill socket (`/skills/ws`): {"name", "payload"} frames.

In: sessionStart, conversation (an init turn when variables.kind == "init"), sessionEnd.
Out: skillConversation, several per turn allowed and unprompted ones too (the persona's
thoughts). The protocol has no error frame; bad input is answered with {"name": "error"}.
"""

import logging
import time
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, Field, ValidationError, model_validator

from app.auth.identity import ID_PATTERN
from app.channels import access
from app.channels.skills import memory
from app.channels.skills.models import Memory
from app.channels.skills.rest import CHANNEL, public_cards, session_of
from app.channels.socket import SocketSession, open_session, short
from app.services import Services
from app.turns import Reply, Turn

log = logging.getLogger(__name__)
router = APIRouter()


class Frame(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict)


class NullsAbsent(BaseModel):
    """The SDK serialises unset fields as null (`"variables": null`): a null is an absent field."""

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


class SessionStart(NullsAbsent):
    projectId: str | None = Field(None, pattern=ID_PATTERN)
    sessionId: str = Field(pattern=ID_PATTERN)
    config: dict[str, Any] = Field(default_factory=dict)


class Conversation(NullsAbsent):
    text: str = Field("", max_length=4000)
    variables: dict[str, Any] = Field(default_factory=dict)
    memory: list[Memory] = Field(default_factory=list)
    sessionId: str | None = Field(None, pattern=ID_PATTERN)
    config: dict[str, Any] = Field(default_factory=dict)


@router.websocket("/skills/ws")
async def skill_socket(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    refusal = access.bearer_refusal(
        websocket.headers.get("authorization"), services.settings.skills_api_key, "skills ws"
    )
    await open_session(websocket, SkillSocket, refusal)


class SkillSocket(SocketSession):
    channel = CHANNEL
    door = "skills"

    def __init__(self, websocket: WebSocket, services: Services) -> None:
        super().__init__(websocket, services)
        self.persona_id = services.settings.persona_id
        self.skill_session = ""

    def reject(self, reason: str) -> None:
        self.send({"name": "error", "payload": {"message": reason}})

    async def handle(self, message: Any) -> None:
        try:
            frame = Frame.model_validate(message)
            if frame.name == "sessionStart":
                await self._start(SessionStart.model_validate(frame.payload))
            elif frame.name == "conversation":
                await self._converse(Conversation.model_validate(frame.payload))
            elif frame.name == "sessionEnd":
                log.info("skill session ended", extra=self.ctx())
            else:
                self.reject(f"unknown frame name {frame.name!r}")
        except ValidationError as exc:
            log.warning("invalid skill frame: %s", short(exc), extra=self.ctx())
            self.reject(f"invalid frame: {short(exc)}")

    async def _start(self, start: SessionStart) -> None:
        self.skill_session = start.sessionId
        self.persona_id = self.services.catalog.resolve(start.config.get("personaId"))
        await self.bind(session_of(start.sessionId), f"skills-session:{start.sessionId}")

    async def _converse(self, conversation: Conversation) -> None:
        skill_session = conversation.sessionId or self.skill_session
        if not skill_session:
            self.reject("conversation before sessionStart and without a sessionId")
            return
        user_id, known = memory.user_of(conversation.memory, skill_session, self.jwt_secret)
        await self.bind(session_of(skill_session), user_id)
        assert self.session_id is not None
        now = time.time()
        turn = Turn(
            session_id=self.session_id,
            user_id=user_id,
            persona_id=self.persona_id,
            channel=self.channel,
            kind="init" if conversation.variables.get("kind") == "init" else "text",
            text=conversation.text,
            variables=conversation.variables,
            known_facts=known,
            reply_to=self.services.instance_id,
            enqueued_at=now,
            deadline_at=now + self.settings.reply_deadline_seconds,
        )
        await self.submit(turn, conversation.memory)

    def render_reply(self, context: Any, reply: Reply) -> list[dict[str, Any]]:
        payload: dict[str, Any] = {"text": reply.text}
        if reply.cards:
            payload["variables"] = public_cards(reply.cards)
        if reply.fallback:
            payload["intent"] = {"name": "NO_MATCH"}
        if written := memory.write_back(context, reply.user_facts):
            payload["memory"] = [m.model_dump(exclude_none=True) for m in written]
        return [{"name": "skillConversation", "payload": payload}]

    def render_fallback(self, context: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": "skillConversation",
                "payload": {"text": self.settings.fallback_text, "intent": {"name": "NO_MATCH"}},
            }
        ]

    def render_spontaneous(self, reply: Reply) -> list[dict[str, Any]]:
        return [{"name": "skillConversation", "payload": {"text": reply.text}}]
