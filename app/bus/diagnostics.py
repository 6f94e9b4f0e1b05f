"""Queue diagnostics for operators: workers, backlog, registries, and an overall status.

RQ's inspection API is synchronous; callers run `queue_report` in a thread.
"""

import time
from datetime import UTC, datetime
from typing import Literal

import redis
from pydantic import BaseModel, computed_field
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job

Status = Literal["ok", "degraded", "down"]


class WorkerInfo(BaseModel):
    name: str
    state: str
    alive: bool  # heartbeat younger than the worker TTL
    queues: list[str]
    current_job: str | None
    last_heartbeat_age_seconds: float | None


class QueueInfo(BaseModel):
    name: str
    queued: int
    started: int
    failed: int
    deferred: int
    oldest_queued_age_seconds: float | None

    @computed_field  # type: ignore[prop-decorator]  # mypy rejects any decorator over @property
    @property
    def backlog(self) -> int:
        """Jobs waiting to be run (the Synthetic Soul API's "backlog per queue")."""
        return self.queued


class QueueReport(BaseModel):
    status: Status
    redis_reachable: bool
    reasons: list[str]
    workers: list[WorkerInfo]
    queues: list[QueueInfo]

    @computed_field  # type: ignore[prop-decorator]  # mypy rejects any decorator over @property
    @property
    def worker_count(self) -> int:
        """Workers alive (heartbeat within the TTL), as the Synthetic Soul API reports it."""
        return sum(w.alive for w in self.workers)

    @computed_field  # type: ignore[prop-decorator]  # mypy rejects any decorator over @property
    @property
    def total_backlog(self) -> int:
        return sum(q.backlog for q in self.queues)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def redis_ok(self) -> bool:
        """redis_reachable under the Synthetic Soul API's name."""
        return self.redis_reachable


def _age(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return max(0.0, time.time() - aware.timestamp())


def queue_info(client: redis.Redis, name: str) -> QueueInfo:
    """One queue's counts and its oldest job's wait (also read at each metrics scrape)."""
    queue = Queue(name, connection=client)
    oldest_id = queue.get_job_ids(0, 1)
    try:
        oldest = Job.fetch(oldest_id[0], connection=client) if oldest_id else None
    except NoSuchJobError:  # taken and gone since the id was read
        oldest = None
    return QueueInfo(
        name=name,
        queued=queue.count,
        started=queue.started_job_registry.count,
        failed=queue.failed_job_registry.count,
        deferred=queue.deferred_job_registry.count,
        oldest_queued_age_seconds=_age(oldest.enqueued_at) if oldest else None,
    )


def queue_report(client: redis.Redis, queue_names: list[str], stale_seconds: float, worker_ttl: float) -> QueueReport:
    try:
        client.ping()
    except redis.RedisError:
        return QueueReport(status="down", redis_reachable=False, reasons=["redis unreachable"], workers=[], queues=[])
    workers = []
    for w in Worker.all(connection=client):
        age = _age(w.last_heartbeat)
        workers.append(
            WorkerInfo(
                name=w.name,
                state=str(w.get_state()),
                alive=age is not None and age <= worker_ttl,
                queues=w.queue_names(),
                current_job=w.get_current_job_id(),
                last_heartbeat_age_seconds=age,
            )
        )
    queues = [queue_info(client, name) for name in queue_names]
    reasons = []
    if not any(w.alive for w in workers):
        reasons.append("no worker is alive")
    reasons += [
        f"queue {q.name}: oldest job waiting {q.oldest_queued_age_seconds:.0f}s"
        for q in queues
        if q.oldest_queued_age_seconds is not None and q.oldest_queued_age_seconds > stale_seconds
    ]
    return QueueReport(
        status="degraded" if reasons else "ok", redis_reachable=True, reasons=reasons, workers=workers, queues=queues
    )
