"""Turn leases: an expired lease puts a started turn back on its queue, a few times at most."""

import time

import fakeredis
import pytest
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from app.bus import keys
from app.bus.connections import RedisClients
from app.bus.lanes import Lanes
from app.bus.leases import LEASE_SECONDS, MAX_RETRIES, Leases
from app.bus.queue import TurnQueue, turn_queue
from tests.conftest import make_turn
from worker.leases import recover


@pytest.fixture
def clients() -> RedisClients:
    server = fakeredis.FakeServer()
    return RedisClients(fakeredis.FakeAsyncRedis(server=server), fakeredis.FakeRedis(server=server), embedded=True)


async def taken_by_a_worker_that_dies(clients: RedisClients, job_id: str) -> None:
    """What a worker leaves behind when it is killed mid-turn: the job off its queue, started,
    with an RQ Execution in RQ's started registry, and a lease nobody renews."""
    client = clients.sync_client
    queue = turn_queue(client, "turns")
    client.lrem(queue.key, 1, job_id)
    job = Job.fetch(job_id, connection=client, serializer=JSONSerializer)
    with client.pipeline() as pipe:
        Execution.create(job, 90, pipeline=pipe, worker_name="dead-worker")
        job.prepare_for_execution("dead-worker", pipeline=pipe)
        pipe.zadd(keys.turn_leases(), {job_id: time.time() - 1})
        pipe.execute()


async def test_a_dead_workers_turn_is_requeued_then_given_up(clients: RedisClients) -> None:
    client = clients.sync_client
    queue = TurnQueue(clients.async_client, client, "turns", job_timeout=30, result_ttl=60)
    rq_queue = turn_queue(client, "turns")
    lanes = Lanes(rq_queue, clients.async_client)
    first, second = make_turn("S", "one"), make_turn("S", "two")
    await queue.enqueue(first)
    await queue.enqueue(second)  # waits in the lane behind `first`
    leases = Leases(clients.async_client)

    for run in range(MAX_RETRIES + 1):
        await taken_by_a_worker_that_dies(clients, first.turn_id)
        assert rq_queue.started_job_registry.get_job_ids() == [first.turn_id]
        [claimed] = await leases.claim_expired(time.time())
        assert claimed == first.turn_id
        outcome = await recover(rq_queue, clients.async_client, lanes, claimed)
        assert rq_queue.started_job_registry.get_job_ids() == []  # the dead worker's execution is gone
        if run < MAX_RETRIES:
            assert outcome == "requeued"
            assert client.lrange(rq_queue.key, 0, -1) == [first.turn_id.encode()]
            assert client.hget(Job.key_for(first.turn_id), "status") == b"queued"
    assert outcome == "given up"
    assert client.hget(Job.key_for(first.turn_id), "status") == b"failed"
    assert rq_queue.failed_job_registry.get_job_ids() == [first.turn_id]
    assert client.ttl(Job.key_for(first.turn_id)) > 0  # kept for a while like any failed job, not forever
    assert client.lrange(rq_queue.key, 0, -1) == [second.turn_id.encode()]  # the lane moved on
    assert client.hget(Job.key_for(second.turn_id), "status") == b"queued"


async def test_a_live_lease_and_finished_turns_are_left_alone(clients: RedisClients) -> None:
    client = clients.sync_client
    queue = TurnQueue(clients.async_client, client, "turns", job_timeout=30, result_ttl=60)
    rq_queue = turn_queue(client, "turns")
    turn = make_turn("T", "done")
    await queue.enqueue(turn)
    leases = Leases(clients.async_client)
    await leases.renew([turn.turn_id], time.time())  # renews only leases that exist
    assert client.zcard(keys.turn_leases()) == 0
    await taken_by_a_worker_that_dies(clients, turn.turn_id)
    client.zadd(keys.turn_leases(), {turn.turn_id: time.time() + LEASE_SECONDS})
    assert await leases.claim_expired(time.time()) == []  # still alive as far as anyone knows
    client.hset(Job.key_for(turn.turn_id), "status", JobStatus.FINISHED)
    lanes = Lanes(rq_queue, clients.async_client)
    assert await recover(rq_queue, clients.async_client, lanes, turn.turn_id) == "ended"
    assert client.lrange(rq_queue.key, 0, -1) == []
