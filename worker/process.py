"""One worker process: an event loop, a Mongo client and the runtime, built once; then the worker."""

import asyncio
import gc
import logging
import multiprocessing
import sys

import uvloop
from pymongo.errors import PyMongoError
from setproctitle import setproctitle

from app import logs
from app.brains import make_worker_brains
from app.bus.connections import exit_unless_reachable, make_clients
from app.observability import metrics, tracing
from app.settings import Settings, get_settings
from app.store.mongo import connect, ensure_indexes
from app.store.split import SplitStoreError, refuse_split_store
from worker.runtime import make_worker

log = logging.getLogger("worker")


def preflight(settings: Settings) -> None:
    """Said once, before any worker process starts: a setting that cannot work stops them all
    with one line (exit status 2), and so does a Redis that does not answer."""
    if not settings.redis_url:
        log.error("REDIS_URL is not set: worker processes need the shared Redis (the embedded API runs its own worker)")
        sys.exit(2)
    try:
        refuse_split_store(settings)
    except SplitStoreError as exc:
        log.error("%s", exc)
        sys.exit(2)
    exit_unless_reachable(settings.redis_url)
    if not settings.mongo_url:
        log.warning("MONGO_URL is not set: each worker keeps state in its own memory; nothing is shared or persisted")


def serve(burst: bool = False) -> None:
    name = multiprocessing.current_process().name  # worker-<i> under `python -m worker`
    setproctitle(f"persona-worker {name}" if name.startswith("worker-") else "persona-worker")
    settings = get_settings()
    logs.configure(settings.log_level, settings.log_format)
    metrics.serve_worker(settings.metrics_host, settings.metrics_port)
    tracing.configure("persona-worker", settings.otel_exporter_otlp_endpoint, settings.trace_file)
    uvloop.run(_serve(burst))


async def _serve(burst: bool) -> None:
    settings = get_settings()
    clients = make_clients(settings.redis_url, "persona-worker")
    _, db = connect(settings.mongo_url, settings.mongo_db)
    try:
        await ensure_indexes(db)
    except PyMongoError as exc:  # turns fail soft until it answers; the API ensures the indexes then
        log.error("mongo unreachable at start-up; indexes not ensured: %s", logs.short(exc))
    brains = make_worker_brains(settings)
    worker = await asyncio.to_thread(make_worker, settings, db, clients, brains, settings.worker_ttl_seconds)
    gc.collect()
    gc.freeze()  # start-up objects live for the process; spare the collector re-scanning them per turn
    log.info(
        "worker %s serving queues %s, %d turns at once, brain %s",
        worker.name,
        ", ".join(worker.queue_names()),
        worker.concurrency,
        settings.persona_brain,
    )
    try:
        await worker.run(burst=burst)
    finally:
        await brains.aclose()
