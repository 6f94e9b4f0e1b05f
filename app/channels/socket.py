"""What every socket door shares: one answer per request, bounded output, reply routing.

Exactly one answer (invariant 1): every submitted turn is pending with a deadline timer. The
worker's reply or the deadline, whichever comes first, pops it and is rendered; the other finds
nothing pending and is dropped with a log line. Everything runs on the event loop, so the pop is
atomic. Outbound frames go through one bounded queue and one writer task, so a client that stops
reading cannot grow memory without limit. A subclass knows its protocol: how to parse a frame,
and how to render a reply, a fallback and unprompted speech.
"""

import asyncio
import contextlib
import json
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect, status

from app.auth.deps import address_block
from app.channels import access
from app.logs import short
from app.services import Services
from app.turns import Delta, Reply, Turn

log = logging.getLogger(__name__)


class SessionHeld(Exception):
    """The session is held by another live socket, and this door cannot tell the two apart."""


@dataclass
class Pending:
    context: Any  # what the protocol needs to answer this request (e.g. the personaId it used)
    timer: asyncio.TimerHandle


class SocketSession(ABC):
    channel: str
    door: str  # its trust domain in app/channels/access.py ("sm", "skills", "clm")

    def __init__(self, websocket: WebSocket, services: Services) -> None:
        self.ws = websocket
        self.services = services
        self.settings = services.settings
        self.session_id: str | None = None
        self.user_id: str = ""
        self.address = address_block(websocket)  # whom the per-address limits count
        self.jwt_secret = services.secrets.jwt_secret  # verifies identity tokens (app/auth/identity.py)
        self._pending: dict[str, Pending] = {}
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self.settings.ws_outbound_queue_size)
        self._closing = False  # the process is shutting down: answer what is pending, take nothing new
        self._all_answered = asyncio.Event()  # set while nothing is pending
        self._all_answered.set()
        self._rate = self.settings.ws_frames_per_second
        self._tokens = 2 * self._rate  # a token bucket: bursts of twice the sustained rate
        self._refilled = time.monotonic()

    def ctx(self, **extra: Any) -> dict[str, Any]:
        return {"session_id": self.session_id, **extra}

    # ---- protocol ------------------------------------------------------------------------

    @abstractmethod
    async def handle(self, message: Any) -> None:
        """One decoded JSON frame from the client."""

    @abstractmethod
    def render_reply(self, context: Any, reply: Reply) -> list[dict[str, Any]]: ...

    @abstractmethod
    def render_fallback(self, context: Any) -> list[dict[str, Any]]: ...

    def render_spontaneous(self, reply: Reply) -> list[dict[str, Any]]:
        """Unprompted speech; protocols that cannot carry it return nothing."""
        return []

    def render_words(self, context: Any, delta: Delta) -> list[dict[str, Any]]:
        """Words of a streamed turn's reply as they come; doors that answer whole send nothing."""
        return []

    def delivered(self, context: Any) -> int | None:
        """How much of a streamed turn's reply went out (None: this door sends whole replies), which
        is what a barge-in reports, so history records what the listener got."""
        return None

    def reject(self, reason: str) -> None:
        """A frame that cannot be used; protocols with an error frame override this to say so."""
        log.debug("frame rejected: %s", reason, extra=self.ctx())

    # ---- inbound -------------------------------------------------------------------------

    async def serve(self) -> None:
        writer = asyncio.create_task(self._write_loop())
        self.services.sockets.add(self)
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if not self._admit():
                    log.warning("frame flood; closing the socket", extra=self.ctx())
                    await self.ws.close(code=status.WS_1008_POLICY_VIOLATION, reason="too many frames")
                    break
                if message.get("text") is not None:
                    await self._handle_text(message["text"])
                else:
                    log.warning("binary frame ignored: the protocol is JSON text", extra=self.ctx())
                    self.reject("binary frames are not supported; send JSON text")
        except WebSocketDisconnect:
            pass
        finally:
            self.services.sockets.discard(self)
            writer.cancel()
            self.interrupt_pending()  # the listener left: streamed turns stop where they are
            self._all_answered.set()
            if self.session_id is not None:
                await self._unbind()

    def _admit(self) -> bool:
        now = time.monotonic()
        self._tokens = min(2 * self._rate, self._tokens + (now - self._refilled) * self._rate)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    async def _handle_text(self, text: str) -> None:
        limit = self.settings.ws_max_frame_bytes
        if len(text) > limit or len(text.encode()) > limit:
            log.warning("frame of %d chars over the %d byte limit ignored", len(text), limit, extra=self.ctx())
            self.reject(f"frame over the {limit} byte limit")
            return
        try:
            message = json.loads(text)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            log.warning("malformed frame ignored: %s", short(exc), extra=self.ctx())
            self.reject("malformed JSON")
            return
        try:
            await self.handle(message)
        except SessionHeld:
            log.warning("session held by another live socket; this one is refused", extra=self.ctx())
            await self.ws.close(code=status.WS_1008_POLICY_VIOLATION, reason="session held by another connection")
        except Exception:  # a frame the door's checks missed: this socket and everyone else go on
            log.exception("frame could not be handled; rejected", extra=self.ctx())
            self.reject("the frame could not be handled")

    async def submit(self, turn: Turn, context: Any, deadline: float | None = None) -> None:
        """Queue the turn; its answer (or fallback) is rendered with `context`."""
        deadline = deadline if deadline is not None else self.settings.reply_deadline_seconds
        timer = asyncio.get_running_loop().call_later(deadline, self._on_deadline, turn.turn_id)
        self._pending[turn.turn_id] = Pending(context, timer)
        self._all_answered.clear()
        if self._closing:
            log.warning("turn arrived while shutting down; fallback sent", extra=self.ctx(turn_id=turn.turn_id))
            self._on_deadline(turn.turn_id)
            return
        limit = self.settings.turns_per_ip_per_minute
        limited = access.door_limited(self.settings, self.door)
        if limited and await self.services.limiter.hit("turns", self.address, limit, 60) is not None:
            log.warning("turn rate of this address exceeded; fallback sent", extra=self.ctx(turn_id=turn.turn_id))
            self._on_deadline(turn.turn_id)
            return
        try:
            await self.services.queue.enqueue(turn)
        except Exception:
            log.exception("turn could not be enqueued; answering with a fallback", extra=self.ctx(turn_id=turn.turn_id))
            self._on_deadline(turn.turn_id)

    # ---- replies -------------------------------------------------------------------------

    def on_reply(self, reply: Reply | Delta) -> None:
        """Called by the reply router for every reply (or words of one) addressed to this session."""
        if isinstance(reply, Delta):
            if (waiting := self._pending.get(reply.turn_id)) is not None:
                self.send(*self.render_words(waiting.context, reply))
            return
        if reply.spontaneous:
            log.info("spontaneous speech sent", extra=self.ctx())
            self.send(*self.render_spontaneous(reply))
            return
        assert reply.turn_id is not None
        pending = self._pop(reply.turn_id)
        if pending is None:
            log.warning("late reply dropped: its request was already answered", extra=self.ctx(turn_id=reply.turn_id))
            return
        pending.timer.cancel()
        self.send(*self.render_reply(pending.context, reply))

    def _on_deadline(self, turn_id: str) -> None:
        pending = self._pop(turn_id)
        if pending is None:
            return
        log.warning("no reply within the deadline; fallback sent", extra=self.ctx(turn_id=turn_id))
        self._interrupt(turn_id, pending)  # a streamed turn still talking stops at what went out
        self.send(*self.render_fallback(pending.context))

    def interrupt_pending(self) -> None:
        """The listener moved on (spoke over the persona, or left): every pending request ends
        without an answer, and streamed turns are stopped in the workers at what went out."""
        for turn_id, pending in list(self._pending.items()):
            pending.timer.cancel()
            self._pop(turn_id)
            self._interrupt(turn_id, pending)

    def _interrupt(self, turn_id: str, pending: Pending) -> None:
        if (delivered := self.delivered(pending.context)) is not None:
            log.info("turn interrupted after %d characters", delivered, extra=self.ctx(turn_id=turn_id))
            self.services.router.interrupt(turn_id, delivered)

    def _pop(self, turn_id: str) -> Pending | None:
        pending = self._pending.pop(turn_id, None)
        if not self._pending:
            self._all_answered.set()
        return pending

    # ---- session binding and outbound ----------------------------------------------------

    async def bind(self, session_id: str, user_id: str) -> None:
        if self.session_id == session_id:
            self.user_id = user_id
            return
        if not access.door_guarded(self.settings, self.door) and await self.services.router.held_elsewhere(
            session_id, self.on_reply
        ):
            # Without a credential every client looks alike: a second socket naming a live
            # session would receive its replies. With one, a newer socket is the platform
            # reconnecting, and replaces the older.
            raise SessionHeld(session_id)
        if self.session_id is not None:
            await self._unbind()
        self.session_id, self.user_id = session_id, user_id
        await self.services.router.bind(session_id, self.on_reply)
        log.info("socket bound to session", extra=self.ctx())

    async def _unbind(self) -> None:
        assert self.session_id is not None
        try:
            await self.services.router.unbind(self.session_id, self.on_reply)
        except Exception:
            log.exception("could not remove the session's route", extra=self.ctx())

    def send(self, *frames: dict[str, Any]) -> None:
        for frame in frames:
            try:
                self._outbox.put_nowait(frame)
            except asyncio.QueueFull:
                log.error("client is not reading; closing its socket", extra=self.ctx())
                asyncio.get_running_loop().create_task(self.ws.close(code=status.WS_1008_POLICY_VIOLATION))
                return

    async def _write_loop(self) -> None:
        while True:
            frame = await self._outbox.get()
            try:
                await self.ws.send_text(json.dumps(frame))
            except Exception:
                log.info("socket closed while sending; frame dropped", extra=self.ctx())
                return
            finally:
                self._outbox.task_done()

    # ---- graceful shutdown ---------------------------------------------------------------

    def stop_taking_turns(self) -> None:
        self._closing = True

    async def answered_everything(self) -> None:
        await self._all_answered.wait()

    async def close_for_restart(self) -> None:
        """Flush what is queued for the client, then close with 1012 so the platform reconnects."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._outbox.join(), 1.0)
        with contextlib.suppress(Exception):  # already closed by the client
            await self.ws.close(code=status.WS_1012_SERVICE_RESTART, reason="server restarting")


async def drain_sockets(sockets: set["SocketSession"], grace_seconds: float) -> None:
    """SIGTERM of an API process: every pending request still gets its one answer, then sockets close.

    Turns already queued finish in the workers; their replies (or, past the deadline, fallbacks)
    reach the client before its socket closes with 1012 (service restart). Requests that arrive
    meanwhile are answered with a fallback at once.
    """
    live = list(sockets)
    if not live:
        return
    log.info("draining %d sockets before shutdown", len(live))
    for session in live:
        session.stop_taking_turns()
    with contextlib.suppress(TimeoutError):  # the deadline timers answer first; this is a backstop
        await asyncio.wait_for(asyncio.gather(*(s.answered_everything() for s in live)), grace_seconds)
    await asyncio.gather(*(s.close_for_restart() for s in live))


async def open_session(websocket: WebSocket, session_class: type[SocketSession], refusal: str | None) -> None:
    """Accept the socket and serve it; a refused one is closed with 1008 (policy violation)."""
    await websocket.accept()
    services: Services = websocket.app.state.services
    settings = services.settings
    refusal = access.origin_refusal(websocket.headers.get("origin"), websocket.headers.get("host"), settings) or refusal
    address = address_block(websocket)
    crowded = services.sockets_by_address[address] >= settings.connections_per_ip
    if not refusal and crowded and access.door_limited(settings, session_class.door):
        refusal = "too many connections from this address"
    if refusal:
        log.warning("%s socket refused: %s", session_class.channel, refusal, extra={"client": address})
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason=refusal)
        return
    services.sockets_by_address[address] += 1
    try:
        await session_class(websocket, services).serve()
    finally:
        services.sockets_by_address[address] -= 1
        if services.sockets_by_address[address] <= 0:
            del services.sockets_by_address[address]
