"""Which sessions are live and idle, and the claims that keep the thinking loop single.

Queuing a turn records its session's last turn in `persona:live:<persona>`; the thinking
job reads it to find sessions that have gone quiet. Claims are SET NX with an expiry, so any
number of schedulers and workers agree without a leader.
"""

import redis
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from app.bus import keys

FORGET_LIVE_AFTER_SECONDS = 6 * 3600


def claim_thought_slot(client: redis.Redis, persona_id: str, period: int, ttl: int) -> bool:
    return bool(client.set(keys.thought_slot(persona_id, period), 1, nx=True, ex=ttl))


async def activity(client: aioredis.Redis, persona_id: str, now: float, recent_seconds: float) -> tuple[int, int]:
    """(sessions seen in the last few hours, sessions with a turn in the last `recent_seconds`)."""
    key = keys.live_sessions(persona_id)
    async with client.pipeline(transaction=False) as pipe:
        pipe.zremrangebyscore(key, "-inf", now - FORGET_LIVE_AFTER_SECONDS)
        pipe.zcard(key)
        pipe.zcount(key, now - recent_seconds, "+inf")
        _, live, recent = await pipe.execute()
    return live, recent


async def idle_sessions(client: aioredis.Redis, persona_id: str, now: float, idle_after: float) -> list[str]:
    key = keys.live_sessions(persona_id)
    found = await client.zrangebyscore(key, now - FORGET_LIVE_AFTER_SECONDS, now - idle_after)
    return [s.decode() for s in found]  # type: ignore[union-attr]  # redis-py types members as maybe (member, score)


async def claim_nudge(client: aioredis.Redis, session_id: str, min_gap_seconds: int) -> bool:
    """At most one unprompted line per session per `min_gap_seconds`."""
    return bool(await client.set(keys.nudged(session_id), 1, nx=True, ex=min_gap_seconds))


def record_turn(pipe: Pipeline, persona_id: str, session_id: str, now: float) -> None:
    """The session spoke at `now` (in the transaction that queues its turn)."""
    pipe.zadd(keys.live_sessions(persona_id), {session_id: now})


async def touch(client: aioredis.Redis, persona_id: str, session_id: str, now: float) -> None:
    """The session was spoken to at `now`: it counts as active again."""
    await client.zadd(keys.live_sessions(persona_id), {session_id: now})


async def forget(client: aioredis.Redis, persona_id: str, session_id: str) -> None:
    await client.zrem(keys.live_sessions(persona_id), session_id)
