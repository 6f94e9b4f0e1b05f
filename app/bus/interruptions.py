"""Barge-in: an API process tells the workers that a turn's listener went away.

The listener closed the stream, spoke over the persona (Hume sends the next user message) or
closed the socket. The door publishes the turn id with how many characters of the reply reached
the listener; every worker process listens on one channel, and the one running the turn cancels
its brain (the model call with it) and records what was delivered. A key set beside it covers a
turn that is still queued: the worker that takes it later finds it and does not ask the brain.
"""

import asyncio
import logging
from collections.abc import Callable

import redis
import redis.asyncio as aioredis
from pydantic import BaseModel, Field

from app.bus import keys
from app.logs import short

log = logging.getLogger(__name__)

INTERRUPTED_TTL_SECONDS = 120  # longer than any turn waits in its queue before it expires


class Interruption(BaseModel):
    turn_id: str
    delivered: int = Field(ge=0)  # characters of the reply that reached the listener


async def interrupt(client: aioredis.Redis, interruption: Interruption) -> None:
    """API side: stop the turn wherever it runs (or before it starts), in one round trip."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.set(keys.interrupted(interruption.turn_id), interruption.delivered, ex=INTERRUPTED_TTL_SECONDS)
        pipe.publish(keys.interruptions(), interruption.model_dump_json())
        await pipe.execute()


async def interrupted_before(client: aioredis.Redis, turn_id: str) -> Interruption | None:
    """Worker side, as a turn starts: was it interrupted while it waited in the queue?"""
    delivered = await client.get(keys.interrupted(turn_id))
    return None if delivered is None else Interruption(turn_id=turn_id, delivered=int(delivered))


async def listen(client: aioredis.Redis, on_interruption: Callable[[Interruption], None]) -> None:
    """Worker side, for the process's life: hand every interruption to `on_interruption`."""
    backoff = 0.1
    while True:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(keys.interruptions())
            backoff = 0.1
            async for message in pubsub.listen():
                if message["type"] == "message":
                    try:
                        on_interruption(Interruption.model_validate_json(message["data"]))
                    except ValueError:
                        log.error("undecodable interruption dropped")
        except asyncio.CancelledError:
            await pubsub.aclose()
            raise
        except (redis.RedisError, OSError) as exc:
            log.warning("interruption subscription lost (%s); resubscribing in %.1f s", short(exc), backoff)
            await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
