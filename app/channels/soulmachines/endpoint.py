"""The orchestration socket: scene frames in, one `conversationResponse` per request out.

Exactly one answer (invariant 1): every accepted request is recorded as pending with a timer.
Whichever comes first, the worker's reply or the deadline, pops it and is sent; the other finds
nothing pending and is dropped with a log line. Everything runs on the event loop, so the pop
is atomic. Outbound frames go through one bounded queue and one writer task per socket, so a
client that stops reading cannot grow memory without limit.
"""

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status
from pydantic import ValidationError

from app.channels import access
from app.channels.soulmachines import protocol
from app.services import Services
from app.turns import Reply, Turn

log = logging.getLogger(__name__)
router = APIRouter()


@router.websocket("/ws")
async def orchestration_socket(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    client = websocket.client.host if websocket.client else None
    refusal = access.refusal_reason(websocket.cookies, client, services.settings)
    await websocket.accept()
    if refusal:
        log.warning("orchestration socket refused: %s", refusal, extra={"client": client})
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason=refusal)
        return
    await SceneConnection(websocket, services).serve()


@dataclass
class PendingRequest:
    persona_id: str | int
    input_text: str
    timer: asyncio.TimerHandle


class SceneConnection:
    def __init__(self, websocket: WebSocket, services: Services) -> None:
        self.ws = websocket
        self.services = services
        self.settings = services.settings
        self.session_id: str | None = None
        self.user_id: str = ""
        self.persona_id: str | int = 1
        self._pending: dict[str, PendingRequest] = {}
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self.settings.ws_outbound_queue_size)

    def _ctx(self, **extra: Any) -> dict[str, Any]:
        return {"session_id": self.session_id, **extra}

    async def serve(self) -> None:
        writer = asyncio.create_task(self._write_loop())
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("text") is not None:
                    await self._handle_text(message["text"])
                else:
                    log.warning("binary frame ignored: the protocol is JSON text", extra=self._ctx())
        except WebSocketDisconnect:
            pass
        finally:
            writer.cancel()
            for pending in self._pending.values():
                pending.timer.cancel()
            self._pending.clear()
            if self.session_id is not None:
                await self._unbind()

    # ---- inbound -------------------------------------------------------------------------

    async def _handle_text(self, text: str) -> None:
        limit = self.settings.ws_max_frame_bytes
        if len(text) > limit or len(text.encode()) > limit:
            log.warning("frame of %d chars over the %d byte limit ignored", len(text), limit, extra=self._ctx())
            return
        try:
            envelope = protocol.Envelope.model_validate(json.loads(text))
        except ValueError as exc:  # JSONDecodeError and ValidationError are both ValueErrors
            log.warning("malformed frame ignored: %s", _short(exc), extra=self._ctx())
            return
        if envelope.name == "state":
            await self._on_state(envelope.body)
        elif envelope.name == "conversationRequest":
            await self._on_conversation_request(envelope.body)
        else:
            log.debug("frame %r ignored", envelope.name, extra=self._ctx())

    async def _on_state(self, body: dict[str, Any]) -> None:
        raw_session = body.get("session")
        if raw_session is None:
            return  # persona speech state, call statistics: nothing for us
        try:
            session = protocol.SceneSession.model_validate(raw_session)
        except ValidationError as exc:
            log.warning("state event with an invalid session ignored: %s", _short(exc), extra=self._ctx())
            return
        user_info = protocol.parse_user_info(session.userInfo)
        await self._bind(session.sessionId, protocol.user_id_for(user_info, session.sessionId))
        try:
            await self.services.sessions.record(
                session.sessionId,
                channel=protocol.CHANNEL,
                user_id=self.user_id,
                persona_id=self.settings.persona_id,
                scene_state=session.state,
                meta=session.meta,
                user_info=user_info,
            )
        except Exception:
            log.exception("could not record the session's scene state", extra=self._ctx())

    async def _on_conversation_request(self, body: dict[str, Any]) -> None:
        try:
            request = protocol.ConversationRequest.model_validate(body)
        except ValidationError as exc:
            log.warning("invalid conversationRequest answered with a fallback: %s", _short(exc), extra=self._ctx())
            persona_id = body.get("personaId", 1)
            persona_id = persona_id if isinstance(persona_id, str | int) else 1
            self._send(protocol.fallback_frame(persona_id, "", self.settings.fallback_text))
            return
        if self.session_id is None:
            session_id = f"anon-{uuid.uuid4()}"
            log.warning("conversationRequest before any session state; bound to %s", session_id)
            await self._bind(session_id, protocol.user_id_for({}, session_id))
        assert self.session_id is not None
        now = time.time()
        deadline = self.settings.reply_deadline_seconds
        turn = Turn(
            session_id=self.session_id,
            user_id=self.user_id,
            persona_id=self.settings.persona_id,
            channel=protocol.CHANNEL,
            kind=request.kind,
            text=request.input.text,
            variables=request.variables,
            client_turn_id=request.client_turn_id,
            reply_to=self.services.instance_id,
            enqueued_at=now,
            deadline_at=now + deadline,
        )
        loop = asyncio.get_running_loop()
        timer = loop.call_later(deadline, self._on_deadline, turn.turn_id)
        self._pending[turn.turn_id] = PendingRequest(request.personaId, request.input.text, timer)
        try:
            await self.services.queue.enqueue(turn)
        except Exception:
            log.exception(
                "turn could not be enqueued; answering with a fallback", extra=self._ctx(turn_id=turn.turn_id)
            )
            self._on_deadline(turn.turn_id)

    # ---- replies -------------------------------------------------------------------------

    def on_reply(self, reply: Reply) -> None:
        """Called by the reply router for every reply addressed to this session."""
        if reply.spontaneous:
            log.info("spontaneous speech sent", extra=self._ctx())
            self._send(protocol.reply_frame(self.persona_id, reply))
            return
        assert reply.turn_id is not None
        pending = self._pending.pop(reply.turn_id, None)
        if pending is None:
            log.warning("late reply dropped: its request was already answered", extra=self._ctx(turn_id=reply.turn_id))
            return
        pending.timer.cancel()
        self._send(protocol.reply_frame(pending.persona_id, reply))

    def _on_deadline(self, turn_id: str) -> None:
        pending = self._pending.pop(turn_id, None)
        if pending is None:
            return
        log.warning("no reply within the deadline; fallback sent", extra=self._ctx(turn_id=turn_id))
        self._send(protocol.fallback_frame(pending.persona_id, pending.input_text, self.settings.fallback_text))

    # ---- session binding and outbound ----------------------------------------------------

    async def _bind(self, session_id: str, user_id: str) -> None:
        if self.session_id == session_id:
            self.user_id = user_id
            return
        if self.session_id is not None:
            await self._unbind()
        self.session_id, self.user_id = session_id, user_id
        await self.services.router.bind(session_id, self.on_reply)
        log.info("socket bound to session", extra=self._ctx())

    async def _unbind(self) -> None:
        assert self.session_id is not None
        try:
            await self.services.router.unbind(self.session_id, self.on_reply)
        except Exception:
            log.exception("could not remove the session's route", extra=self._ctx())

    def _send(self, frame: dict[str, Any]) -> None:
        try:
            self._outbox.put_nowait(frame)
        except asyncio.QueueFull:
            log.error("client is not reading; closing its socket", extra=self._ctx())
            asyncio.get_running_loop().create_task(self.ws.close(code=status.WS_1008_POLICY_VIOLATION))

    async def _write_loop(self) -> None:
        while True:
            frame = await self._outbox.get()
            try:
                await self.ws.send_text(json.dumps(frame))
            except Exception:
                log.info("socket closed while sending; frame dropped", extra=self._ctx())
                return


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200]
