"""Turn leases: a worker that dies mid-turn is noticed in seconds, and its turn runs again.

A worker takes a lease on each turn it takes off the queue (a sorted set of turn id -> expiry, in
the same round trip that fetches the job) and renews the leases of all its turns in flight once a
second. A turn's lane step drops its lease. The same set holds, for the moment between the two, the
lease of whoever was told to queue a deferred turn (app/bus/lanes.py). Any worker claims leases
that expired (one Lua call on this project's key only: it never touches RQ's job hashes) and
recovers those turns through RQ's API (worker/leases.py). RQ's own detection of abandoned jobs
waits for an execution's heartbeat TTL (at least 60 s) plus its maintenance interval; a user
waiting on a turn cannot.
"""

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from app.bus import keys

LEASE_SECONDS = 5.0
RENEW_EVERY_SECONDS = 1.0
MAX_RETRIES = 2  # runs after the first one; then the turn is failed and its lane moves on

# KEYS: leases   ARGV: now -> the turn ids whose lease expired, each claimed by this caller alone
_CLAIM_EXPIRED = """
local claimed = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 50)) do
  if redis.call('ZREM', KEYS[1], id) == 1 then table.insert(claimed, id) end
end
return claimed
"""


class Leases:
    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._claim = client.register_script(_CLAIM_EXPIRED)

    @staticmethod
    def hold(pipe: Pipeline, turn_ids: list[str], now: float) -> None:
        """Take or renew leases on a pipeline that goes anyway."""
        pipe.zadd(keys.turn_leases(), dict.fromkeys(turn_ids, now + LEASE_SECONDS))

    async def renew(self, turn_ids: list[str], now: float) -> None:
        if turn_ids:
            await self._client.zadd(keys.turn_leases(), dict.fromkeys(turn_ids, now + LEASE_SECONDS), xx=True)

    async def claim_expired(self, now: float) -> list[str]:
        return [raw.decode() for raw in await self._claim(keys=[keys.turn_leases()], args=[now])]
