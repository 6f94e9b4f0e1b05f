"""Per-session FIFO over one shared RQ queue, at one Redis round trip per turn.

Each session has a lane: a list of its job ids in arrival order. Only the head is ever on the
RQ queue or running; the others wait as `deferred` jobs. When the head's job ends, the worker
removes it from the lane and the next one is queued. Both steps are one Lua script each, so any
number of API processes and workers agree on the order.

Measured alternative: RQ 3's RateLimit(key, concurrency=1) gives the same order but costs three
or four round trips per enqueue (~0.45 ms more than a plain enqueue, ~1 ms more per turn on
this machine), which alone would break the latency target. See docs/architecture.md.

A head whose job is finished, failed, stopped or gone (a worker died and RQ gave up on it) no
longer blocks the lane: `settle` drops it the next time the lane moves. A head still `queued`
LOST_AFTER_SECONDS after it was queued, yet on no queue, was taken by a worker that never
started it (a stock RQ worker that died, or lost Redis, between its dequeue and its start
pipeline, where it holds no lease; PersonaWorker leases a turn in the call that takes it):
`settle` puts it back on its queue. A worker in that window for that long is not
alive; were one only slow, the turn would run twice, which its idempotent writes allow.
"""

from rq.job import Job
from rq.queue import Queue

from app.bus import keys

LOST_AFTER_SECONDS = 10
WAKE_TOKEN_TTL_SECONDS = 60  # a token left for a worker that died while it waited

# A job pushed onto a turn queue wakes one waiting worker: the one that went idle last, whose
# caches (interpreter, Mongo client, persona state) are the warmest. Redis itself would wake the
# worker blocked longest, so each waiting worker blocks on a wake list of its own instead, and the
# queue's idle list stacks them (worker/rq_worker.py). A token that reaches a worker that has
# just died leaves its job on the queue for the next worker to look (within IDLE_WAIT_SECONDS).
WAKE = (
    """
local function wake_next(idle_list)
  local waiting = redis.call('LPOP', idle_list)
  if waiting then
    redis.call('RPUSH', waiting, 1)
    redis.call('EXPIRE', waiting, """
    + str(WAKE_TOKEN_TTL_SECONDS)
    + """)
  end
end
local function wake(origin) wake_next('"""
    + keys.idle_workers("")
    + """' .. origin) end
"""
)

# KEYS: the idle list, the leaving worker's wake list
# A worker that stops leaves the idle list; a token it was given (a turn meant for it) goes on to
# the next waiting worker, so that turn does not wait for the others' next look.
LEAVE_SCRIPT = (
    WAKE
    + """
redis.call('LREM', KEYS[1], 0, KEYS[2])
if redis.call('DEL', KEYS[2]) == 1 then wake_next(KEYS[1]) end
"""
)

# Shared by both scripts: pop heads that are no longer pending, queue the first deferred one,
# and put back a queued head that a worker took off its queue but never started.
_SETTLE = (
    WAKE
    + """
local function settle(lane, job_prefix, queue_prefix, queues_key, enqueued_at, now)
  while true do
    local head = redis.call('LINDEX', lane, 0)
    if not head then return false end
    local job_key = job_prefix .. head
    local status = redis.call('HGET', job_key, 'status')
    if status == 'deferred' then
      local origin = redis.call('HGET', job_key, 'origin')
      local queue_key = queue_prefix .. origin
      redis.call('HSET', job_key, 'status', 'queued', 'enqueued_at', enqueued_at, 'lane_queued_at', now)
      redis.call('SADD', queues_key, queue_key)
      redis.call('RPUSH', queue_key, head)
      wake(origin)
      return head
    elseif status == 'queued' then
      local since = tonumber(redis.call('HGET', job_key, 'lane_queued_at') or '0')
      if tonumber(now) - since > """
    + str(LOST_AFTER_SECONDS)
    + """ then
        local origin = redis.call('HGET', job_key, 'origin')
        local queue_key = queue_prefix .. origin
        if not redis.call('LPOS', queue_key, head) then
          redis.call('SADD', queues_key, queue_key)
          redis.call('RPUSH', queue_key, head)
          wake(origin)
        end
        redis.call('HSET', job_key, 'lane_queued_at', now)
      end
      return head
    elseif status == 'started' then
      return head
    end
    redis.call('LPOP', lane)
  end
end
"""
)

# KEYS: job_key, lane_key, live_key, record_key
# ARGV: job_id, lane_ttl, job_prefix, queue_prefix, queues_key, enqueued_at, now (epoch seconds),
#       session_id, record owner ('' for none), record ttl, then the job hash as field/value pairs
ENQUEUE_SCRIPT = (
    _SETTLE
    + """
redis.call('ZADD', KEYS[3], ARGV[7], ARGV[8])
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[4], 'owner', ARGV[9], 'status', 'queued', 'progress', 0, 'created_at', ARGV[7])
  redis.call('EXPIRE', KEYS[4], tonumber(ARGV[10]))
end
redis.call('HSET', KEYS[1], unpack(ARGV, 11))
redis.call('HSET', KEYS[1], 'status', 'deferred')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))  -- until a worker starts it (RQ persists it then)
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]))
return settle(KEYS[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]) == ARGV[1] and 1 or 0
"""
)

# KEYS: lane_key, leases_key, reply channel ('' for none), the stepping worker's idle list and
#       wake list ('' for none: see IdleSpot in bus/queue.py)
# ARGV: finished job_id, job_prefix, queue_prefix, queues_key, enqueued_at, reply payload, now (epoch seconds)
ADVANCE_SCRIPT = (
    _SETTLE
    + """
if KEYS[3] ~= '' then redis.call('PUBLISH', KEYS[3], ARGV[6]) end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('LREM', KEYS[1], 1, ARGV[1])
if KEYS[4] ~= '' then
  redis.call('LREM', KEYS[4], 0, KEYS[5])
  redis.call('LPUSH', KEYS[4], KEYS[5])
end
local next_head = settle(KEYS[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[7])
return next_head or ''
"""
)

LANE_TTL_SECONDS = 24 * 3600  # a lane, and a turn deferred in it, outlive any live session
FAILED_JOB_TTL_SECONDS = 7 * 24 * 3600

JOB_PREFIX = Job.redis_job_namespace_prefix
QUEUE_PREFIX = Queue.redis_queue_namespace_prefix
QUEUES_KEY = Queue.redis_queues_keys
