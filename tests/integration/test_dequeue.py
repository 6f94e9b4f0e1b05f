"""PersonaQueue's waiting dequeue on a real redis-server: BLMOVE to the hand-off list with the take
script sent behind it (the pipelining of a blocking command is Redis's behaviour, so it is tested
against Redis itself)."""

import threading
import time

import pytest
import redis
from rq.exceptions import DequeueTimeout
from rq.serializers import JSONSerializer

from app.bus.queue import RUN_TURN
from tests.conftest import make_turn
from worker import rq_worker
from worker.rq_worker import PersonaQueue


def queues(client: redis.Redis) -> tuple[PersonaQueue, PersonaQueue]:
    turns, thoughts = (PersonaQueue(name, connection=client, serializer=JSONSerializer) for name in ("t", "th"))
    return turns, thoughts


def test_a_waiting_worker_takes_a_turn_enqueued_while_it_waits(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    turns, thoughts = queues(client)
    result: list[object] = []
    waiting = threading.Thread(
        target=lambda: result.append(PersonaQueue.dequeue_any([turns, thoughts], 5, client, serializer=JSONSerializer))
    )
    waiting.start()
    time.sleep(0.3)  # the worker is blocked in BLMOVE by now
    turn = make_turn("S", "hello")
    job = turns.enqueue(RUN_TURN, turn.model_dump_json())
    waiting.join(5)

    assert not waiting.is_alive()
    taken, queue = result[0]  # type: ignore[misc]
    assert (taken.id, queue.name, tuple(taken.args)) == (job.id, "t", (turn.model_dump_json(),))
    assert client.llen(turns.key) == 0
    assert not client.exists(rq_worker._HANDOFF)  # nothing left behind


def test_an_idle_wait_ends_in_rq_timeout_and_then_looks_at_every_queue(redis_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The wait blocks on turns only; a thought that arrived meanwhile is taken when it ends."""
    monkeypatch.setattr(rq_worker, "IDLE_WAIT_SECONDS", 1)
    client = redis.Redis.from_url(redis_url)
    turns, thoughts = queues(client)
    with pytest.raises(DequeueTimeout):
        PersonaQueue.dequeue_any([turns, thoughts], 30, client, serializer=JSONSerializer)

    result: list[object] = []
    waiting = threading.Thread(
        target=lambda: result.append(PersonaQueue.dequeue_any([turns, thoughts], 30, client, serializer=JSONSerializer))
    )
    waiting.start()
    time.sleep(0.3)
    thought = thoughts.enqueue("worker.thinking.think", "ava")
    waiting.join(5)
    taken, queue = result[0]  # type: ignore[misc]
    assert (taken.id, queue.name) == (thought.id, "th")


def test_a_job_stranded_in_the_hand_off_list_is_taken_first(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    turns, thoughts = queues(client)
    stranded = turns.enqueue(RUN_TURN, make_turn("S", "first").model_dump_json())
    client.lmove(turns.key, rq_worker._HANDOFF, "LEFT", "RIGHT")  # as if the take script had failed
    later = turns.enqueue(RUN_TURN, make_turn("T", "second").model_dump_json())

    first = PersonaQueue.dequeue_any([turns, thoughts], 5, client, serializer=JSONSerializer)
    second = PersonaQueue.dequeue_any([turns, thoughts], 5, client, serializer=JSONSerializer)
    assert first is not None
    assert second is not None
    assert [(first[0].id, first[1].name), (second[0].id, second[1].name)] == [(stranded.id, "t"), (later.id, "t")]
