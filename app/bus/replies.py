"""Replies from workers to the API process that holds the session's socket.

Each API process has one pub/sub subscription (invariant 4) on its own channel; workers publish
a turn's reply to the channel named in `Turn.reply_to`: first its words as they come (`Delta`,
for a turn that streams), then the whole `Reply`, in order on that one channel. Replies nobody
asked for (spontaneous speech) are addressed through the session's route key, set while a
socket is bound.
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Annotated

import redis
import redis.asyncio as aioredis
from pydantic import Field, TypeAdapter

from app.background import cancel_and_wait
from app.bus import keys
from app.bus.connections import decoded
from app.bus.interruptions import Interruption, interrupt
from app.logs import short
from app.observability import metrics, tracing
from app.turns import Delta, Reply

log = logging.getLogger(__name__)

ROUTE_TTL_SECONDS = 24 * 3600
Message = Reply | Delta
ReplyHandler = Callable[[Message], None]
DeltaHandler = Callable[[Delta], None]
RawHandler = Callable[[bytes], None]
_MESSAGE: TypeAdapter[Message] = TypeAdapter(Annotated[Message, Field(discriminator="kind")])

# Delete the route only if it still names us: a newer socket elsewhere may own the session now.
_UNROUTE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def encode(message: Message) -> str:
    return message.model_dump_json()


async def publish_reply(client: aioredis.Redis, instance_id: str, message: Message) -> int:
    """Worker side: send a turn's reply (or words of it) to the API process that enqueued the turn."""
    return await client.publish(keys.reply_channel(instance_id), encode(message))


async def speak(client: aioredis.Redis, reply: Reply) -> bool:
    """Send unprompted speech to wherever the session's socket is; False if it has none."""
    instance_id = await client.get(keys.session_route(reply.session_id))
    if instance_id is None:
        return False
    return await publish_reply(client, decoded(instance_id), reply) > 0


class ReplyRouter:
    """The API process's single subscriber: hands each reply to the connection that wants it.

    Besides its own reply channel it can watch other channels (a REST job's events) on the same
    connection, for as long as someone listens; watched channels survive a reconnect.
    """

    def __init__(self, client: aioredis.Redis, instance_id: str) -> None:
        self.instance_id = instance_id
        self.channel = keys.reply_channel(instance_id)
        self._client = client
        self._handlers: dict[str, ReplyHandler] = {}
        self._waiters: dict[str, asyncio.Future[Reply]] = {}
        self._delta_handlers: dict[str, DeltaHandler] = {}
        self._interrupting: set[asyncio.Task[None]] = set()
        self._watchers: dict[str, set[RawHandler]] = {}
        self._pubsub: aioredis.client.PubSub | None = None
        self._unroute = client.register_script(_UNROUTE_SCRIPT)
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reply-router")
        await asyncio.wait_for(self._subscribed.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task:
            await cancel_and_wait(self._task)

    async def held_elsewhere(self, session_id: str, handler: ReplyHandler) -> bool:
        """Is the session held by another live socket, here or in another API process?

        Here: another handler is bound. Elsewhere: the route names another process that still
        listens on its reply channel (a crashed process's route does not hold anything). Redis
        away: only what this process knows counts, as for the route itself.
        """
        current = self._handlers.get(session_id)
        if current is not None and current != handler:
            return True
        try:
            owner = await self._client.get(keys.session_route(session_id))
            if owner is None or decoded(owner) == self.instance_id:
                return False
            listeners = await self._client.pubsub_numsub(keys.reply_channel(decoded(owner)))
        except redis.RedisError as exc:
            log.warning("session holder not checked (%s)", exc, extra={"session_id": session_id})
            return False
        return any(count > 0 for _, count in listeners)

    async def bind(self, session_id: str, handler: ReplyHandler) -> None:
        """Deliver the session's replies to `handler` (a newer binding replaces an older one;
        doors that must not be taken over ask `held_elsewhere` first).

        Answers need only the in-process handler; the route in Redis serves unprompted speech,
        so failing to write it is logged, never fatal to the socket.
        """
        self._handlers[session_id] = handler
        try:
            await self._client.set(keys.session_route(session_id), self.instance_id, ex=ROUTE_TTL_SECONDS)
        except redis.RedisError as exc:
            log.warning(
                "session route not stored (%s); unprompted speech cannot reach it",
                exc,
                extra={"session_id": session_id},
            )

    async def unbind(self, session_id: str, handler: ReplyHandler) -> None:
        """Stop delivering the session's replies to `handler`, if it still holds the session.

        Compared with `==`, not `is`: a bound method (`socket.on_reply`) is a new object on every
        attribute access, equal to but never identical with the one that was bound.
        """
        if self._handlers.get(session_id) == handler:
            del self._handlers[session_id]
            try:
                await self._unroute(keys=[keys.session_route(session_id)], args=[self.instance_id])
            except redis.RedisError as exc:
                log.warning("session route not removed (%s); it expires by itself", exc)

    def bound_sessions(self) -> int:
        """How many sessions have a socket here (for diagnostics and the leak test)."""
        return len(self._handlers)

    def expect(self, turn_id: str, on_delta: DeltaHandler | None = None) -> "asyncio.Future[Reply]":
        """A future for one turn's reply, for doors that answer over HTTP (`on_delta` takes its
        words as they come); `forget` when done."""
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiters[turn_id] = future
        if on_delta is not None:
            self._delta_handlers[turn_id] = on_delta
        return future

    def forget(self, turn_id: str) -> None:
        self._waiters.pop(turn_id, None)
        self._delta_handlers.pop(turn_id, None)

    def interrupt(self, turn_id: str, delivered: int) -> None:
        """The listener left turn `turn_id` after `delivered` characters: stop it in the workers.

        Sent from a task of its own, so a door whose request is being cancelled (a closed HTTP
        stream) can still say so."""
        task = asyncio.get_running_loop().create_task(
            self._interrupt(Interruption(turn_id=turn_id, delivered=delivered))
        )
        self._interrupting.add(task)
        task.add_done_callback(self._interrupting.discard)

    async def _interrupt(self, interruption: Interruption) -> None:
        try:
            await interrupt(self._client, interruption)
        except redis.RedisError as exc:
            log.warning("interruption not sent (%s); the turn runs to its end", short(exc),
                        extra={"turn_id": interruption.turn_id})  # fmt: skip

    async def watch(self, channel: str, handler: RawHandler) -> None:
        first = channel not in self._watchers
        self._watchers.setdefault(channel, set()).add(handler)
        if first and self._pubsub is not None:
            await self._pubsub.subscribe(channel)

    async def unwatch(self, channel: str, handler: RawHandler) -> None:
        handlers = self._watchers.get(channel)
        if handlers is None:
            return
        handlers.discard(handler)
        if not handlers:
            del self._watchers[channel]
            if self._pubsub is not None:
                await self._pubsub.unsubscribe(channel)

    def dispatch(self, raw: bytes | str) -> None:
        try:
            reply = _MESSAGE.validate_json(raw)
        except ValueError:
            log.error("undecodable reply on %s dropped", self.channel)
            return
        if isinstance(reply, Delta) and (on_delta := self._delta_handlers.get(reply.turn_id)) is not None:
            on_delta(reply)
            return
        if (
            isinstance(reply, Reply)
            and reply.turn_id
            and (waiter := self._waiters.pop(reply.turn_id, None)) is not None
        ):
            self._delta_handlers.pop(reply.turn_id, None)
            if not waiter.done():
                waiter.set_result(reply)
            return
        handler = self._handlers.get(reply.session_id)
        if handler is None and isinstance(reply, Delta):
            return  # words of a turn whose listener left: its final reply is logged if it comes
        if handler is None:
            log.info(
                "reply for a session with no socket here dropped",
                extra={"session_id": reply.session_id, "turn_id": reply.turn_id},
            )
            return
        try:
            with tracing.continued("send", reply.trace if isinstance(reply, Reply) else {}):
                handler(reply)
        except Exception:  # one door's bug must not end the subscription every socket shares
            log.exception("reply handler failed", extra={"session_id": reply.session_id, "turn_id": reply.turn_id})

    def _notify(self, channel: str, data: bytes) -> None:
        for handler in list(self._watchers.get(channel, ())):
            try:
                handler(data)
            except Exception:  # as in dispatch: the shared subscription outlives any one watcher
                log.exception("watcher of %s failed", channel)

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel, *self._watchers)
                self._pubsub = pubsub
                self._subscribed.set()
                backoff = 0.1
                async for message in pubsub.listen():
                    if message["type"] != "message":
                        continue
                    channel = message["channel"].decode()
                    if channel == self.channel:
                        self.dispatch(message["data"])
                    else:
                        self._notify(channel, message["data"])
            except asyncio.CancelledError:
                self._pubsub = None
                await pubsub.aclose()
                raise
            except Exception as exc:  # Redis away: one line per attempt; anything else with its traceback
                metrics.PUBSUB_RECONNECTS.inc()
                log.error(
                    "reply subscription lost; resubscribing in %.1fs: %s",
                    backoff,
                    short(exc),
                    exc_info=not isinstance(exc, redis.RedisError),
                )
                self._pubsub = None
                await pubsub.aclose()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
