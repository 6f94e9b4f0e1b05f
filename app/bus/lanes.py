"""Per-session FIFO over one shared RQ queue: a session's turns run one at a time, in arrival order.

Each session has a lane: a Redis list of its turn ids in arrival order. Only the head is ever
queued on RQ's queue or running; the turns behind it wait as RQ `deferred` jobs (in RQ's deferred
registry, so `rq info` counts them). Who queues a turn is decided by one Lua script on the lane
(this project's key; it reads RQ's job status, never writes RQ's keys): the API process whose
turn became the head of an empty lane, or the worker whose turn ended and left a deferred turn at
the head. That one caller then queues it through RQ's public API (`Queue.enqueue_job`, the
deferred registry). Between the decision and the queuing the turn holds a lease
(app/bus/leases.py): should its caller die in between, any worker's keeper queues it.

A head whose job has finished, failed, stopped or expired no longer blocks the lane: the next
step drops it and looks at the turn behind it.

RQ's pipeline-taking calls only queue commands on the pipeline they are given, so they are given
an asyncio pipeline here: every step runs on the event loop, in one round trip, without a thread.
"""

import time
from collections.abc import Callable
from typing import cast

import redis
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError
from redis.typing import EncodableT
from rq.job import Job, JobStatus
from rq.queue import Queue

from app.bus import keys
from app.bus.leases import LEASE_SECONDS

LANE_TTL_SECONDS = 24 * 3600  # a lane, and a turn deferred in it, outlive any live session
FAILED_JOB_TTL_SECONDS = 7 * 24 * 3600

# Walks the lane from its head: drops heads whose job is gone or done, stops at a head that is
# queued, started or scheduled (someone has it), and leases a deferred head to this caller.
_NEXT_HEAD = """
local function next_head(lane, leases, job_prefix, expiry)
  while true do
    local head = redis.call('LINDEX', lane, 0)
    if not head then return false end
    local status = redis.call('HGET', job_prefix .. head, 'status')
    if status == 'deferred' then
      redis.call('ZADD', leases, expiry, head)
      return {head, redis.call('HGETALL', job_prefix .. head)}
    elseif status == 'queued' or status == 'started' or status == 'scheduled' then
      return false
    end
    redis.call('LPOP', lane)
  end
end
"""

# KEYS: lane, leases   ARGV: turn id, lane ttl, job prefix, lease expiry
# -> {head id, its job hash} when this caller must queue the turn now at the head, else false
ADD_SCRIPT = (
    _NEXT_HEAD
    + """
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return next_head(KEYS[1], KEYS[2], ARGV[3], ARGV[4])
"""
)

# KEYS: lane, leases   ARGV: ended turn id, job prefix, lease expiry
# The ended turn leaves its lane with its lease; -> as ADD_SCRIPT, for the turn now at the head.
FINISH_SCRIPT = (
    _NEXT_HEAD
    + """
redis.call('LREM', KEYS[1], 1, ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return next_head(KEYS[1], KEYS[2], ARGV[2], ARGV[3])
"""
)

Also = Callable[[Pipeline], object]  # more commands for the same transaction


def for_rq(pipe: Pipeline) -> redis.client.Pipeline:
    """`pipe` as RQ's pipeline-taking calls are typed: they name redis-py's synchronous Pipeline,
    yet only queue commands on it (see above), which an asyncio pipeline does just as well."""
    return cast(redis.client.Pipeline, pipe)


class Lanes:
    def __init__(self, queue: Queue, client: aioredis.Redis) -> None:
        """`queue`: the RQ queue turns go on (its synchronous connection builds jobs, never waits);
        `client`: the asyncio client the steps run on."""
        self._queue = queue
        self._client = client
        self._add = client.register_script(ADD_SCRIPT)
        self._finish = client.register_script(FINISH_SCRIPT)

    async def load(self) -> None:
        """Put the scripts in Redis's cache, which the steps name by hash (done at start, and again
        should Redis have lost them)."""
        for script in (self._add, self._finish):
            await self._client.script_load(script.script)

    async def add(self, session_id: str, job: Job, also: Also | None = None) -> bool:
        """Put a deferred job (`Queue.create_job(status=DEFERRED)`) behind the session's earlier
        turns; True if it was queued at once.

        The job is stored, deferred, in the same transaction that puts it on its lane, so whoever
        finds it at the head can queue it."""
        lane = keys.session_lane(session_id)
        args: list[EncodableT] = [job.id, LANE_TTL_SECONDS, Job.redis_job_namespace_prefix, time.time() + LEASE_SECONDS]
        while True:
            async with self._client.pipeline() as pipe:
                job.save(pipeline=for_rq(pipe))
                pipe.expire(job.key, LANE_TTL_SECONDS)  # until a worker starts it (RQ persists it then)
                self._queue.deferred_job_registry.add(job, pipeline=pipe)
                pipe.sadd(self._queue.redis_queues_keys, self._queue.key)  # as RQ's enqueue does: rq info lists it
                if also is not None:
                    also(pipe)
                pipe.evalsha(self._add.sha, 2, lane, keys.turn_leases(), *args)
                try:
                    head = (await pipe.execute())[-1]
                except NoScriptError:  # Redis restarted empty: everything but the lane step applied
                    await self.load()
                    continue
            if head:
                await self.release(job)
            return bool(head)

    async def finish(self, session_id: str, job_id: str) -> str | None:
        """A turn has ended: it leaves its lane (and its lease), and the session's next turn is
        queued; returns that turn's id."""
        lane = keys.session_lane(session_id)
        args: list[EncodableT] = [job_id, Job.redis_job_namespace_prefix, time.time() + LEASE_SECONDS]
        try:
            head = await self._client.evalsha(self._finish.sha, 2, lane, keys.turn_leases(), *args)
        except NoScriptError:
            await self.load()
            head = await self._client.evalsha(self._finish.sha, 2, lane, keys.turn_leases(), *args)
        if not head:
            return None
        raw_id, fields = head
        queue = self._queue
        job = queue.job_class(raw_id.decode(), connection=queue.connection, serializer=queue.serializer)
        job.restore(dict(zip(fields[::2], fields[1::2], strict=True)))
        await self.release(job)
        return job.id

    async def release(self, job: Job) -> None:
        """Queue a deferred turn whose lease this caller holds (a head, or one a dead caller left):
        out of RQ's deferred registry, status `queued`, onto the queue; its lease goes (the worker
        that takes it leases it again)."""
        async with self._client.pipeline() as pipe:
            self._queue.deferred_job_registry.remove(job, pipeline=pipe)
            job.set_status(JobStatus.QUEUED, pipeline=for_rq(pipe))
            self._queue.push_job_id(job.id, pipeline=for_rq(pipe))
            pipe.zrem(keys.turn_leases(), job.id)
            await pipe.execute()
