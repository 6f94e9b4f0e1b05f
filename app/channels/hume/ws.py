"""Hume EVI's custom language model over a socket (`/llm`).

EVI sends the whole chat every time ({"messages": [...], "custom_session_id"}); the last user
message is the new turn, its prosody scores the emotional appraisal, and the messages before it
are the conversation as EVI heard it (after an interruption, its copy of the assistant's turn
holds only what was spoken). We answer with an `assistant_input` per phrase as the worker
produces the reply (a sentence or clause: something the voice can say), then `assistant_end`.
A new user message while a reply is still coming is a barge-in: that turn is interrupted (the
model call cancelled, history keeping what was sent) and the new one runs. The session (and the
user) is the custom_session_id, so a later socket with the same id continues the same memory.
"""

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, Field, ValidationError

from app.auth.identity import ID_PATTERN, resolve_user
from app.channels import access
from app.channels.hume.turns import CHANNEL, clean_text, is_user_message, prosody_of, session_of, transcript_of
from app.channels.socket import SocketSession, open_session, short
from app.channels.speech import spoken, spoken_piece
from app.channels.streaming import Phrases, StreamedText
from app.services import Services
from app.turns import Delta, Reply, Turn

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


@dataclass
class Speaking:
    """One turn's reply on its way to EVI: what went out, and the phrase being gathered."""

    words: StreamedText = field(default_factory=StreamedText)
    phrases: Phrases = field(default_factory=Phrases)


def _lines(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(role, text) of EVI's chat messages, annotations taken out."""
    lines = []
    for message in messages:
        body = message.get("message") if isinstance(message, dict) else None
        if isinstance(body, dict) and isinstance(body.get("content"), str):
            lines.append((str(body.get("role", "")), clean_text(body["content"])))
    return lines


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
        at = max((i for i, m in enumerate(frame.messages) if is_user_message(m)), default=None)
        last = frame.messages[at] if at is not None else None
        body = last.get("message") if last else None
        text = clean_text(str(body.get("content", ""))) if isinstance(body, dict) else ""
        earlier = frame.messages[:at] if at is not None else frame.messages
        self.interrupt_pending()  # the user spoke again: whatever is still coming is cut off
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
            stream=True,
            transcript=transcript_of(_lines(earlier)),
        )
        await self.submit(turn, Speaking())

    def _inputs(self, phrases: list[str]) -> list[dict[str, Any]]:
        return [
            {"type": "assistant_input", "text": phrase, "custom_session_id": self.custom_session_id}
            for phrase in phrases
            if phrase
        ]

    def render_words(self, context: Any, delta: Delta) -> list[dict[str, Any]]:
        speaking: Speaking = context
        return self._inputs(speaking.phrases.add(spoken_piece(speaking.words.take(delta))))

    def render_reply(self, context: Any, reply: Reply) -> list[dict[str, Any]]:
        speaking: Speaking = context
        phrases = speaking.phrases.add(spoken_piece(speaking.words.rest(reply.text)))
        return [*self._inputs([*phrases, spoken(speaking.phrases.flush())]), {"type": "assistant_end"}]

    def render_fallback(self, context: Any) -> list[dict[str, Any]]:
        speaking: Speaking = context
        said = speaking.phrases.flush() if speaking.words.delivered else spoken(self.settings.fallback_text)
        return [*self._inputs([said]), {"type": "assistant_end"}]

    def delivered(self, context: Any) -> int | None:
        speaking: Speaking = context
        return max(0, len(speaking.words.delivered) - speaking.phrases.held)  # an unfinished phrase was not said
