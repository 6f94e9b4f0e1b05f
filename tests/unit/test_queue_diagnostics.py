"""/v1/meta/queue's report: a live worker, a dead worker, a stale backlog, Redis down."""

from datetime import UTC, datetime, timedelta

import fakeredis
import redis
from rq import Queue
from rq.job import Job
from rq.worker import SimpleWorker

from app.bus.diagnostics import queue_report

QUEUES = ["turns", "thoughts"]


def test_a_live_worker_and_a_fresh_backlog_are_ok() -> None:
    client = fakeredis.FakeRedis()
    worker = SimpleWorker([Queue("turns", connection=client)], connection=client)
    worker.register_birth()
    Queue("turns", connection=client).enqueue("builtins.print", "hi")
    report = queue_report(client, QUEUES, stale_seconds=30, worker_ttl=30)
    assert report.status == "ok"
    assert [w.name for w in report.workers] == [worker.name]
    assert report.workers[0].queues == ["turns"]
    assert report.queues[0].queued == 1
    assert report.queues[0].oldest_queued_age_seconds is not None


def test_a_worker_whose_heartbeat_stopped_counts_as_dead() -> None:
    client = fakeredis.FakeRedis()
    worker = SimpleWorker([Queue("turns", connection=client)], connection=client)
    worker.register_birth()
    silent = (datetime.now(UTC) - timedelta(seconds=120)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    client.hset(worker.key, "last_heartbeat", silent)  # killed two minutes ago, key not yet expired
    report = queue_report(client, QUEUES, stale_seconds=30, worker_ttl=30)
    assert [w.alive for w in report.workers] == [False]
    assert report.status == "degraded"


def test_no_live_worker_is_degraded() -> None:
    client = fakeredis.FakeRedis()
    worker = SimpleWorker([Queue("turns", connection=client)], connection=client)
    worker.register_birth()
    worker.register_death()  # a worker that has died
    report = queue_report(client, QUEUES, stale_seconds=30, worker_ttl=30)
    assert report.status == "degraded"
    assert "no worker is alive" in report.reasons


def test_a_stale_backlog_is_degraded() -> None:
    client = fakeredis.FakeRedis()
    SimpleWorker([Queue("turns", connection=client)], connection=client).register_birth()
    job = Queue("turns", connection=client).enqueue("builtins.print", "waiting")
    old = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    client.hset(Job.key_for(job.id), "enqueued_at", old)
    report = queue_report(client, QUEUES, stale_seconds=30, worker_ttl=30)
    assert report.status == "degraded"
    assert report.reasons == [f"queue turns: oldest job waiting {report.queues[0].oldest_queued_age_seconds:.0f}s"]


def test_redis_down_is_down() -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    report = queue_report(dead, QUEUES, stale_seconds=30, worker_ttl=30)
    assert report.status == "down"
    assert not report.redis_reachable
