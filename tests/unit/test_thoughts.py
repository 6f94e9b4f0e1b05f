"""The thinking loop: pure reflection, one schedule per period, nudges within the rate limit."""

import json
import time

import fakeredis
import pytest
from rq import Queue
from rq.serializers import JSONSerializer

from app.brains import make_worker_brains
from app.bus import keys, presence
from app.bus.connections import RedisClients
from app.catalog import load_catalog
from app.persona.emotion import apply_deltas, initial_state
from app.persona.memory import Exchange, next_topics
from app.persona.thoughts import Activity, reflect
from app.settings import Settings
from app.store.mongo import connect
from app.store.state import StateStore
from app.store.thoughts import ThoughtStore
from worker.runtime import make_worker
from worker.scheduler import schedule_once

PROFILE = load_catalog(Settings().personas_file, "lite", "default").get("default")


def test_reflection_depends_on_mood_and_activity_only() -> None:
    calm = initial_state(PROFILE.baseline, 0.0)
    quiet = reflect(PROFILE, calm, Activity(), 10.0, seed=1)
    assert quiet.emotion_deltas == {}  # nobody spoke: nothing to feel about
    busy = reflect(PROFILE, calm, Activity(live_sessions=5, recent_sessions=4), 10.0, seed=1)
    assert busy.emotion_deltas["joy"] > 0
    upset = apply_deltas(calm, {"anger": 0.9}, PROFILE.baseline, PROFILE.half_life_seconds, 0.0)
    regulate = reflect(PROFILE, upset, Activity(live_sessions=1, recent_sessions=1), 10.0, seed=1)
    assert regulate.mood == "anger"
    assert regulate.emotion_deltas == {"anger": -0.15}
    assert reflect(PROFILE, calm, Activity(), 10.0, seed=1) == quiet  # deterministic


def test_a_persona_is_scheduled_once_per_period_however_many_schedulers_run() -> None:
    client = fakeredis.FakeRedis()
    settings = Settings(thought_interval_seconds=60)
    first = schedule_once(client, settings, ["default", "sage"], now=600.0)
    second = schedule_once(client, settings, ["default", "sage"], now=630.0)  # same period, another scheduler
    third = schedule_once(client, settings, ["default", "sage"], now=661.0)  # next period
    assert first == ["default", "sage"]
    assert second == []
    assert third == ["default", "sage"]
    assert client.llen(f"rq:queue:{settings.thoughts_queue_name}") == 4


async def test_thinking_stores_a_thought_and_nudges_an_idle_session_once_about_its_own_topics() -> None:
    server = fakeredis.FakeServer()
    clients = RedisClients(fakeredis.FakeAsyncRedis(server=server), fakeredis.FakeRedis(server=server), embedded=True)
    client = clients.sync_client
    settings = Settings(idle_speak_after_seconds=30, spontaneous_min_gap_seconds=600)
    _, db = connect(None, "thinking")
    now = time.time()
    sessions = (("idle-session", 120), ("busy-session", 0), ("gone-session", 120), ("bye-session", 120))
    for session_id, quiet_for in sessions:
        await presence.touch(clients.async_client, "default", session_id, now - quiet_for)
    client.set(keys.session_route("idle-session"), "api-1")  # gone-session's socket is gone: no route
    client.set(keys.session_route("busy-session"), "api-1")
    client.set(keys.session_route("bye-session"), "api-1")
    memory = StateStore(db).session_memory
    for session_id, said in (("idle-session", "I planted tomatoes in my garden"), ("bye-session", "Thanks, bye!")):
        exchange = Exchange(turn_id=f"{session_id}-1", user_text=said, reply_text="...", at=now - 120)
        await memory.append(session_id, exchange, next_topics([], exchange), 10, user_id="u1")
    pubsub = clients.async_client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(keys.reply_channel("api-1"))

    queue = Queue(settings.thoughts_queue_name, connection=client, serializer=JSONSerializer)
    for _ in range(2):  # two thinking runs inside the rate-limit window
        queue.enqueue("worker.thinking.think", "default")
    await make_worker(settings, db, clients, make_worker_brains(settings), 30).run(burst=True, install_signals=False)

    nudges = []
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        if (message := await pubsub.get_message(timeout=0.1)) is not None:
            nudges.append(json.loads(message["data"]))
    assert [n["session_id"] for n in nudges] == ["idle-session"]  # not the one that said goodbye
    assert nudges[0]["turn_id"] is None  # unprompted
    assert "your garden" in nudges[0]["text"]  # its own topic, never another session's
    thoughts = await ThoughtStore(db).latest("default")
    assert len(thoughts) == 2
    assert client.zscore(keys.live_sessions("default"), "gone-session") is None
    await pubsub.aclose()


@pytest.mark.parametrize("interval", [0])
def test_the_interval_must_be_positive(interval: int) -> None:
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        Settings(thought_interval_seconds=interval)
