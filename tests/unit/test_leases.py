"""Turn leases: an expired lease puts a started turn back on its queue, a few times at most."""

import logging

import fakeredis
import pytest
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from app.bus import keys
from app.bus.leases import LEASE_SECONDS, MAX_RETRIES, Leases
from app.bus.queue import RUN_TURN, LaneAdvancer, TurnQueue
from app.settings import Settings
from tests.conftest import make_turn
from worker.leases import LeaseKeeper
from worker.rq_worker import PersonaQueue, PersonaWorker, worker_queues


@pytest.fixture
def clients():  # type: ignore[no-untyped-def]
    server = fakeredis.FakeServer()
    return fakeredis.FakeAsyncRedis(server=server), fakeredis.FakeRedis(server=server)


async def test_a_dead_workers_turn_is_requeued_then_given_up(clients) -> None:  # type: ignore[no-untyped-def]
    async_client, client = clients
    queue = TurnQueue(async_client, client, "turns", job_timeout=30, result_ttl=60)
    first, second = make_turn("S", "one"), make_turn("S", "two")
    await queue.enqueue(first)
    await queue.enqueue(second)  # waits in the lane behind `first`
    assert client.ttl(Job.key_for(second.turn_id)) > 0  # a deferred turn of an abandoned lane expires
    client.lpop("rq:queue:turns")  # a worker took `first`...
    client.hset(Job.key_for(first.turn_id), "status", "started")
    leases = Leases(client)
    leases.hold(first.turn_id, now=100.0)  # ...and died holding its lease

    assert leases.reap(now=100.0 + LEASE_SECONDS - 1) == ([], [])  # still alive as far as we know
    clock = 100.0
    for _ in range(MAX_RETRIES):
        clock += 2 * LEASE_SECONDS  # the lease has lapsed
        client.lpush(keys.idle_workers("turns"), "a-waiting-worker")
        assert leases.reap(now=clock) == ([first.turn_id], [])
        assert client.lrange("rq:queue:turns", 0, -1) == [first.turn_id.encode()]
        assert client.lpop("a-waiting-worker") is not None  # the requeued turn woke it
        client.lpop("rq:queue:turns")  # picked up again, and that worker dies too
        client.hset(Job.key_for(first.turn_id), "status", "started")
        leases.hold(first.turn_id, now=clock)
    assert leases.reap(now=clock + 2 * LEASE_SECONDS) == ([], [first.turn_id])  # enough: given up
    assert client.hget(Job.key_for(first.turn_id), "status") == b"failed"
    assert client.ttl(Job.key_for(first.turn_id)) > 0  # kept for a while like any failed job, not forever
    assert LaneAdvancer(client).advance("S", first.turn_id) == second.turn_id  # the lane moves on


async def test_finished_turns_and_released_leases_are_left_alone(clients) -> None:  # type: ignore[no-untyped-def]
    async_client, client = clients
    queue = TurnQueue(async_client, client, "turns", job_timeout=30, result_ttl=60)
    turn = make_turn("T", "done")
    await queue.enqueue(turn)
    client.hset(Job.key_for(turn.turn_id), "status", "finished")
    leases = Leases(client)
    leases.hold(turn.turn_id, now=0.0)
    assert leases.reap(now=1000.0) == ([], [])  # finished: nothing to redo
    leases.hold(turn.turn_id, now=0.0)
    LaneAdvancer(client).advance("T", turn.turn_id)  # the turn ended: its lease goes with it
    assert client.zcard(keys.turn_leases()) == 0


def test_a_worker_leases_turns_as_it_takes_them_and_defers_their_rq_start(clients) -> None:  # type: ignore[no-untyped-def]
    """A turn is marked started and leased in the same call that takes it, so no moment of its run
    is unleased; nothing renews a lease for a thought, so it takes none (it would be re-run while
    it runs). RQ's start writes go at once for a thought, and after the turn's first send (its
    reply) for a turn."""
    _, client = clients
    queues = worker_queues(client, Settings(_env_file=None))  # type: ignore[call-arg]
    worker = PersonaWorker(queues, connection=client, serializer=JSONSerializer)
    turn = queues[0].enqueue(RUN_TURN, make_turn("L", "hi").model_dump_json())
    thought = queues[1].enqueue("worker.thinking.think", "ava")
    taken = [PersonaQueue.dequeue_any(queues, None, client, serializer=JSONSerializer) for _ in range(2)]
    assert [(job.id, queue.name) for job, queue in taken] == [(turn.id, queues[0].name), (thought.id, queues[1].name)]
    assert client.hget(turn.key, "status") == b"started"
    assert client.zscore(keys.turn_leases(), turn.id) is not None
    assert client.zscore(keys.turn_leases(), thought.id) is None

    worker.prepare_execution(thought)
    worker.prepare_job_execution(thought)
    assert client.hget(thought.key, "status") == b"started"
    assert client.hget(thought.key, "worker_name") == worker.name.encode()

    worker.prepare_job_execution(turn)
    assert client.hget(turn.key, "worker_name") == b""  # deferred
    worker.outbox.send("reply", [("PUBLISH", "somewhere", "the reply")])
    worker.outbox.confirm()
    assert client.hget(turn.key, "worker_name") == worker.name.encode()
    assert client.ttl(turn.key) == -1  # RQ's bookkeeping: the job hash is kept while it runs


def test_the_lease_keeper_outlives_a_job_it_cannot_read(clients, caplog) -> None:  # type: ignore[no-untyped-def]
    """A given-up job that is not a turn used to raise out of the keeper's thread and end it."""
    _, client = clients
    thoughts = Queue("thoughts", connection=client, serializer=JSONSerializer)
    job = thoughts.enqueue("worker.thinking.think", "ava")
    client.hset(job.key, mapping={"status": "started", "persona_retries": MAX_RETRIES})
    client.zadd(keys.turn_leases(), {job.id: 0.0})  # long expired
    keeper = LeaseKeeper(client, LaneAdvancer(client))
    with caplog.at_level(logging.ERROR):
        keeper.tick()  # gives the job up, fails to read it as a turn, and carries on
        keeper.tick()
    assert any("lease keeping failed" in r.getMessage() for r in caplog.records)
    assert client.hget(job.key, "status") == b"failed"
