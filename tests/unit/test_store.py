"""Store: version-checked updates compose under concurrency and apply once per turn."""

import asyncio
from typing import Any

from pydantic import BaseModel

from app.persona.memory import Exchange, SessionMemory
from app.store import versioned
from app.store.history import HistoryEntry, HistoryStore
from app.store.sessions import SessionStore
from app.store.state import StateStore


class Counter(BaseModel):
    n: int = 0


async def test_concurrent_versioned_updates_lose_nothing(db, yielding) -> None:
    collection = yielding(db["counters"])
    await asyncio.gather(
        *(
            versioned.update(collection, "c", "counter", Counter, Counter, lambda c: Counter(n=c.n + 1), f"op{i}")
            for i in range(100)
        )
    )
    stored = await versioned.read(collection, "c", "counter", Counter, Counter)
    assert stored.value.n == 100


async def test_naive_read_modify_write_would_lose_updates(db, yielding) -> None:
    """Control: the same interleaving breaks a plain read-then-write, so the test above has teeth."""
    collection = yielding(db["naive"])
    await collection.insert_one({"_id": "c", "n": 0})

    async def naive_increment() -> None:
        doc = await collection.find_one({"_id": "c"})
        await collection.update_one({"_id": "c"}, {"$set": {"n": doc["n"] + 1}})

    await asyncio.gather(*(naive_increment() for _ in range(100)))
    assert (await collection.find_one({"_id": "c"}))["n"] < 100


async def test_an_operation_id_is_applied_once(db) -> None:
    collection = db["counters"]
    for _ in range(3):
        result = await versioned.update(
            collection, "c", "counter", Counter, Counter, lambda c: Counter(n=c.n + 1), "turn-1"
        )
        assert result.n == 1
    await versioned.update(collection, "c", "counter", Counter, Counter, lambda c: Counter(n=c.n + 1), "turn-2")
    assert (await versioned.read(collection, "c", "counter", Counter, Counter)).value.n == 2


async def test_history_append_is_idempotent_by_turn_id_and_ordered(db) -> None:
    history = HistoryStore(db)

    def entry(turn_id: str, text: str) -> HistoryEntry:
        return HistoryEntry(
            turn_id=turn_id,
            session_id="s",
            user_id="u",
            persona_id="p",
            channel="test",
            kind="text",
            input_text=text,
            enqueued_at=0,
            started_at=0,
            finished_at=0,
        )

    assert await history.append(entry("0002", "second"))
    assert await history.append(entry("0001", "first"))
    assert not await history.append(entry("0001", "first again"))
    turns = await history.for_session("s")
    assert [t.input_text for t in turns] == ["first", "second"]


async def test_scene_state_upsert_keeps_the_creation_time(db) -> None:
    sessions = SessionStore(db)
    kwargs: dict[str, Any] = {"channel": "soulmachines", "user_id": "u", "persona_id": "p", "meta": {}, "user_info": {}}
    await sessions.record("s1", scene_state="offered", **kwargs)
    first = await sessions.get("s1")
    await sessions.record("s1", scene_state="connected", **kwargs)
    doc = await sessions.get("s1")
    assert first is not None
    assert doc is not None
    assert doc["scene_state"] == "connected"
    assert doc["created_at"] == first["created_at"]


async def test_session_memory_appends_each_exchange_once_and_keeps_the_last_ones(db) -> None:
    memory = StateStore(db).session_memory
    assert await memory.read("s1") == SessionMemory()
    for i in range(5):
        exchange = Exchange(turn_id=f"t{i}", user_text=f"tell me about roses {i}", reply_text="Roses!", at=float(i))
        await memory.append("s1", exchange, [f"topic{i}"], limit=3, user_id="u1")
        await memory.append("s1", exchange, [f"topic{i}"], limit=3, user_id="u1")  # the same turn run again
    remembered = await memory.read("s1")
    assert remembered.turn_count == 5
    assert [e.turn_id for e in remembered.recent] == ["t2", "t3", "t4"]
    assert remembered.topics == ["topic4"]
    assert await memory.read("s2") == SessionMemory()  # nothing of another session
    await memory.delete("s1")
    assert await memory.read("s1") == SessionMemory()


async def test_embedded_id_lookup_answers_like_a_scan(db) -> None:
    """The embedded store's `_id` shortcut returns what mongomock's full scan would."""
    collection = db["lookup"]
    await collection.insert_many([{"_id": f"d{i}", "n": i, "tag": "even" if i % 2 == 0 else "odd"} for i in range(20)])
    assert (await collection.find_one({"_id": "d3"}))["n"] == 3
    assert await collection.find_one({"_id": "d3", "tag": "even"}) is None
    assert await collection.find_one({"_id": "missing"}) is None
    in_docs = await collection.find({"_id": {"$in": ["d1", "d2"]}}).to_list(None)
    assert sorted(d["n"] for d in in_docs) == [1, 2]
    odd_docs = await collection.find({"_id": {"$in": ["d1", "d2", "d3", "d3", "missing"]}, "tag": "odd"}).to_list(None)
    assert sorted(d["n"] for d in odd_docs) == [1, 3]  # the rest of the filter holds; each document once
    assert (await collection.update_one({"_id": "d4", "n": 4}, {"$set": {"n": 40}})).matched_count == 1
    assert (await collection.update_one({"_id": "d4", "n": 4}, {"$set": {"n": 41}})).matched_count == 0
    assert (await collection.find_one({"_id": "d4"}))["n"] == 40
    assert await collection.count_documents({"tag": "odd"}) == 10


async def test_forget_me_cannot_be_undone_by_a_writer_that_read_before_it(db) -> None:
    """Two writers: one read the facts, the other deleted them; the first one's write must not
    match the old version and bring the forgotten facts back."""
    facts = versioned.VersionedModel(db["users"], "facts", Counter)
    await facts.update("u", Counter, lambda c: Counter(n=41), "turn-1")
    stale = await facts.read("u", Counter)  # the settling worker's read, before "forget me"
    await facts.delete("u")  # another worker, another process in production
    written = await facts.update("u", Counter, lambda c: Counter(n=c.n + 1), "turn-2", first=stale)
    assert written.n == 1  # applied to nothing remembered, not to the forgotten 41
    assert (await facts.read("u", Counter)).value.n == 1


async def test_a_late_writer_cannot_push_an_exchange_again_after_later_turns(db) -> None:
    """The lease of turn t0 lapsed; t0 was answered elsewhere, then t1 and t2; the first worker
    wakes and appends t0 once more: refused by the exchange's own turn id."""
    memory = StateStore(db).session_memory
    exchanges = [Exchange(turn_id=f"t{i}", user_text=f"hello {i}", reply_text="Hi!", at=float(i)) for i in range(3)]
    for exchange in exchanges:
        await memory.append("s1", exchange, [], limit=6, user_id="u1")
    await memory.append("s1", exchanges[0], [], limit=6, user_id="u1")  # the late writer
    remembered = await memory.read("s1")
    assert [e.turn_id for e in remembered.recent] == ["t0", "t1", "t2"]
    assert remembered.turn_count == 3
