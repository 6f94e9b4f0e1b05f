"""One worker process: build the runtime once, then let RQ loop over the turn queue."""

import asyncio
import gc
import logging
import sys

import uvloop
from pymongo.errors import PyMongoError
from rq.serializers import JSONSerializer

from app import logs
from app.bus.connections import make_clients
from app.bus.rq_serializers import remember_resolved_serializers
from app.settings import get_settings
from app.store.mongo import connect, ensure_indexes
from worker import runtime
from worker.rq_worker import PersonaWorker, worker_queues

log = logging.getLogger("worker")


def serve(burst: bool = False) -> None:
    """One worker process: build the runtime once, then let RQ loop over the queue."""
    settings = get_settings()
    logs.configure(settings.log_level)
    remember_resolved_serializers()
    if not settings.redis_url:
        log.error("REDIS_URL is not set: worker processes need the shared Redis (the embedded API runs its own worker)")
        sys.exit(2)
    if not settings.mongo_url:
        log.warning("MONGO_URL is not set: this worker keeps state in its own memory; nothing is shared or persisted")
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    clients = make_clients(settings.redis_url, "persona-worker")
    _, db = connect(settings.mongo_url, settings.mongo_db)
    try:
        loop.run_until_complete(ensure_indexes(db))
    except PyMongoError as exc:  # turns fail soft until it answers; the API ensures the indexes then
        log.error("mongo unreachable at start-up; indexes not ensured: %s", str(exc).splitlines()[0][:200])
    queues = worker_queues(clients.sync_client, settings)
    run = runtime.loop_runner(loop, settings.job_timeout_seconds)
    runtime.start(runtime.build(settings, db, clients.sync_client, run, queues[0].spot))
    worker = PersonaWorker(
        queues,
        connection=clients.sync_client,
        serializer=JSONSerializer,
        worker_ttl=settings.worker_ttl_seconds,
    )
    gc.collect()
    gc.freeze()  # start-up objects live for the process; spare the collector re-scanning them per turn
    rq_level = "INFO" if settings.log_level.upper() == "DEBUG" else "WARNING"  # RQ logs every job at INFO
    worker.work(burst=burst, logging_level=rq_level, with_scheduler=False)
