"""Fixed-window rate limits and auth-session revocation flags, atomic in Redis."""

import logging

import redis
import redis.asyncio as aioredis

from app.bus import keys
from app.observability import metrics

log = logging.getLogger(__name__)

# KEYS: counter   ARGV: window seconds   -> {count, seconds left in the window}
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('TTL', KEYS[1])}
"""


class RateLimiter:
    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._hit = client.register_script(_HIT)

    async def hit(self, scope: str, subject: str, limit: int, window_seconds: int) -> int | None:
        """Count one request; None if allowed, else the seconds to wait (for Retry-After).

        Without Redis nothing can be counted: the request is let through (and logged) rather
        than every request failing while Redis is away.
        """
        try:
            count, ttl = await self._hit(keys=[keys.rate_limit(scope, subject, window_seconds)], args=[window_seconds])
        except redis.RedisError as exc:
            log.warning("rate limit %s not counted, Redis unavailable: %s", scope, exc)
            return None
        if int(count) <= limit:
            return None
        metrics.RATE_LIMITED.labels(scope).inc()
        return max(1, int(ttl))


async def revoke_session(client: aioredis.Redis, session_id: str, ttl_seconds: int) -> None:
    """Access tokens of this auth session stop working at once (kept as long as they live)."""
    await client.set(keys.revoked_session(session_id), 1, ex=ttl_seconds)


async def is_revoked(client: aioredis.Redis, session_id: str) -> bool:
    return bool(await client.exists(keys.revoked_session(session_id)))
