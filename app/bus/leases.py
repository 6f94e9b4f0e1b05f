"""Turn leases: a worker that dies mid-turn is noticed in seconds, and its turn runs again.

A worker takes a lease on the turn it runs (a sorted set of turn id -> expiry) and marks it
started in the same call that takes it off the queue (worker/rq_worker.py), renews it every
second while it runs, and the lane-advance script drops it when the turn ends. Any worker's keeper reaps leases that
expired: one Lua call claims each (ZREM) and puts a still-`started` job back on its queue, at
most MAX_RETRIES times; past that the job is failed and its lane moves on. RQ's own detection
of abandoned jobs waits for its job timeout plus its maintenance interval (ten minutes by
default). Re-running is safe: every write of a turn is idempotent by turn id, and a turn past
its deadline is only recorded.
"""

import redis
from redis.client import Pipeline

from app.bus import keys, lanes

LEASE_SECONDS = 5.0
MAX_RETRIES = 2

# KEYS: leases   ARGV: now, job_prefix, queue_prefix, max_retries, failed job ttl -> {requeued ids, given-up ids}
_REAP = (
    lanes.WAKE
    + """
local requeued, given_up = {}, {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 50)) do
  if redis.call('ZREM', KEYS[1], id) == 1 then
    local job_key = ARGV[2] .. id
    if redis.call('HGET', job_key, 'status') == 'started' then
      if redis.call('HINCRBY', job_key, 'persona_retries', 1) <= tonumber(ARGV[4]) then
        redis.call('HSET', job_key, 'status', 'queued', 'lane_queued_at', ARGV[1])
        local origin = redis.call('HGET', job_key, 'origin')
        redis.call('RPUSH', ARGV[3] .. origin, id)
        wake(origin)
        table.insert(requeued, id)
      else
        redis.call('HSET', job_key, 'status', 'failed')
        redis.call('EXPIRE', job_key, tonumber(ARGV[5]))  -- RQ removed its TTL when it started
        table.insert(given_up, id)
      end
    end
  end
end
return {requeued, given_up}
"""
)


def hold(client: redis.Redis | Pipeline, turn_id: str, now: float) -> None:
    """Take or renew a turn's lease (on a pipeline, it rides a round trip made anyway)."""
    client.zadd(keys.turn_leases(), {turn_id: now + LEASE_SECONDS})


class Leases:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._reap = client.register_script(_REAP)

    def hold(self, turn_id: str, now: float) -> None:
        hold(self._client, turn_id, now)

    def reap(self, now: float) -> tuple[list[str], list[str]]:
        """(requeued turn ids, given-up turn ids) among the leases that expired."""
        requeued, given_up = self._reap(
            keys=[keys.turn_leases()],
            args=[now, lanes.JOB_PREFIX, lanes.QUEUE_PREFIX, MAX_RETRIES, lanes.FAILED_JOB_TTL_SECONDS],
        )
        return [t.decode() for t in requeued], [t.decode() for t in given_up]
