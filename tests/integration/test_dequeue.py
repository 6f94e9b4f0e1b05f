"""PersonaQueue's waiting dequeue on a real redis-server: each waiting worker blocks on a wake list
of its own, stacked on the queue's idle list; a queued turn wakes the worker that went idle last,
and the take script, sent right behind the wait, takes the job (the pipelining of a blocking
command is Redis's behaviour, so it is tested against Redis itself)."""

import asyncio
import threading
import time
from collections.abc import Callable

import pytest
import redis
import redis.asyncio as aioredis
from rq.exceptions import DequeueTimeout
from rq.job import Job
from rq.serializers import JSONSerializer

from app.bus.queue import TurnQueue
from app.settings import Settings
from app.turns import Turn
from tests.conftest import make_turn
from worker import rq_worker
from worker.rq_worker import PersonaQueue, PersonaWorker, worker_queues

SETTINGS = Settings(queue_name="t", thoughts_queue_name="th")
Taken = tuple[Job, PersonaQueue]


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def enqueue(redis_url: str, turn: Turn) -> None:
    """As the API does: the lane script queues the turn and wakes a waiting worker."""

    async def run() -> None:
        async_client = aioredis.Redis.from_url(redis_url)
        queue = TurnQueue(async_client, redis.Redis.from_url(redis_url), "t", job_timeout=30, result_ttl=60)
        await queue.enqueue(turn)
        await async_client.aclose()

    asyncio.run(run())


def wait_in_thread(client: redis.Redis, queues: list[PersonaQueue], result: list[Taken]) -> threading.Thread:
    def run() -> None:
        taken = PersonaQueue.dequeue_any(queues, 60, client, serializer=JSONSerializer)
        assert taken is not None
        result.append(taken)  # type: ignore[arg-type]

    waiting = threading.Thread(target=run, daemon=True)
    waiting.start()
    return waiting


def idle_list(client: redis.Redis) -> list[str]:
    return [key.decode() for key in client.lrange(worker_queues(client, SETTINGS)[0].spot.idle_list, 0, -1)]


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


def test_a_waiting_worker_is_woken_by_a_queued_turn(client: redis.Redis, redis_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(rq_worker, "IDLE_WAIT_SECONDS", 60)  # so only the wake can end the wait
    queues = worker_queues(client, SETTINGS)
    result: list[Taken] = []
    waiting = wait_in_thread(client, queues, result)
    until(lambda: idle_list(client) == [queues[0].spot.wake_list])

    turn = make_turn("S", "hello")
    enqueue(redis_url, turn)
    waiting.join(10)

    assert not waiting.is_alive()
    taken, queue = result[0]
    assert (taken.id, queue.name, tuple(taken.args)) == (turn.turn_id, "t", (turn.model_dump_json(),))
    assert client.hget(taken.key, "status") == b"started"  # marked and leased in the same call
    assert client.llen(queue.key) == 0
    assert idle_list(client) == []  # it left the idle list as it took the job
    assert not client.exists(queues[0].spot.wake_list)


def test_the_worker_that_went_idle_last_is_woken_first(client: redis.Redis, redis_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(rq_worker, "IDLE_WAIT_SECONDS", 60)
    earlier, later = worker_queues(client, SETTINGS), worker_queues(client, SETTINGS)
    earlier_result: list[Taken] = []
    later_result: list[Taken] = []
    earlier_waiting = wait_in_thread(client, earlier, earlier_result)
    until(lambda: idle_list(client) == [earlier[0].spot.wake_list])
    later_waiting = wait_in_thread(client, later, later_result)
    until(lambda: idle_list(client) == [later[0].spot.wake_list, earlier[0].spot.wake_list])

    first, second = make_turn("A", "one"), make_turn("B", "two")
    enqueue(redis_url, first)
    later_waiting.join(10)
    assert [job.id for job, _ in later_result] == [first.turn_id]
    assert earlier_waiting.is_alive()  # still waiting, still on the idle list
    assert idle_list(client) == [earlier[0].spot.wake_list]

    enqueue(redis_url, second)
    earlier_waiting.join(10)
    assert [job.id for job, _ in earlier_result] == [second.turn_id]


def test_a_wake_lost_on_a_dead_worker_leaves_the_turn_to_the_others(  # type: ignore[no-untyped-def]
    client: redis.Redis, redis_url: str, monkeypatch
) -> None:
    monkeypatch.setattr(rq_worker, "IDLE_WAIT_SECONDS", 1)
    live = worker_queues(client, SETTINGS)
    result: list[Taken] = []
    waiting = wait_in_thread(client, live, result)
    until(lambda: idle_list(client) == [live[0].spot.wake_list])
    dead = worker_queues(client, SETTINGS)[0].spot.wake_list
    client.lpush(live[0].spot.idle_list, dead)  # it went idle after the live one, then was killed

    turn = make_turn("S", "hello")
    enqueue(redis_url, turn)  # the token goes to the dead worker
    waiting.join(10)  # the live one looks at the queue when its wait ends

    assert [job.id for job, _ in result] == [turn.turn_id]
    assert dead not in idle_list(client)


def test_an_idle_wait_ends_in_rq_timeout_and_then_looks_at_every_queue(client: redis.Redis, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A thought, enqueued by stock RQ, wakes nobody: it is taken when a wait ends."""
    monkeypatch.setattr(rq_worker, "IDLE_WAIT_SECONDS", 1)
    queues = worker_queues(client, SETTINGS)
    with pytest.raises(DequeueTimeout):
        PersonaQueue.dequeue_any(queues, 30, client, serializer=JSONSerializer)
    assert idle_list(client) == [queues[0].spot.wake_list]  # still idle: it keeps its place

    result: list[Taken] = []
    waiting = wait_in_thread(client, queues, result)
    time.sleep(0.3)
    thought = queues[1].enqueue("worker.thinking.think", "ava")
    waiting.join(5)
    taken, queue = result[0]
    assert (taken.id, queue.name) == (thought.id, "th")
    assert client.hget(taken.key, "status") == b"queued"  # thoughts are not leased; RQ starts them


def test_a_worker_that_stops_leaves_the_idle_list_and_passes_on_its_wake(  # type: ignore[no-untyped-def]
    client: redis.Redis, redis_url: str, monkeypatch
) -> None:
    monkeypatch.setattr(rq_worker, "IDLE_WAIT_SECONDS", 1)
    other = worker_queues(client, SETTINGS)[0].spot
    client.lpush(other.idle_list, other.wake_list)  # a worker that went idle earlier
    worker = PersonaWorker(worker_queues(client, SETTINGS), connection=client, serializer=JSONSerializer)
    worker.register_birth()
    with pytest.raises(DequeueTimeout):
        PersonaQueue.dequeue_any(worker.queues, 30, client, serializer=JSONSerializer)
    assert idle_list(client) == [worker.queues[0].spot.wake_list, other.wake_list]

    enqueue(redis_url, make_turn("S", "hello"))  # wakes the stopping worker, which will not take it
    worker.register_death()
    assert idle_list(client) == []
    assert client.lrange(other.wake_list, 0, -1) == [b"1"]  # the wake went on to the other worker
    assert not client.exists(worker.queues[0].spot.wake_list)
