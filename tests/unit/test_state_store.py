"""The state collection: a turn reads its four documents in one query, and a store written when
each kind had a collection of its own is moved into it at start-up."""

from typing import Any

from app.catalog import load_catalog
from app.persona.facts import Fact
from app.persona.memory import Exchange, SessionMemory, UserMemory
from app.persona.relationship import Relationship
from app.settings import Settings
from app.store import mongo, versioned
from app.store.mongo import LEGACY_STATE_COLLECTIONS, STATE, ensure_indexes
from app.store.mood import MoodChange, MoodStore
from app.store.session_memory import SessionMemoryStore
from app.store.state import StateStore, user_key

PROFILE = load_catalog(Settings().personas_file, "lite", "default").get("default")
KEY = user_key("default", "sam")
FACT = Fact(kind="name", key="name", value="Sam", text="I'm Sam", at=1.0, source_turn="t1")
EXCHANGE = Exchange(turn_id="t1", user_text="hi", reply_text="hello", at=1.0)
JOY = MoodChange(op_id="t1", at=1.0, deltas={"joy": 0.4})


def met(relationship: Relationship) -> Relationship:
    return relationship.model_copy(update={"interactions": relationship.interactions + 1})


def named(memory: UserMemory) -> UserMemory:
    return UserMemory(facts=[FACT])


class CountingDatabase:
    """A database that counts the operations each collection is asked for."""

    def __init__(self, database: Any) -> None:
        self._database = database
        self.calls: list[str] = []

    def __getitem__(self, name: str) -> Any:
        return _CountingCollection(self._database[name], name, self.calls)


class _CountingCollection:
    def __init__(self, collection: Any, name: str, calls: list[str]) -> None:
        self._collection, self._name, self._calls = collection, name, calls

    def __getattr__(self, attr: str) -> Any:
        self._calls.append(f"{self._name}.{attr}")
        return getattr(self._collection, attr)


async def write_each_kind(state: StateStore) -> None:
    await state.mood.add("default", JOY)
    await state.relationship.update(KEY, Relationship, met, "t1")
    await state.user_memory.update(KEY, UserMemory, named, "t1")
    await state.session_memory.append("s1", EXCHANGE, ["greeting"], 6, user_id="sam")


async def test_a_turn_reads_its_four_state_documents_in_one_query(db) -> None:
    await write_each_kind(StateStore(db))
    counting = CountingDatabase(db)
    state = StateStore(counting)  # type: ignore[arg-type]  # it stands in for a database
    counting.calls.clear()
    read = await state.read_turn(PROFILE, "sam", "s1")
    assert counting.calls == [f"{STATE}.find"]
    assert read.mood.pending == (JOY,)
    assert read.relationship.value.interactions == 1
    assert read.relationship.exists
    assert read.relationship.version == (await state.relationship.read(KEY, Relationship)).version
    assert read.user_memory.value.name == "Sam"
    assert [e.turn_id for e in read.session.recent] == ["t1"]
    assert read.session.topics == ["greeting"]


async def test_a_first_turn_reads_defaults_and_nothing_of_other_users_or_sessions(db) -> None:
    await write_each_kind(StateStore(db))
    read = await StateStore(db).read_turn(PROFILE, "alex", "s2")
    assert read.mood.pending == (JOY,)  # the persona's mood is shared by all its users
    assert read.relationship.value == Relationship()
    assert not read.relationship.exists
    assert read.user_memory.value == UserMemory()
    assert read.session == SessionMemory()


async def test_state_kept_in_one_collection_per_kind_is_moved_at_start_up(db, monkeypatch) -> None:
    monkeypatch.setattr(mongo, "MOVE_BATCH", 2)  # the sessions below move in three batches
    await MoodStore(db["persona_states"]).add("default", JOY)
    await versioned.update(db["relationships"], KEY, "relationship", Relationship, Relationship, met, "t1")
    await versioned.update(db["user_memories"], KEY, "memory", UserMemory, UserMemory, named, "t1")
    sessions = SessionMemoryStore(db["session_memories"])
    for session_id in ("s0", "s1", "s2", "s3", "s4"):
        await sessions.append(session_id, EXCHANGE, ["greeting"], 6, user_id="sam")
    await db[STATE].insert_one({"_id": "session:s2", "turn_count": 7})  # written by the new version first: kept
    await ensure_indexes(db)
    await ensure_indexes(db)  # idempotent: a second start-up finds nothing to move
    assert not set(LEGACY_STATE_COLLECTIONS) & set(await db.list_collection_names())
    read = await StateStore(db).read_turn(PROFILE, "sam", "s2")
    assert read.mood.pending == (JOY,)
    assert read.relationship.value.interactions == 1
    assert read.user_memory.value.name == "Sam"
    assert read.session.turn_count == 7
    moved = await db[STATE].find({"_id": {"$regex": "^session:"}}, {"turn_count": 1}).to_list(None)
    assert sorted((doc["_id"], doc["turn_count"]) for doc in moved) == [
        ("session:s0", 1), ("session:s1", 1), ("session:s2", 7), ("session:s3", 1), ("session:s4", 1)
    ]  # fmt: skip
    state = StateStore(db)  # and it is written where it was moved: the applied turn ids came along
    await state.relationship.update(KEY, Relationship, met, "t1")
    assert (await state.relationship.read(KEY, Relationship)).value.interactions == 1
