"""Enqueue turns as RQ jobs, in per-session order, from the API's event loop.

A turn is an RQ job built by RQ's own `Queue.create_job`, put on its session's lane in one
transaction with the REST job record and the session's presence (app/bus/lanes.py).
"""

import asyncio
import logging
import time

import redis
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from rq.job import JobStatus
from rq.queue import Queue
from rq.serializers import JSONSerializer
from rq.utils import now as rq_now

from app.bus import jobs, keys, presence
from app.bus.lanes import FAILED_JOB_TTL_SECONDS, LANE_TTL_SECONDS, Lanes
from app.observability import tracing
from app.turns import Turn

log = logging.getLogger(__name__)

RUN_TURN = "worker.jobs.run_turn"
DRAIN_POLL_SECONDS = 0.05


def turn_queue(client: redis.Redis, name: str) -> Queue:
    """The RQ queue turns travel on; API processes and workers build it alike."""
    return Queue(name, connection=client, serializer=JSONSerializer)


class TurnQueue:
    def __init__(
        self, client: aioredis.Redis, job_connection: redis.Redis, queue_name: str, job_timeout: int, result_ttl: int
    ) -> None:
        self.queue_name = queue_name
        self._client = client
        self._rq = turn_queue(job_connection, queue_name)
        self._lanes = Lanes(self._rq, client)
        self._job_timeout = job_timeout
        self._result_ttl = result_ttl

    async def enqueue(self, turn: Turn, owner: str | None = None, record_ttl: int = 0) -> bool:
        """Queue the turn behind the session's earlier ones; True if it went straight to the queue.

        With `owner`, a REST job record is created in the same transaction (see bus/jobs.py).
        """
        with tracing.enqueue_span(turn) as trace_context:
            job = self._rq.create_job(
                RUN_TURN,
                args=(turn.model_copy(update={"trace": trace_context}).model_dump_json(),),
                job_id=turn.turn_id,
                timeout=self._job_timeout,
                result_ttl=self._result_ttl,
                ttl=LANE_TTL_SECONDS,
                failure_ttl=FAILED_JOB_TTL_SECONDS,
                description=f"turn {turn.turn_id} of session {turn.session_id}",
                status=JobStatus.DEFERRED,
            )
            job.enqueued_at = rq_now()

            now = time.time()

            def also(pipe: Pipeline) -> None:
                presence.record_turn(pipe, turn.persona_id, turn.session_id, now)
                if owner:
                    jobs.create_record(pipe, turn.turn_id, owner, record_ttl, now)

            queued_now = await self._lanes.add(turn.session_id, job, also)
        log.debug(
            "turn enqueued",
            extra={"session_id": turn.session_id, "turn_id": turn.turn_id, "queued_now": queued_now},
        )
        return queued_now

    async def start(self) -> None:
        """Ready the lane scripts in Redis (best effort: a Redis not there yet gets them later)."""
        try:
            await self._lanes.load()
        except redis.RedisError as exc:
            log.warning("lane scripts not loaded yet (%s); they will be on first use", exc)

    async def drained(self, session_ids: list[str], within: float) -> bool:
        """Wait until none of these sessions has a turn queued or running (their lanes are empty:
        each turn's writes land before its lane step); False if some still had one after `within`
        seconds."""
        lanes_keys = [keys.session_lane(session_id) for session_id in session_ids]
        deadline = time.monotonic() + within
        while lanes_keys and await self._client.exists(*lanes_keys):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(DRAIN_POLL_SECONDS)
        return True
