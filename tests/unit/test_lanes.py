"""Per-session lanes over the RQ queue, and the asyncio worker that runs their turns, on fakeredis."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import fakeredis
import pytest
import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from app.brains import make_worker_brains
from app.bus import keys
from app.bus.connections import RedisClients, decoded
from app.bus.lanes import Lanes
from app.bus.leases import LEASE_SECONDS
from app.bus.queue import TurnQueue, turn_queue
from app.settings import Settings
from app.store.history import HistoryStore
from app.store.mongo import connect
from app.turns import Reply, Turn
from tests.conftest import make_turn
from tests.support.stack import eventually
from worker import jobs
from worker.runtime import make_worker
from worker.speaker import Speaker
from worker.turns import Answer, TurnProcessor

QUEUE = "turns"


@pytest.fixture
def clients() -> RedisClients:
    server = fakeredis.FakeServer()
    return RedisClients(fakeredis.FakeAsyncRedis(server=server), fakeredis.FakeRedis(server=server), embedded=True)


def queued_ids(client: redis.Redis) -> list[str]:
    return [decoded(job_id) for job_id in client.lrange(f"rq:queue:{QUEUE}", 0, -1)]


def status(client: redis.Redis, job_id: str) -> str:
    raw = client.hget(Job.key_for(job_id), "status")
    assert raw is not None, f"job {job_id} has no status"
    return decoded(raw)


def deferred_ids(client: redis.Redis) -> list[str]:
    deferred = client.zrange(f"rq:deferred:{QUEUE}", 0, -1)
    return [job_id.decode() for job_id in deferred]  # type: ignore[union-attr]  # redis-py: maybe (member, score)


def turn_queue_of(clients: RedisClients) -> TurnQueue:
    return TurnQueue(clients.async_client, clients.sync_client, QUEUE, job_timeout=30, result_ttl=60)


def lanes_of(clients: RedisClients) -> Lanes:  # the worker's side of the lanes
    return Lanes(turn_queue(clients.sync_client, QUEUE), clients.async_client)


async def test_only_the_head_of_each_session_is_queued(clients: RedisClients) -> None:
    client, queue = clients.sync_client, turn_queue_of(clients)
    a = [make_turn("A", f"a{i}") for i in range(3)]
    b = make_turn("B", "b0")
    assert await queue.enqueue(a[0])
    assert not await queue.enqueue(a[1])
    assert not await queue.enqueue(a[2])
    assert await queue.enqueue(b)
    assert queued_ids(client) == [a[0].turn_id, b.turn_id]
    assert [status(client, t.turn_id) for t in a] == ["queued", "deferred", "deferred"]
    assert deferred_ids(client) == [a[1].turn_id, a[2].turn_id]  # as RQ's deferred registry, for rq info

    lanes = lanes_of(clients)
    assert await lanes.finish("A", a[0].turn_id) == a[1].turn_id
    assert queued_ids(client)[-1] == a[1].turn_id
    assert status(client, a[1].turn_id) == "queued"
    assert deferred_ids(client) == [a[2].turn_id]
    assert await lanes.finish("B", b.turn_id) is None
    assert client.llen(keys.session_lane("B")) == 0
    assert client.zrange(keys.turn_leases(), 0, -1) == []  # whoever queued a turn held its lease till then


async def test_a_dead_head_no_longer_blocks_its_lane(clients: RedisClients) -> None:
    client, queue = clients.sync_client, turn_queue_of(clients)
    first, second = make_turn("C", "c0"), make_turn("C", "c1")
    await queue.enqueue(first)
    client.hset(Job.key_for(first.turn_id), "status", "failed")  # e.g. given up on
    assert await queue.enqueue(second)
    assert status(client, second.turn_id) == "queued"
    assert client.lrange(keys.session_lane("C"), 0, -1) == [second.turn_id.encode()]


async def test_a_turn_left_deferred_at_the_head_of_its_lane_is_queued_by_a_keeper(
    clients: RedisClients, monkeypatch
) -> None:
    """The API process that found its turn at the head died before queuing it: its lease lapses,
    and a worker's keeper queues the turn."""
    client, queue = clients.sync_client, turn_queue_of(clients)
    turn = make_turn("D", "d0")

    async def dies_before_queuing(self: Lanes, job: Job) -> None:
        pass

    monkeypatch.setattr(Lanes, "release", dies_before_queuing)
    await queue.enqueue(turn)
    monkeypatch.undo()
    assert queued_ids(client) == []
    assert status(client, turn.turn_id) == "deferred"
    assert client.zscore(keys.turn_leases(), turn.turn_id) is not None

    settings = Settings(persona_brain="demo", queue_name=QUEUE)
    worker = make_worker(settings, connect(None, "d")[1], clients, make_worker_brains(settings), 30)
    await worker.keep_leases(time.time() + LEASE_SECONDS + 1)
    assert queued_ids(client) == [turn.turn_id]
    assert status(client, turn.turn_id) == "queued"


@pytest.fixture
async def served(clients: RedisClients) -> AsyncIterator[tuple[Any, Any, list[Reply]]]:
    """A worker (demo brain) and a subscriber collecting the replies published for `api-1`."""
    _, db = connect(None, f"lanes-{time.monotonic_ns()}")
    settings = Settings(persona_brain="demo", queue_name=QUEUE)
    worker = make_worker(settings, db, clients, make_worker_brains(settings), 30)
    replies: list[Reply] = []
    pubsub = clients.async_client.pubsub()
    await pubsub.subscribe(keys.reply_channel("api-1"))

    async def listen() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                replies.append(Reply.model_validate(json.loads(message["data"])))

    listener = asyncio.create_task(listen())
    yield worker, db, replies
    listener.cancel()
    await pubsub.aclose()


async def test_the_worker_runs_turns_in_session_order_and_rq_records_them(clients: RedisClients, served) -> None:
    worker, db, replies = served
    client, queue = clients.sync_client, turn_queue_of(clients)
    turns = [make_turn("S", str(i)) for i in range(5)] + [make_turn("T", "t")]
    for turn in turns:
        await queue.enqueue(turn)
    await worker.run(burst=True, install_signals=False)
    await eventually(lambda: len(replies) == len(turns))

    assert [r.text for r in replies if r.session_id == "S"] == [f"Echo: {i}" for i in range(5)]
    history = await HistoryStore(db).for_session("S")
    assert [h.input_text for h in history] == [str(i) for i in range(5)]
    assert client.llen(keys.session_lane("S")) == 0
    assert queued_ids(client) == []
    # RQ's own view of the finished turns, as `rq info` and dashboards read it
    rq_queue = turn_queue(client, QUEUE)
    for turn in turns:
        job = Job.fetch(turn.turn_id, connection=client, serializer=JSONSerializer)
        assert job.get_status() == "finished"
        assert job.worker_name == worker.name
        assert job.ended_at is not None
        assert job.started_at is not None
        assert job.ended_at >= job.started_at
        assert job.latest_result() is not None
        assert 0 < client.ttl(job.key) <= 60
    assert set(rq_queue.finished_job_registry.get_job_ids()) == {t.turn_id for t in turns}
    assert rq_queue.started_job_registry.get_job_ids() == []
    assert rq_queue.deferred_job_registry.get_job_ids() == []
    assert client.keys("rq:execution*") == []
    assert client.lrange(rq_queue.intermediate_queue_key, 0, -1) == []
    assert int(client.hget(worker.key, "successful_job_count") or 0) == len(turns)


async def test_a_worker_holds_many_turns_at_once_and_records_each_running(
    clients: RedisClients, served, monkeypatch
) -> None:
    """Turns of different sessions are in flight together, each an RQ Execution while it runs."""
    worker, _, replies = served
    client, queue = clients.sync_client, turn_queue_of(clients)
    release = asyncio.Event()
    answered = TurnProcessor.answer

    async def waits_for_the_model(self: TurnProcessor, turn: Turn, speaker: Speaker | None = None) -> Answer:
        await release.wait()  # a model call
        return await answered(self, turn, speaker)

    monkeypatch.setattr(TurnProcessor, "answer", waits_for_the_model)
    sessions = 40
    for i in range(sessions):
        await queue.enqueue(make_turn(f"S{i}", "hi"))
    running = asyncio.create_task(worker.run(install_signals=False))
    rq_queue = turn_queue(client, QUEUE)
    await eventually(lambda: len(rq_queue.started_job_registry.get_job_ids()) == sessions)
    assert len(worker.executions) == sessions
    assert client.zcard(keys.turn_leases()) == sessions  # each leased while it runs
    release.set()
    await eventually(lambda: len(replies) == sessions)
    worker.request_shutdown()
    await running
    assert rq_queue.started_job_registry.get_job_ids() == []
    assert client.keys("rq:execution*") == []


async def test_a_turn_past_the_job_timeout_is_cancelled_and_the_session_goes_on(
    clients: RedisClients, served, monkeypatch
) -> None:
    worker, db, replies = served
    client = clients.sync_client
    queue = TurnQueue(clients.async_client, client, QUEUE, job_timeout=1, result_ttl=60)
    answered = TurnProcessor.answer

    async def hangs_on_slow(self: TurnProcessor, turn: Turn, speaker: Speaker | None = None) -> Answer:
        if turn.text == "slow":
            await asyncio.sleep(30)  # a stalled store or model call
        return await answered(self, turn, speaker)

    monkeypatch.setattr(TurnProcessor, "answer", hangs_on_slow)
    slow, after = make_turn("S", "slow"), make_turn("S", "after")
    for turn in (slow, after):
        await queue.enqueue(turn)
    await worker.run(burst=True, install_signals=False)
    await eventually(lambda: len(replies) == 2)
    assert [(r.turn_id, r.fallback) for r in replies] == [(slow.turn_id, True), (after.turn_id, False)]
    assert replies[1].text == "Echo: after"
    assert Job.fetch(slow.turn_id, connection=client, serializer=JSONSerializer).get_status() == "failed"
    history = await HistoryStore(db).for_session("S")
    assert [h.input_text for h in history] == ["after"]  # the cancelled turn wrote nothing


async def test_a_job_whose_hash_is_gone_is_skipped(clients: RedisClients, served) -> None:
    worker, _, replies = served
    client, queue = clients.sync_client, turn_queue_of(clients)
    client.rpush(f"rq:queue:{QUEUE}", "expired-job")  # on the queue, its hash gone
    await queue.enqueue(make_turn("S", "hi"))
    await worker.run(burst=True, install_signals=False)
    await eventually(lambda: len(replies) == 1)
    assert client.llen(f"rq:queue:{QUEUE}:intermediate") == 0


class FlakyLanes:
    """Lanes whose Redis fails `failures` times first."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    async def finish(self, session_id: str, turn_id: str) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise redis.ConnectionError("Redis blinked")


@pytest.mark.parametrize(("failures", "moved"), [(2, True), (len(jobs.LANE_STEP_RETRY_DELAYS) + 1, False)])
async def test_a_lane_is_stepped_through_a_redis_blip(monkeypatch, failures: int, moved: bool) -> None:
    """Else the session's next turns would wait for the user's next message."""
    monkeypatch.setattr(jobs, "LANE_STEP_RETRY_DELAYS", (0.0,) * len(jobs.LANE_STEP_RETRY_DELAYS))
    lanes = FlakyLanes(failures)
    rt: Any = type("Runtime", (), {"lanes": lanes})()
    if moved:
        await jobs.step_lane(rt, make_turn("S", "hi"))
        assert lanes.calls == failures + 1
    else:
        with pytest.raises(redis.ConnectionError):
            await jobs.step_lane(rt, make_turn("S", "hi"))
        assert lanes.calls == len(jobs.LANE_STEP_RETRY_DELAYS) + 1
