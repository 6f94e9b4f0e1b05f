"""Enqueue turns as RQ jobs, in per-session order, from the API's event loop.

The job hash is built by RQ's own Job class (so stock RQ workers run it) and written together
with the lane step in one Lua call on the asyncio client: no thread hop, one round trip.
"""

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import NamedTuple

import redis
import redis.asyncio as aioredis
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.utils import utcformat

from app.bus import keys, lanes
from app.bus.replies import encode
from app.turns import Reply, Turn

log = logging.getLogger(__name__)

RUN_TURN = "worker.jobs.run_turn"
DRAIN_POLL_SECONDS = 0.05


class TurnQueue:
    def __init__(
        self,
        client: aioredis.Redis,
        job_connection: redis.Redis,
        queue_name: str,
        job_timeout: int,
        result_ttl: int,
    ) -> None:
        self.queue_name = queue_name
        self._client = client
        self._job_connection = job_connection  # RQ's Job wants one to build its hash; no I/O here
        self._job_timeout = job_timeout
        self._result_ttl = result_ttl
        self._enqueue = client.register_script(lanes.ENQUEUE_SCRIPT)

    async def enqueue(self, turn: Turn, owner: str | None = None, record_ttl: int = 0) -> bool:
        """Queue the turn behind the session's earlier ones; True if it went straight to the queue.

        With `owner`, a REST job record is created in the same atomic step (see bus/jobs.py).
        """
        job = Job.create(
            RUN_TURN,
            args=(turn.model_dump_json(),),
            id=turn.turn_id,
            connection=self._job_connection,
            serializer=JSONSerializer,
            timeout=self._job_timeout,
            result_ttl=self._result_ttl,
            failure_ttl=lanes.FAILED_JOB_TTL_SECONDS,
            description=f"turn {turn.turn_id} of session {turn.session_id}",
        )
        job.origin = self.queue_name
        enqueued_at = utcformat(datetime.now(UTC))
        fields = job.to_dict()
        fields.pop("status", None)
        fields["enqueued_at"] = enqueued_at
        flat = [item for pair in fields.items() for item in pair]
        queued_now = await self._enqueue(
            keys=[
                Job.key_for(turn.turn_id),
                keys.session_lane(turn.session_id),
                keys.live_sessions(turn.persona_id),
                keys.job_record(turn.turn_id),
            ],
            args=[
                turn.turn_id,
                lanes.LANE_TTL_SECONDS,
                lanes.JOB_PREFIX,
                lanes.QUEUE_PREFIX,
                lanes.QUEUES_KEY,
                enqueued_at,
                time.time(),
                turn.session_id,
                owner or "",
                record_ttl,
                *flat,
            ],
        )
        log.debug(
            "turn enqueued",
            extra={"session_id": turn.session_id, "turn_id": turn.turn_id, "queued_now": bool(queued_now)},
        )
        return bool(queued_now)

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


class IdleSpot(NamedTuple):
    """Where a worker waits to be woken: its turn queue's idle list and its own wake list."""

    idle_list: str
    wake_list: str


class LaneAdvancer:
    """Worker side: after a turn's job ends, let the session's next turn onto the queue.

    Given the worker's IdleSpot, the lane step also puts the worker on top of the idle list, just
    before it queues the session's next turn: the next turn queued (that one, or any other) wakes
    the worker finishing this one, whose caches are the warmest, rather than one idle for longer.
    """

    def __init__(self, client: redis.Redis, spot: IdleSpot | None = None) -> None:
        self._client = client
        self._advance = client.register_script(lanes.ADVANCE_SCRIPT)
        self._spot = spot

    def load(self) -> None:
        """Put the script in Redis's cache now, as a worker starts: `advance_command` names it by
        its hash only, and Redis would refuse the first one (NOSCRIPT)."""
        self._client.script_load(lanes.ADVANCE_SCRIPT)

    def advance(self, session_id: str, turn_id: str, answer: tuple[str, Reply] | None = None) -> str | None:
        """Also drops the turn's lease (see bus/leases.py) and publishes its answer, given as
        (API instance id, reply): one round trip for the three."""
        script_keys, args = self._call(session_id, turn_id, answer)
        next_id = self._advance(keys=script_keys, args=args)
        return next_id.decode() if next_id else None

    def advance_command(
        self, session_id: str, turn_id: str, answer: tuple[str, Reply] | None = None
    ) -> tuple[str | int | float, ...]:
        """The same step as a command to send without waiting (see worker/outbox.py). Redis
        answers NOSCRIPT until the script is loaded (`load`; `advance` loads it too)."""
        script_keys, args = self._call(session_id, turn_id, answer)
        return ("EVALSHA", self._advance.sha, len(script_keys), *script_keys, *args)

    def _call(
        self, session_id: str, turn_id: str, answer: tuple[str, Reply] | None
    ) -> tuple[list[str], list[str | float]]:
        channel, payload = (keys.reply_channel(answer[0]), encode(answer[1])) if answer else ("", "")
        enqueued_at = utcformat(datetime.now(UTC))
        return (
            [keys.session_lane(session_id), keys.turn_leases(), channel, *(self._spot or ("", ""))],
            [turn_id, lanes.JOB_PREFIX, lanes.QUEUE_PREFIX, lanes.QUEUES_KEY, enqueued_at, payload, time.time()],
        )
