"""The lease keeper: a thread in each worker process that takes and renews the running turn's
lease and reaps the leases of workers that died (see app/bus/leases.py).

The job's own thread never waits for a lease: it is taken in RQ's own start-of-job round trip
(PersonaWorker), renewed here once a second while the turn runs, and dropped by the lane-advance
script when the turn ends.
"""

import logging
import threading
import time

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from app.bus.leases import Leases
from app.bus.queue import LaneAdvancer
from app.turns import Turn

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0


class LeaseKeeper:
    def __init__(self, client: redis.Redis, lanes: LaneAdvancer) -> None:
        self._client = client
        self._leases = Leases(client)
        self._lanes = lanes
        self._current: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def hold(self, turn_id: str) -> None:
        """The turn this process runs now, so the keeper renews its lease."""
        self._current = turn_id

    def release(self) -> None:
        """The turn ended; LaneAdvancer.advance has dropped its lease in Redis."""
        self._current = None

    def _run(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            self.tick()

    def tick(self) -> None:
        """Renew this process's lease and reap expired ones; nothing raised here ends the thread,
        since a keeper that died would leave this process's long turns to be run twice."""
        try:
            if (current := self._current) is not None:
                self._leases.hold(current, time.time())
            requeued, given_up = self._leases.reap(time.time())
            for turn_id in requeued:
                log.warning("a worker died mid-turn; turn queued again", extra={"turn_id": turn_id})
            for turn_id in given_up:
                self._give_up(turn_id)
        except Exception:
            log.exception("lease keeping failed; retrying")

    def _give_up(self, turn_id: str) -> None:
        """Failed too often: let the session's next turn go rather than block its lane."""
        try:
            job = Job.fetch(turn_id, connection=self._client, serializer=JSONSerializer)
        except NoSuchJobError:
            return
        turn = Turn.model_validate_json(job.args[0])
        log.error("turn failed on every retry; giving up", extra={"session_id": turn.session_id, "turn_id": turn_id})
        self._lanes.advance(turn.session_id, turn_id)
