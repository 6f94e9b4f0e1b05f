"""A worker (and the thinking scheduler) inside the API process, for the embedded default.

It is the production path in miniature: the same RQ queue (on fakeredis), the same job function
and TurnProcessor. The RQ loop runs in a thread; the turn coroutines run on the API's event loop,
where the in-memory Mongo client lives.
"""

import asyncio
import threading

import redis
from motor.motor_asyncio import AsyncIOMotorDatabase
from rq.serializers import JSONSerializer

from app.settings import Settings
from worker import runtime, scheduler
from worker.rq_worker import PersonaQueue, ThreadWorker

EMBEDDED_WORKER_TTL = 20  # RQ blocks on the queue for ttl - 15 s: stop() takes effect within that


class EmbeddedWorker:
    def __init__(self, settings: Settings, client: redis.Redis, db: AsyncIOMotorDatabase) -> None:
        loop = asyncio.get_running_loop()
        timeout = settings.job_timeout_seconds

        def run_on_api_loop(coro):  # type: ignore[no-untyped-def]
            """The turn is cancelled on the API loop at the job timeout, so it cannot write on
            after its fallback went out and its session's next turn started."""
            future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, timeout), loop)
            try:
                return future.result(timeout=timeout + 1)  # the loop's own timeout answers first
            except TimeoutError:
                future.cancel()
                raise

        self._runtime = runtime.build(settings, db, client, run_on_api_loop)
        queues = [
            PersonaQueue(name, connection=client, serializer=JSONSerializer)
            for name in (settings.queue_name, settings.thoughts_queue_name)
        ]
        self._worker = ThreadWorker(
            queues, connection=client, serializer=JSONSerializer, worker_ttl=EMBEDDED_WORKER_TTL
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
        runtime.install(self._runtime)
        self._runtime.leases.start()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Ask the RQ loop to stop after its current job or dequeue wait; do not block the API."""
        self._stop.set()
        self._runtime.leases.stop()
        self._worker._stop_requested = True
