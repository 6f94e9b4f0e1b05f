"""Hume EVI's custom language model over a socket (`/llm`).

EVI sends the whole chat every time ({"messages": [...], "custom_session_id"}); the last user
message is the new turn, its prosody scores the emotional appraisal. We answer with one
`assistant_input` and an `assistant_end`. The session (and the user) is the custom_session_id,
so a later socket with the same id continues the same memory.
"""

import logging
import time
import uuid
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, Field, ValidationError

from app.auth.identity import ID_PATTERN, resolve_user
from app.channels import access
from app.channels.hume.turns import CHANNEL, clean_text, is_user_message, prosody_of, session_of
from app.channels.socket import SocketSession, open_session, short
from app.channels.speech import spoken
from app.services import Services
from app.turns import Reply, Turn

log = logging.getLogger(__name__)
router = APIRouter()


class HumeFrame(BaseModel):
    messages: list[dict[str, Any]] = Field(max_length=1000)
    custom_session_id: str | None = Field(None, pattern=ID_PATTERN)


@router.websocket("/llm")
async def hume_socket(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    refusal = access.bearer_refusal(websocket.headers.get("authorization"), services.settings.clm_api_key, "hume ws")
    await open_session(websocket, HumeSocket, refusal)


class HumeSocket(SocketSession):
    channel = CHANNEL
    door = "clm"

    def __init__(self, websocket: WebSocket, services: Services) -> None:
        super().__init__(websocket, services)
        self.custom_session_id = f"socket-{uuid.uuid4().hex[:12]}"

    def reject(self, reason: str) -> None:
        self.send({"type": "error", "message": reason})

    async def handle(self, message: Any) -> None:
        try:
            frame = HumeFrame.model_validate(message)
        except ValidationError as exc:
            log.warning("invalid hume frame: %s", short(exc), extra=self.ctx())
            self.reject(f"invalid frame: {short(exc)}")
            return
        if frame.custom_session_id:
            self.custom_session_id = frame.custom_session_id
        token = self.ws.query_params.get("identity_token")
        user_id = resolve_user(
            "clm", frame.custom_session_id, token, self.jwt_secret, f"clm-session:{self.custom_session_id}"
        )
        await self.bind(session_of(self.custom_session_id), user_id)
        assert self.session_id is not None
        users = [m for m in frame.messages if is_user_message(m)]
        last = users[-1] if users else None
        body = last.get("message") if last else None
        text = clean_text(str(body.get("content", ""))) if isinstance(body, dict) else ""
        now = time.time()
        turn = Turn(
            session_id=self.session_id,
            user_id=self.user_id,
            persona_id=self.settings.persona_id,
            channel=self.channel,
            kind="text" if text else "init",
            text=text,
            variables={"prosody": prosody_of(last)} if last else {},
            reply_to=self.services.instance_id,
            enqueued_at=now,
            deadline_at=now + self.settings.reply_deadline_seconds,
        )
        await self.submit(turn, None)

    def _say(self, text: str) -> list[dict[str, Any]]:
        frames: list[dict[str, Any]] = []
        if text := spoken(text):
            frames.append({"type": "assistant_input", "text": text, "custom_session_id": self.custom_session_id})
        return [*frames, {"type": "assistant_end"}]

    def render_reply(self, context: Any, reply: Reply) -> list[dict[str, Any]]:
        return self._say(reply.text)

    def render_fallback(self, context: Any) -> list[dict[str, Any]]:
        return self._say(self.settings.fallback_text)
