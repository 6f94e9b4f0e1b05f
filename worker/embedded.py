"""A worker (and the thinking scheduler) inside the API process, for the embedded default.

It is the production path in miniature: the same RQ queue (on fakeredis), the same worker class,
job function and TurnProcessor, on the API's own event loop, where the in-memory Mongo client
lives. Only the scheduler, a loop of synchronous calls, runs in a thread.
"""

import asyncio
import logging
import threading

from motor.motor_asyncio import AsyncIOMotorDatabase

from app.brains import BrainSet
from app.bus.connections import RedisClients
from app.settings import Settings
from worker import scheduler
from worker.runtime import make_worker

log = logging.getLogger(__name__)
EMBEDDED_WORKER_TTL = 20  # the worker's registration lives this long without a heartbeat
STOP_GRACE_SECONDS = 5.0  # how long stopping waits for the turns in flight


class EmbeddedWorker:
    def __init__(self, settings: Settings, clients: RedisClients, db: AsyncIOMotorDatabase, brains: BrainSet) -> None:
        self._worker = make_worker(settings, db, clients, brains, EMBEDDED_WORKER_TTL)
        self._stop = threading.Event()
        self._scheduler = threading.Thread(
            target=scheduler.run,
            args=(clients.sync_client, settings, self._stop),
            name="embedded-scheduler",
            daemon=True,
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._worker.run(install_signals=False), name="embedded-worker")
        self._scheduler.start()

    async def stop(self) -> None:
        """A warm shutdown: the turns in flight finish (for a few seconds at most), nothing new starts."""
        self._stop.set()
        if self._task is None:
            return
        self._worker.request_shutdown()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_GRACE_SECONDS)
        except TimeoutError:
            log.warning("embedded worker still busy after %.0f s; cancelling its turns", STOP_GRACE_SECONDS)
            self._worker.request_shutdown()
            await asyncio.gather(self._task, return_exceptions=True)
