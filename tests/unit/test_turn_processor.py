"""The worker's turn path against the store: state changes, idempotency, expiry, concurrency."""

import asyncio
import time
from typing import Any, cast

import pytest
from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo.errors import AutoReconnect

from app.brains import BrainSet, make_worker_brains
from app.bus.interruptions import Interruption
from app.catalog import load_catalog
from app.persona.brains import BrainOutput
from app.persona.memory import UserMemory
from app.persona.relationship import Relationship
from app.settings import Settings
from app.store.history import HistoryStore
from app.store.mongo import HISTORY, STATE
from app.store.mood import COMPACT_AFTER
from app.store.state import StateStore, user_key
from tests.conftest import YieldingDatabase, make_turn, process
from tests.support.stack import eventually
from worker import turns
from worker.speaker import Speaker
from worker.turns import TurnProcessor

CATALOG = load_catalog(Settings().personas_file, "lite", "default")


async def relationship_of(db, persona_id: str, user_id: str):
    return (await StateStore(db).relationship.read(user_key(persona_id, user_id), Relationship)).value


async def memory_of(db, session_id: str):
    return await StateStore(db).session_memory.read(session_id)


def processor_for(db, brain: str = "demo") -> TurnProcessor:
    return TurnProcessor(
        brains=make_worker_brains(Settings(_env_file=None, persona_brain=brain)),
        catalog=CATALOG,
        state=StateStore(db),
        history=HistoryStore(db),
        session_memory_turns=10,
        user_memory_facts=50,
    )


async def test_a_turn_updates_emotion_relationship_memory_and_history(db) -> None:
    processor = processor_for(db)
    reply = await process(processor, make_turn("s1", "", kind="init"))
    assert reply is not None
    assert reply.text == "Hi there!"
    assert not reply.fallback
    baseline = CATALOG.get("default").baseline
    emotion = (await StateStore(db).mood.read(CATALOG.get("default"))).current
    assert emotion.values["joy"] > baseline["joy"]
    relationship = await relationship_of(db, "default", "user-of-s1")
    assert relationship.interactions == 1
    assert relationship.affinity > 0
    memory = await memory_of(db, "s1")
    assert memory.turn_count == 1
    assert memory.recent[0].reply_text == "Hi there!"
    [entry] = await HistoryStore(db).for_session("s1")
    assert entry.output_text == "Hi there!"
    assert entry.status == "answered"
    assert entry.enqueued_at <= entry.started_at <= entry.finished_at


async def test_a_turn_delivered_twice_changes_state_once(db) -> None:
    processor = processor_for(db)
    turn = make_turn("s1", "show card")
    first = await process(processor, turn)
    second = await process(processor, turn)
    assert first == second
    assert second is not None
    assert "cat" in second.cards
    assert (await relationship_of(db, "default", "user-of-s1")).interactions == 1
    assert (await memory_of(db, "s1")).turn_count == 1
    assert len(await HistoryStore(db).for_session("s1")) == 1


async def test_a_turn_without_emotional_change_writes_no_emotion(db) -> None:
    await process(processor_for(db), make_turn("s1", "just echo this"))
    assert await db[STATE].find_one({"_id": "mood:default"}) is None
    assert (await relationship_of(db, "default", "user-of-s1")).interactions == 1


async def test_a_turn_that_expired_in_the_queue_is_recorded_not_answered(db) -> None:
    processor = processor_for(db)
    reply = await process(processor, make_turn("s1", "too late", deadline_at=time.time() - 1))
    assert reply is None
    [entry] = await HistoryStore(db).for_session("s1")
    assert entry.status == "expired"
    assert entry.fallback
    assert entry.input_text == "too late"
    assert (await relationship_of(db, "default", "user-of-s1")).interactions == 0


async def test_concurrent_turns_on_shared_state_compose(db) -> None:
    """50 turns at once: 5 sessions of one user, one persona. Every change must land exactly once."""
    processor = processor_for(YieldingDatabase(db))
    turns = [make_turn(f"s{i % 5}", "show card", user_id="same-user") for i in range(50)]  # each moves emotion
    replies = await asyncio.gather(*(process(processor, turn) for turn in turns))
    assert all(reply is not None for reply in replies)
    relationship = await relationship_of(db, "default", "same-user")
    assert relationship.interactions == 50
    memories = [await memory_of(db, f"s{i}") for i in range(5)]
    assert sum(m.turn_count for m in memories) == 50
    assert sorted(await mood_changes(db)) == sorted(t.turn_id for t in turns)


async def test_two_hundred_turns_in_flight_on_one_persona_all_move_its_mood_once(db) -> None:
    """Every turn of a persona writes its shared mood: none may fail or be lost, however many at once."""
    processor = processor_for(YieldingDatabase(db))
    turns = [make_turn(f"s{i}", "show card") for i in range(200)]
    replies = await asyncio.gather(*(process(processor, turn) for turn in turns))
    assert all(reply is not None for reply in replies)
    assert sorted(await mood_changes(db)) == sorted(t.turn_id for t in turns)
    joy = (await StateStore(db).mood.read(CATALOG.get("default"))).current.values["joy"]
    assert joy > CATALOG.get("default").baseline["joy"]


class ModelLike:
    """The parts of a brain these tests do not exercise: a model-backed brain's name and its
    lifecycle."""

    name = "llm"

    async def health(self):
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


class SlowBrain(ModelLike):
    """Answers after `seconds`, as a model does: its turns stay in flight a while."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def respond(self, ctx, say):
        await asyncio.sleep(self.seconds)
        await say("Here I am.")
        return BrainOutput(text="Here I am.", emotion_deltas={"joy": 0.01})


async def test_a_persona_s_pending_mood_changes_stay_few_however_long_its_turns_are_in_flight(db) -> None:
    """A turn folds what it read pending as it starts; folded at settle, from a read as old as the
    turn, the fold lost its race and hundreds stayed pending, each read parsing all of them."""
    processor = processor_for(YieldingDatabase(db))
    processor.brains = BrainSet({"llm": SlowBrain(1.0)}, "llm")
    turns, starting = 400, asyncio.Event()
    seen: list[int] = []  # pending changes, read by a reader arriving as the turns do

    async def turn(i: int) -> None:
        await asyncio.sleep(i * 0.004)  # ~250 in flight once they overlap
        if i == turns - 1:
            starting.set()
        await process(processor, make_turn(f"slow-{i}", "hello"))

    async def reader() -> None:
        while not starting.is_set():
            seen.append(len((await StateStore(db).mood.read(CATALOG.get("default"))).pending))
            await asyncio.sleep(0.005)

    await asyncio.gather(reader(), *(turn(i) for i in range(turns)))
    assert len(await mood_changes(db)) == turns  # every change landed once
    assert max(seen[len(seen) // 2 :]) <= 3 * COMPACT_AFTER  # once the turns overlap, ~250 in flight


async def mood_changes(db) -> list[str]:
    """The ids of every change the persona's mood holds, folded or pending."""
    doc = await db[STATE].find_one({"_id": "mood:default"})
    return [*doc.get("applied", []), *(change["op_id"] for change in doc.get("pending", []))]


async def test_memory_follows_the_user_across_sessions_and_channels_but_not_to_others(db) -> None:
    processor = processor_for(db, brain="rules")
    await process(processor, make_turn("sm-session", "My name is Sam", user_id="sam", channel="soulmachines"))
    await process(processor, make_turn("sm-session", "I play the cello", user_id="sam", channel="soulmachines"))
    other_door = await process(processor, make_turn("rest-session", "what do I play?", user_id="sam", channel="rest"))
    assert other_door is not None
    assert "cello" in other_door.text
    greeting = await process(processor, make_turn("new-session", "", kind="init", user_id="sam"))
    assert greeting is not None
    assert "Sam" in greeting.text
    stranger = await process(processor, make_turn("x-session", "what's my name?", user_id="eve"))
    assert stranger is not None
    assert "Sam" not in stranger.text
    assert "cello" not in stranger.text


class FlakyDatabase:
    """A database whose `collection` fails its next `failures` writes, as in a MongoDB failover."""

    def __init__(self, database: Any, collection: str, failures: int) -> None:
        self._database, self._collection, self.failures = database, collection, failures

    def __getitem__(self, name: str) -> Any:
        real = self._database[name]
        return _FlakyCollection(real, self) if name == self._collection else real


class _FlakyCollection:
    def __init__(self, collection: Any, owner: FlakyDatabase) -> None:
        self._collection, self._owner = collection, owner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._collection, name)
        if name not in ("update_one", "insert_one"):
            return attr

        async def write(*args: Any, **kwargs: Any) -> Any:
            if self._owner.failures > 0:
                self._owner.failures -= 1
                raise AutoReconnect("injected: primary stepped down")
            return await attr(*args, **kwargs)

        return write


def flaky(database: Any, collection: str, failures: int) -> AsyncIOMotorDatabase[Any]:
    """A FlakyDatabase, typed as the stores take a database (it stands in for one)."""
    return cast(AsyncIOMotorDatabase[Any], FlakyDatabase(database, collection, failures))


async def test_a_turn_failing_half_way_is_seen_through_and_stored_whole(db, monkeypatch, caplog) -> None:
    monkeypatch.setattr(turns, "STORE_RETRY_DELAYS", (0.01, 0.01, 0.01))
    processor = processor_for(db)  # the history entry lands, then the relationship write fails twice
    processor.state.relationship = StateStore(flaky(db, STATE, failures=2)).relationship
    reply = await process(processor, make_turn("s-failover", "hello"))
    assert reply is not None
    assert reply.text == "Echo: hello"
    assert (await relationship_of(db, "default", "user-of-s-failover")).interactions == 1
    assert (await memory_of(db, "s-failover")).turn_count == 1
    assert [e.input_text for e in await HistoryStore(db).for_session("s-failover")] == ["hello"]
    assert any("half-written" in r.getMessage() for r in caplog.records)


async def test_a_turn_failing_before_anything_landed_stores_nothing(db, monkeypatch) -> None:
    monkeypatch.setattr(turns, "STORE_RETRY_DELAYS", (0.01, 0.01, 0.01))
    processor = processor_for(db)
    processor.history = HistoryStore(flaky(db, HISTORY, failures=1))
    with pytest.raises(AutoReconnect):  # its record failed: no retry, no reply, a fallback now
        await processor.answer(make_turn("s-down", "hello"))
    assert (await relationship_of(db, "default", "user-of-s-down")).interactions == 0
    assert (await memory_of(db, "s-down")).turn_count == 0
    assert await HistoryStore(db).for_session("s-down") == []


async def test_an_outage_outlasting_the_retries_is_logged_with_what_landed(db, monkeypatch, caplog) -> None:
    monkeypatch.setattr(turns, "STORE_RETRY_DELAYS", (0.01, 0.01))
    processor = processor_for(db)
    processor.state.relationship = StateStore(flaky(db, STATE, failures=10)).relationship
    with pytest.raises(AutoReconnect):
        await process(processor, make_turn("s-long", "hello"))
    [message] = [r.getMessage() for r in caplog.records if "left half-written" in r.getMessage()]
    assert "relationship" in message
    assert "history" in message


async def test_the_reply_is_recorded_before_state_settles_and_a_rerun_settles_it_once(db) -> None:
    """A worker that dies after publishing but before settling: the turn run again answers with
    the recorded reply and applies the recorded changes, once."""
    processor = processor_for(db, brain="rules")
    turn = make_turn("s-crash", "My name is Sam", user_id="sam")
    first = await processor.answer(turn)  # recorded and publishable; the worker dies here
    assert first.reply is not None
    [entry] = await HistoryStore(db).for_session("s-crash")
    assert entry.output_text == first.reply.text
    assert (await relationship_of(db, "default", "sam")).interactions == 0  # not settled yet

    again = await process(processor, turn)  # the lease lapsed: another worker runs the turn
    assert again == first.reply
    assert (await relationship_of(db, "default", "sam")).interactions == 1
    assert (await memory_of(db, "s-crash")).turn_count == 1
    user_memory = (await StateStore(db).user_memory.read(user_key("default", "sam"), UserMemory)).value
    assert user_memory.name == "Sam"
    await process(processor, turn)  # and once more: nothing changes twice
    assert (await relationship_of(db, "default", "sam")).interactions == 1
    assert len(await HistoryStore(db).for_session("s-crash")) == 1


class TalkingBrain(ModelLike):
    """Says a few words, then waits as a model does, until cancelled."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()

    async def respond(self, ctx, say):
        await say("Once upon ")
        await say("a time, ")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        raise AssertionError("never reached")


async def test_a_barge_in_cancels_the_brain_and_records_what_was_delivered(db) -> None:
    brain = TalkingBrain()
    processor = processor_for(db)
    processor.brains = BrainSet({"llm": brain}, "llm")
    sent: list[tuple[str, int]] = []

    async def sink(words: str, offset: int) -> None:
        sent.append((words, offset))

    turn = make_turn("barge", "tell me a story")
    answering = asyncio.create_task(processor.answer(turn, Speaker(sink)))
    await eventually(lambda: "".join(words for words, _ in sent) == "Once upon a time, ")
    processor.interruptions.interrupt(Interruption(turn_id=turn.turn_id, delivered=len("Once upon ")))
    answer = await answering
    assert brain.cancelled.is_set()
    assert sent[0] == ("Once upon a time, ", 0)  # said together before the first publish: sent together
    assert answer.reply is None  # nobody waits for the rest
    [entry] = await HistoryStore(db).for_session("barge")
    assert entry.interrupted
    assert entry.output_text == "Once upon "  # what reached the listener, not what the brain said
    await processor.settle(turn, answer)
    assert (await memory_of(db, "barge")).recent[0].reply_text == "Once upon "


async def test_a_turn_interrupted_while_queued_does_not_ask_the_brain(db) -> None:
    processor = processor_for(db, "rules")
    speaker = Speaker()
    speaker.interrupt(0)
    answer = await processor.answer(make_turn("gone", "hello"), speaker)
    assert answer.reply is None
    [entry] = await HistoryStore(db).for_session("gone")
    assert entry.interrupted
    assert entry.output_text == ""
