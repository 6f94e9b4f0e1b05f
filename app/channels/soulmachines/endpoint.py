"""The orchestration socket (`/ws`): scene frames in, one `conversationResponse` per request out.

A client that asks for it in userInfo (`"stream": true`; the console does, the platform never
does) also gets the reply's words as they come, in `conversationWords` events before the
request's one `conversationResponse` (docs/protocols.md, "What this backend adds").
"""

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError

from app.channels import access
from app.channels.socket import SocketSession, open_session, short
from app.channels.soulmachines import protocol
from app.channels.streaming import StreamedText
from app.services import Services
from app.turns import Delta, Reply, Turn

log = logging.getLogger(__name__)
router = APIRouter()


@router.websocket("/ws")
async def orchestration_socket(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    client = websocket.client.host if websocket.client else None
    await open_session(websocket, SceneConnection, access.refusal_reason(websocket.cookies, client, services.settings))


@dataclass
class Asked:
    """A conversationRequest awaiting its answer: what the response echoes, and for a client
    that streams, the words sent so far."""

    persona_id: str | int
    input_text: str
    words: StreamedText | None = field(default=None)


class SceneConnection(SocketSession):
    channel = protocol.CHANNEL
    door = "sm"
    persona_id: str | None = None  # chosen in userInfo; None: the server's default persona
    brain: str | None = None  # chosen in userInfo; None: the worker's default brain
    stream: bool = False  # userInfo asked for the words as they come (conversationWords events)
    scene_persona_id: str | int = 1  # as the scene's latest request sent it, echoed in unprompted speech
    _unrecorded: dict[str, Any] | None = None  # the latest scene state, not written yet
    _recorder: "asyncio.Task[None] | None" = None  # writes it, off the socket's path

    async def handle(self, message: Any) -> None:
        try:
            envelope = protocol.Envelope.model_validate(message)
        except ValidationError as exc:
            log.warning("malformed frame ignored: %s", short(exc), extra=self.ctx())
            return
        if envelope.name == "state":
            await self._on_state(envelope.body)
        elif envelope.name == "conversationRequest":
            await self._on_conversation_request(envelope.body)
        else:
            log.debug("frame %r ignored", envelope.name, extra=self.ctx())

    async def _on_state(self, body: dict[str, Any]) -> None:
        raw_session = body.get("session")
        if raw_session is None:
            return  # persona speech state, call statistics: nothing for us
        try:
            session = protocol.SceneSession.model_validate(raw_session)
        except ValidationError as exc:
            log.warning("state event with an invalid session ignored: %s", short(exc), extra=self.ctx())
            return
        user_info = protocol.parse_user_info(session.userInfo)
        await self.bind(session.sessionId, protocol.user_id_for(user_info, session.sessionId, self.jwt_secret))
        self._choose(user_info)
        self._unrecorded = {
            "session_id": session.sessionId,
            "channel": self.channel,
            "user_id": self.user_id,
            "persona_id": self.persona_id or self.settings.persona_id,
            "scene_state": session.state,
            "meta": session.meta,
            "user_info": user_info,
        }
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record())

    async def _record(self) -> None:
        """Scene state is written off the socket's path, so a slow MongoDB does not hold up its
        turns; states arriving meanwhile collapse into the latest, so nothing piles up."""
        while self._unrecorded is not None:
            fields, self._unrecorded = self._unrecorded, None
            try:
                await self.services.sessions.record(**fields)
            except Exception:
                log.exception("could not record the session's scene state", extra=self.ctx())

    def _choose(self, user_info: dict[str, Any]) -> None:
        """A persona and a brain named in userInfo (the console names them), if this server has them."""
        self.persona_id = self._known("persona", user_info.get("persona"), self.services.catalog.ids)
        self.brain = self._known("brain", user_info.get("brain"), self.services.brains.names)
        self.stream = user_info.get("stream") is True

    def _known(self, what: str, value: Any, known: list[str]) -> str | None:
        if value is None or value in known:
            return value
        log.warning("userInfo names unknown %s %r; the default answers", what, str(value)[:64], extra=self.ctx())
        return None

    async def _on_conversation_request(self, body: dict[str, Any]) -> None:
        try:
            request = protocol.ConversationRequest.model_validate(body)
        except ValidationError as exc:
            log.warning("invalid conversationRequest answered with a fallback: %s", short(exc), extra=self.ctx())
            persona_id = body.get("personaId", 1)
            self.send(*self.render_fallback(Asked(persona_id if isinstance(persona_id, str | int) else 1, "")))
            return
        if self.session_id is None:
            session_id = f"anon-{uuid.uuid4()}"
            log.warning("conversationRequest before any session state; bound to %s", session_id)
            await self.bind(session_id, protocol.user_id_for({}, session_id, self.jwt_secret))
        assert self.session_id is not None
        now = time.time()
        turn = Turn(
            session_id=self.session_id,
            user_id=self.user_id,
            persona_id=self.persona_id or self.settings.persona_id,
            channel=self.channel,
            brain=self.brain,
            kind=request.kind,
            text=request.input.text,
            variables=request.variables,
            client_turn_id=request.client_turn_id,
            reply_to=self.services.instance_id,
            enqueued_at=now,
            deadline_at=now + self.settings.reply_deadline_seconds,
            stream=self.stream,
        )
        self.scene_persona_id = request.personaId
        await self.submit(turn, Asked(request.personaId, request.input.text, StreamedText() if self.stream else None))

    def render_words(self, context: Any, delta: Delta) -> list[dict[str, Any]]:
        asked: Asked = context
        words = asked.words.take(delta) if asked.words is not None else ""
        return [protocol.words_frame(asked.persona_id, asked.input_text, words)] if words else []

    def render_reply(self, context: Any, reply: Reply) -> list[dict[str, Any]]:
        asked: Asked = context
        return [protocol.reply_frame(asked.persona_id, reply)]  # whole, whatever words went before

    def render_fallback(self, context: Any) -> list[dict[str, Any]]:
        asked: Asked = context
        return [protocol.fallback_frame(asked.persona_id, asked.input_text, self.settings.fallback_text)]

    def delivered(self, context: Any) -> int | None:
        asked: Asked = context
        return len(asked.words.delivered) if asked.words is not None else None

    def render_spontaneous(self, reply: Reply) -> list[dict[str, Any]]:
        return [protocol.reply_frame(self.scene_persona_id, reply)]
