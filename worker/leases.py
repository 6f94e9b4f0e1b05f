"""Recovering the turns of a process that died holding their lease.

Called with a turn whose lease expired and that this worker claimed (app/bus/leases.py), all
through RQ's public API. A turn that was running: the dead worker's execution records are deleted
and the job goes back on its queue (`Queue.enqueue_job`), at most MAX_RETRIES times; after that it
is failed (RQ's failed registry) and its session's next turn is queued. A turn still deferred at
the head of its lane (its queuer died between deciding and queuing): it is queued. Running a turn
again is safe: every write of a turn is idempotent by turn id, and a turn past its deadline is
only recorded.
"""

import asyncio
import logging
from typing import Literal

import redis.asyncio as aioredis
from rq.exceptions import NoSuchJobError
from rq.executions import ExecutionRegistry
from rq.job import Job, JobStatus
from rq.queue import Queue

from app.bus.lanes import FAILED_JOB_TTL_SECONDS, Lanes, for_rq
from app.bus.leases import MAX_RETRIES
from app.turns import Turn

log = logging.getLogger(__name__)
RETRIES_META = "lease_retries"

Recovery = Literal["requeued", "given up", "released", "ended"]


async def recover(queue: Queue, client: aioredis.Redis, lanes: Lanes, turn_id: str) -> Recovery:
    """Run again (or give up on) a turn whose worker stopped renewing its lease."""
    try:
        job = await asyncio.to_thread(Job.fetch, turn_id, queue.connection, queue.serializer)
    except NoSuchJobError:
        return "ended"
    status = job.get_status(refresh=False)
    if status == JobStatus.DEFERRED:
        await lanes.release(job)
        log.warning("a turn left unqueued at the head of its lane was queued", extra={"turn_id": turn_id})
        return "released"
    if status != JobStatus.STARTED:
        return "ended"  # it finished, was given up, or is on its queue
    executions = await asyncio.to_thread(ExecutionRegistry(job.id, connection=queue.connection).get_executions)
    retries = int(job.meta.get(RETRIES_META, 0))
    turn = Turn.model_validate_json(job.args[0])
    ctx = {"session_id": turn.session_id, "turn_id": turn_id}
    async with client.pipeline() as pipe:
        pipe.multi()  # RQ's enqueue_job asks for a transaction it has not begun itself
        for execution in executions:
            execution.delete(job, pipeline=for_rq(pipe))
        if retries < MAX_RETRIES:
            job.meta[RETRIES_META] = retries + 1
            queue.enqueue_job(job, pipeline=for_rq(pipe))
        else:
            job.set_status(JobStatus.FAILED, pipeline=for_rq(pipe))
            queue.failed_job_registry.add(
                job,
                ttl=FAILED_JOB_TTL_SECONDS,
                exc_string="its worker died on every run",
                pipeline=pipe,
            )
        await pipe.execute()
    if retries < MAX_RETRIES:
        log.warning("a worker died mid-turn; turn queued again", extra=ctx)
        return "requeued"
    log.error("turn failed on every run; giving up so its session goes on", extra=ctx)
    await lanes.finish(turn.session_id, turn_id)
    return "given up"
