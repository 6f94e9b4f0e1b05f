"""Every Prometheus metric of the API and the workers, in one place.

Each process keeps its own (prometheus-client's default registry): the API serves its on
`/metrics` (app/api/metrics.py), each worker process on a port of its own (`serve_worker`, base
METRICS_PORT plus its index). A per-process port instead of prometheus-client's multiprocess
mode: no shared directory to wipe at start and no files a dead process leaves behind, and a
gauge such as turns in flight is simply the process's own. Queue depth and age are the same
for everyone, so only the API reports them, read from Redis at scrape (`QueueCollector`).
"""

import logging
import multiprocessing
import time
from collections.abc import Awaitable, Iterator
from typing import TypeVar

import redis
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from app.bus.diagnostics import queue_info
from app.observability.tracing import traced

log = logging.getLogger(__name__)
T = TypeVar("T")
disable_created_metrics()  # no `_created` twin per series: Prometheus does not read them by default

# A turn lasts a few ms with the rules brain and seconds with a model.
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

TURNS = Counter("persona_turns", "Turns the workers ended, by door and outcome.", ["door", "outcome"])
TURN_SECONDS = Histogram(
    "persona_turn_seconds", "A turn from the door's enqueue to its reply published.", ["door"], buckets=SECONDS
)
QUEUE_WAIT_SECONDS = Histogram(
    "persona_turn_queue_wait_seconds", "A turn from the door's enqueue to a worker's start.", ["door"], buckets=SECONDS
)
FIRST_WORD_SECONDS = Histogram(
    "persona_turn_first_word_seconds",
    "A turn from the door's enqueue to its first words out (streamed) or its whole reply.",
    ["door"],
    buckets=SECONDS,
)
TURNS_IN_FLIGHT = Gauge("persona_turns_in_flight", "Turns this worker process is running now.")
MODEL_CALL_SECONDS = Histogram(
    "persona_model_call_seconds", "The LLM brain's model call, to its stream's end, failed ones too.", buckets=SECONDS
)
SOCKETS_OPEN = Gauge("persona_sockets_open", "Sockets open on this API process, by door.", ["door"])
PUBSUB_RECONNECTS = Counter("persona_pubsub_reconnects", "Times this API process's reply subscription was lost.")
RATE_LIMITED = Counter("persona_rate_limited", "Requests and turns a rate limit refused, by limit.", ["scope"])


async def timed_model_call(call: Awaitable[T]) -> T:
    """Await one model call in its span, observing how long it took (whether it answered or raised)."""
    started = time.perf_counter()
    try:
        return await traced("model call", call)
    finally:
        MODEL_CALL_SECONDS.observe(time.perf_counter() - started)


class QueueCollector(Collector):
    """The turn and thought queues as Redis holds them at scrape: jobs by state and the oldest's age."""

    def __init__(self, client: redis.Redis, queue_names: list[str]) -> None:
        self._client = client
        self._names = queue_names

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily("persona_queue_jobs", "Jobs in an RQ queue, by state.", labels=["queue", "state"])
        oldest = GaugeMetricFamily(
            "persona_queue_oldest_age_seconds", "How long the oldest queued job has waited (0: none).", labels=["queue"]
        )
        for name in self._names:
            info = queue_info(self._client, name)
            for state in ("queued", "started", "deferred", "failed"):
                jobs.add_metric([name, state], getattr(info, state))
            oldest.add_metric([name], info.oldest_queued_age_seconds or 0.0)
        yield jobs
        yield oldest


def exposition(queue_client: redis.Redis, queue_names: list[str]) -> bytes:
    """This process's metrics and the queues' (blocking: Redis is read; run it in a thread).

    A Redis that does not answer leaves the queue metrics out rather than failing the scrape."""
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(QueueCollector(queue_client, queue_names))
    try:
        queues = generate_latest(scrape)
    except redis.RedisError as exc:
        log.warning("queue metrics left out of this scrape: %s", exc)
        queues = b""
    return generate_latest(REGISTRY) + queues


def process_index() -> int:
    """This worker's index among `python -m worker --processes N` (worker-<i>); 0 for a lone one."""
    _, _, index = multiprocessing.current_process().name.partition("worker-")
    return int(index) if index.isdigit() else 0


def serve_worker(host: str, base_port: int) -> int | None:
    """Serve this worker process's metrics on base_port + its index (0: off); the port, or None."""
    if not base_port:
        return None
    port = base_port + process_index()
    try:
        start_http_server(port, addr=host)
    except OSError as exc:  # a port taken: the worker serves turns all the same
        log.error("worker metrics not served on %s:%d: %s", host, port, exc)
        return None
    log.info("worker metrics on http://%s:%d/metrics", host, port)
    return port
