"""A worker (and the thinking scheduler) inside the API process, for the embedded default.

It is the production path in miniature: the same RQ queue (on fakeredis), the same job function
and TurnProcessor. The RQ loop runs in a thread; the turn coroutines run on the API's event loop,
where the in-memory Mongo client lives.
"""

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

import redis
from motor.motor_asyncio import AsyncIOMotorDatabase
from rq.serializers import JSONSerializer

from app.settings import Settings
from worker import runtime, scheduler
from worker.rq_worker import ThreadWorker, worker_queues

EMBEDDED_WORKER_TTL = 20  # the worker's registration lives this long without a heartbeat


def api_loop_runner(loop: asyncio.AbstractEventLoop, timeout: float) -> runtime.RunCoroutine:
    """Run a job's coroutine on the API's loop from the worker thread, cancelled there at the job
    timeout, so a turn cannot write on after its fallback went out and its session's next turn
    started. Once the API's loop has stopped (shutting down), the job fails at once."""

    def run(coro: Coroutine[Any, Any, Any]) -> Any:
        guarded = asyncio.wait_for(coro, timeout)
        try:
            if not loop.is_running():  # stopping or closed (shutting down): it would never run
                raise RuntimeError("the API's event loop is not running")
            future = asyncio.run_coroutine_threadsafe(guarded, loop)
        except RuntimeError:
            guarded.close()
            coro.close()
            raise
        try:
            return future.result(timeout=timeout + 1)  # the loop's own timeout answers first
        except TimeoutError:
            future.cancel()
            raise

    return run


class EmbeddedWorker:
    def __init__(self, settings: Settings, client: redis.Redis, db: AsyncIOMotorDatabase) -> None:
        run = api_loop_runner(asyncio.get_running_loop(), settings.job_timeout_seconds)
        queues = worker_queues(client, settings)
        self._runtime = runtime.build(settings, db, client, run, queues[0].spot)
        self._worker = ThreadWorker(
            queues,
            connection=client,
            serializer=JSONSerializer,
            worker_ttl=EMBEDDED_WORKER_TTL,
        )
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._worker.work, kwargs={"logging_level": "WARNING"}, name="embedded-worker", daemon=True
            ),
            threading.Thread(
                target=scheduler.run, args=(client, settings, self._stop), name="embedded-scheduler", daemon=True
            ),
        ]

    def start(self) -> None:
        runtime.start(self._runtime)
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Ask the RQ loop to stop after its current job or dequeue wait; do not block the API."""
        self._stop.set()
        self._runtime.leases.stop()
        self._worker._stop_requested = True
