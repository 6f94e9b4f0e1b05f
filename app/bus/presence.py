"""Which sessions are live and idle, and the claims that keep the thinking loop single.

The enqueue script records each session's last turn in `persona:live:<persona>`; the thinking
job reads it to find sessions that have gone quiet. Claims are SET NX with an expiry, so any
number of schedulers and workers agree without a leader.
"""

import redis

from app.bus import keys

FORGET_LIVE_AFTER_SECONDS = 6 * 3600


def claim_thought_slot(client: redis.Redis, persona_id: str, period: int, ttl: int) -> bool:
    return bool(client.set(keys.thought_slot(persona_id, period), 1, nx=True, ex=ttl))


def activity(client: redis.Redis, persona_id: str, now: float, recent_seconds: float) -> tuple[int, int]:
    """(sessions seen in the last few hours, sessions with a turn in the last `recent_seconds`)."""
    key = keys.live_sessions(persona_id)
    client.zremrangebyscore(key, "-inf", now - FORGET_LIVE_AFTER_SECONDS)
    return client.zcard(key), client.zcount(key, now - recent_seconds, "+inf")


def idle_sessions(client: redis.Redis, persona_id: str, now: float, idle_after: float) -> list[str]:
    key = keys.live_sessions(persona_id)
    return [s.decode() for s in client.zrangebyscore(key, now - FORGET_LIVE_AFTER_SECONDS, now - idle_after)]


def claim_nudge(client: redis.Redis, session_id: str, min_gap_seconds: int) -> bool:
    """At most one unprompted line per session per `min_gap_seconds`."""
    return bool(client.set(keys.nudged(session_id), 1, nx=True, ex=min_gap_seconds))


def touch(client: redis.Redis, persona_id: str, session_id: str, now: float) -> None:
    client.zadd(keys.live_sessions(persona_id), {session_id: now})


def forget(client: redis.Redis, persona_id: str, session_id: str) -> None:
    client.zrem(keys.live_sessions(persona_id), session_id)
