"""Per-session lanes over the RQ queue, run by RQ's own SimpleWorker on fakeredis."""

import asyncio
import json
import time
from types import SimpleNamespace

import fakeredis
import pytest
import redis
import uvloop
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.worker import SimpleWorker

from app.bus import keys
from app.bus.lanes import LOST_AFTER_SECONDS
from app.bus.queue import RUN_TURN, IdleSpot, LaneAdvancer, TurnQueue
from app.settings import Settings
from app.store.history import HistoryStore
from app.store.mongo import connect
from app.turns import Reply, Turn
from tests.conftest import make_turn
from worker import jobs, runtime
from worker.rq_worker import PersonaQueue, PersonaWorker
from worker.turns import Answer, TurnProcessor

QUEUE = "turns"


@pytest.fixture
def redis_pair():  # type: ignore[no-untyped-def]
    server = fakeredis.FakeServer()
    return fakeredis.FakeAsyncRedis(server=server), fakeredis.FakeRedis(server=server)


def queued_ids(client: fakeredis.FakeRedis) -> list[str]:
    return [job_id.decode() for job_id in client.lrange(f"rq:queue:{QUEUE}", 0, -1)]


def status(client: fakeredis.FakeRedis, job_id: str) -> str:
    return client.hget(Job.key_for(job_id), "status").decode()


async def test_only_the_head_of_each_session_is_queued(redis_pair) -> None:  # type: ignore[no-untyped-def]
    async_client, client = redis_pair
    queue = TurnQueue(async_client, client, QUEUE, job_timeout=30, result_ttl=60)
    a = [make_turn("A", f"a{i}") for i in range(3)]
    b = make_turn("B", "b0")
    assert await queue.enqueue(a[0])
    assert not await queue.enqueue(a[1])
    assert not await queue.enqueue(a[2])
    assert await queue.enqueue(b)
    assert queued_ids(client) == [a[0].turn_id, b.turn_id]
    assert [status(client, t.turn_id) for t in a] == ["queued", "deferred", "deferred"]

    advancer = LaneAdvancer(client)
    assert advancer.advance("A", a[0].turn_id) == a[1].turn_id
    assert queued_ids(client)[-1] == a[1].turn_id
    assert status(client, a[1].turn_id) == "queued"
    assert advancer.advance("B", b.turn_id) is None
    assert client.llen(keys.session_lane("B")) == 0


async def test_a_lane_step_puts_its_worker_first_in_line_for_the_next_turn(redis_pair) -> None:  # type: ignore[no-untyped-def]
    """The worker finishing a turn is woken for the session's next one (and for any turn queued
    before it waits), ahead of a worker idle for longer."""
    async_client, client = redis_pair
    queue = TurnQueue(async_client, client, QUEUE, job_timeout=30, result_ttl=60)
    idle_for_longer = IdleSpot(keys.idle_workers(QUEUE), keys.worker_wake("idle-for-longer"))
    finishing = IdleSpot(keys.idle_workers(QUEUE), keys.worker_wake("finishing"))
    first, second = make_turn("W", "w0"), make_turn("W", "w1")
    await queue.enqueue(first)
    client.lpush(idle_for_longer.idle_list, idle_for_longer.wake_list)
    await queue.enqueue(second)  # deferred behind `first`: wakes nobody
    assert client.llen(idle_for_longer.wake_list) == 0

    assert LaneAdvancer(client, finishing).advance("W", first.turn_id) == second.turn_id
    assert client.lrange(finishing.wake_list, 0, -1) == [b"1"]  # woken for the session's next turn
    assert client.llen(idle_for_longer.wake_list) == 0
    assert client.lrange(finishing.idle_list, 0, -1) == [idle_for_longer.wake_list.encode()]

    third = make_turn("X", "x0")
    await queue.enqueue(third)  # another session's turn goes to the next in line
    assert client.lrange(idle_for_longer.wake_list, 0, -1) == [b"1"]


async def test_a_dead_head_no_longer_blocks_its_lane(redis_pair) -> None:  # type: ignore[no-untyped-def]
    async_client, client = redis_pair
    queue = TurnQueue(async_client, client, QUEUE, job_timeout=30, result_ttl=60)
    first, second = make_turn("C", "c0"), make_turn("C", "c1")
    await queue.enqueue(first)
    client.hset(Job.key_for(first.turn_id), "status", "failed")  # e.g. abandoned by a killed worker
    assert await queue.enqueue(second)
    assert status(client, second.turn_id) == "queued"


async def test_a_head_taken_but_never_started_is_queued_again(redis_pair) -> None:  # type: ignore[no-untyped-def]
    """A worker that dies (or loses Redis) between the dequeue and RQ's start pipeline holds no
    lease; the session's next message puts its turn back rather than waiting behind it forever."""
    async_client, client = redis_pair
    queue = TurnQueue(async_client, client, QUEUE, job_timeout=30, result_ttl=60)
    lost, waiting, later = make_turn("L", "l0"), make_turn("L", "l1"), make_turn("L", "l2")
    await queue.enqueue(lost)
    assert client.lpop(f"rq:queue:{QUEUE}").decode() == lost.turn_id  # taken by a worker that dies
    assert not await queue.enqueue(waiting)  # moments later: it may still start, so nothing is done
    assert queued_ids(client) == []
    client.hset(Job.key_for(lost.turn_id), "lane_queued_at", time.time() - LOST_AFTER_SECONDS - 1)
    assert not await queue.enqueue(later)  # long since: back on the queue, still the lane's head
    assert queued_ids(client) == [lost.turn_id]
    client.hset(Job.key_for(lost.turn_id), "lane_queued_at", time.time() - LOST_AFTER_SECONDS - 1)
    await queue.enqueue(make_turn("L", "l3"))  # waiting that long behind a backlog: on its queue already
    assert queued_ids(client) == [lost.turn_id]  # not pushed twice
    assert [status(client, t.turn_id) for t in (waiting, later)] == ["deferred", "deferred"]


@pytest.mark.parametrize("worker_class", [PersonaWorker, SimpleWorker])
def test_rq_worker_runs_turns_in_session_order_and_publishes_replies(redis_pair, worker_class) -> None:  # type: ignore[no-untyped-def]
    """Our worker, and RQ's stock one (the job then waits for Redis on its lane step itself)."""
    async_client, client = redis_pair
    loop = asyncio.new_event_loop()
    try:
        _, db = connect(None, "lanes")
        runtime.install(runtime.build(Settings(persona_brain="demo"), db, client, loop.run_until_complete))
        pubsub = client.pubsub()
        pubsub.subscribe(keys.reply_channel("api-1"))
        queue = TurnQueue(async_client, client, QUEUE, job_timeout=30, result_ttl=60)
        turns = [make_turn("S", str(i)) for i in range(5)] + [make_turn("T", "t")]
        for turn in turns:
            loop.run_until_complete(queue.enqueue(turn))

        rq_queue = PersonaQueue(QUEUE, connection=client, serializer=JSONSerializer)
        worker = worker_class([rq_queue], connection=client, serializer=JSONSerializer)
        worker.work(burst=True, logging_level="WARNING")

        replies = []
        while (message := pubsub.get_message(timeout=0.1)) is not None or len(replies) < len(turns):
            if message and message["type"] == "message":
                replies.append(Reply.model_validate(json.loads(message["data"])))
        session_s = [r.text for r in replies if r.session_id == "S"]
        assert session_s == [f"Echo: {i}" for i in range(5)]
        history = loop.run_until_complete(HistoryStore(db).for_session("S"))
        assert [h.input_text for h in history] == [str(i) for i in range(5)]
        assert client.llen(keys.session_lane("S")) == 0
        assert queued_ids(client) == []
        # RQ's own view of the finished turns, as `rq info` and dashboards read it
        for turn in turns:
            job = Job.fetch(turn.turn_id, connection=client, serializer=JSONSerializer)
            assert job.get_status() == "finished"
            assert job.ended_at is not None
            assert job.ended_at >= job.started_at
            assert 0 < client.ttl(job.key) <= 60
        assert set(rq_queue.finished_job_registry.get_job_ids()) == {t.turn_id for t in turns}
        assert rq_queue.started_job_registry.get_job_ids() == []
        assert client.keys("rq:execution*") == []
        assert worker.get_state() == "idle"
        assert client.hget(worker.key, "state") == b"idle"
        assert int(client.hget(worker.key, "successful_job_count")) == len(turns)
    finally:
        loop.close()


def test_a_turn_past_the_job_timeout_is_cancelled_and_the_session_goes_on(redis_pair, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """RQ's SIGALRM cannot interrupt uvloop (it logs what the handler raises); the loop's own
    timeout stops the turn, the socket gets its fallback, and the session's next turn runs."""
    async_client, client = redis_pair
    loop = uvloop.new_event_loop()  # as in a worker process
    try:
        _, db = connect(None, "timeouts")
        rt = runtime.build(Settings(persona_brain="demo"), db, client, runtime.loop_runner(loop, timeout=0.3))
        runtime.install(rt)
        answered = TurnProcessor.answer

        async def hangs_on_slow(self: TurnProcessor, turn: Turn) -> Answer:
            if turn.text == "slow":
                await asyncio.sleep(30)  # a stalled store or model call
            return await answered(self, turn)

        monkeypatch.setattr(TurnProcessor, "answer", hangs_on_slow)
        pubsub = client.pubsub()
        pubsub.subscribe(keys.reply_channel("api-1"))
        queue = TurnQueue(async_client, client, QUEUE, job_timeout=30, result_ttl=60)
        slow, after = make_turn("S", "slow"), make_turn("S", "after")
        for turn in (slow, after):
            loop.run_until_complete(queue.enqueue(turn))

        rq_queue = PersonaQueue(QUEUE, connection=client, serializer=JSONSerializer)
        worker = PersonaWorker([rq_queue], connection=client, serializer=JSONSerializer)
        worker.work(burst=True, logging_level="WARNING")

        replies = []
        while len(replies) < 2 and (message := pubsub.get_message(timeout=1)) is not None:
            if message["type"] == "message":
                replies.append(Reply.model_validate(json.loads(message["data"])))
        assert [(r.turn_id, r.fallback) for r in replies] == [(slow.turn_id, True), (after.turn_id, False)]
        assert replies[1].text == "Echo: after"
        assert Job.fetch(slow.turn_id, connection=client, serializer=JSONSerializer).get_status() == "failed"
        history = loop.run_until_complete(HistoryStore(db).for_session("S"))
        assert [h.input_text for h in history] == ["after"]  # the cancelled turn wrote nothing
    finally:
        loop.close()


class FlakyLanes:
    """A LaneAdvancer whose Redis fails `failures` times first."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    def advance(self, session_id: str, turn_id: str, answer: object = None) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise redis.ConnectionError("Redis blinked")


@pytest.mark.parametrize(("failures", "moved"), [(2, True), (len(jobs.ADVANCE_RETRY_DELAYS) + 1, False)])
def test_a_lane_is_advanced_through_a_redis_blip(monkeypatch, failures: int, moved: bool) -> None:  # type: ignore[no-untyped-def]
    """Else the session's next turns would wait for the user's next message."""
    monkeypatch.setattr(jobs, "ADVANCE_RETRY_DELAYS", (0.0,) * len(jobs.ADVANCE_RETRY_DELAYS))
    lanes = FlakyLanes(failures)
    rt = SimpleNamespace(lanes=lanes)
    if moved:
        jobs.advance_lane_now(rt, make_turn("S", "hi"), None)  # type: ignore[arg-type]
        assert lanes.calls == failures + 1
    else:
        with pytest.raises(redis.ConnectionError):
            jobs.advance_lane_now(rt, make_turn("S", "hi"), None)  # type: ignore[arg-type]
        assert lanes.calls == len(jobs.ADVANCE_RETRY_DELAYS) + 1


def test_a_worker_takes_a_waiting_job_with_its_hash_in_queue_order(redis_pair) -> None:  # type: ignore[no-untyped-def]
    """PersonaQueue's one-round-trip dequeue keeps RQ's: queues in order, jobs whose hash is gone skipped."""
    _, client = redis_pair
    turns, thoughts = (PersonaQueue(name, connection=client, serializer=JSONSerializer) for name in ("t", "th"))
    thought = thoughts.enqueue("worker.thinking.think", "ava")
    client.rpush(turns.key, "expired-job")  # on the queue, its hash gone
    turn = turns.enqueue(RUN_TURN, make_turn("S", "hi").model_dump_json())

    def take() -> tuple[str, str, tuple[object, ...]] | None:
        taken = PersonaQueue.dequeue_any([turns, thoughts], None, client, serializer=JSONSerializer)
        return None if taken is None else (taken[1].name, taken[0].id, tuple(taken[0].args))

    assert take() == ("t", turn.id, tuple(turn.args))
    assert take() == ("th", thought.id, ("ava",))
    assert take() is None
    assert client.llen(turns.key) == client.llen(thoughts.key) == 0
