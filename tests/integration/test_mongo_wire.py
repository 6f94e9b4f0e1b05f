"""The wire-protocol test server (tests/support/mongo_wire.py) through the real motor driver.

In a thread for the command coverage; as a subprocess for what it is for: several processes
sharing one store, each write atomic.
"""

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase
from pymongo import ASCENDING, DESCENDING, ReturnDocument, WriteConcern
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, WriteError

from tests.support.mongo_wire import MongoWireServer
from tests.support.stack import ROOT, Stack, wait_for


@pytest.fixture(scope="module")
def server() -> Iterator[MongoWireServer]:
    server = MongoWireServer().start()
    yield server
    server.stop()


@pytest.fixture
async def client(server: MongoWireServer) -> AsyncIterator[AsyncIOMotorClient[Any]]:
    client: AsyncIOMotorClient[Any] = AsyncIOMotorClient(server.url, tz_aware=True, timeoutMS=5000)
    yield client
    client.close()


@pytest.fixture
async def db(client: AsyncIOMotorClient[Any]) -> AsyncIterator[AsyncIOMotorDatabase[Any]]:
    database = client[f"wire_{uuid.uuid4().hex[:8]}"]
    yield database
    await client.drop_database(database.name)


async def test_insert_then_find_by_id_by_field_sorted_and_limited(db: AsyncIOMotorDatabase[Any]) -> None:
    await db.people.insert_many([{"_id": f"p{i}", "age": i % 5, "name": f"n{i}"} for i in range(20)])
    assert await db.people.find_one({"_id": "p7"}) == {"_id": "p7", "age": 2, "name": "n7"}
    assert await db.people.find_one({"_id": "nobody"}) is None
    aged_3 = await db.people.find({"age": 3}, {"_id": 0, "name": 1}).to_list(None)
    assert aged_3 == [{"name": "n3"}, {"name": "n8"}, {"name": "n13"}, {"name": "n18"}]
    oldest = await db.people.find({}).sort([("age", DESCENDING), ("name", ASCENDING)]).limit(3).to_list(None)
    assert [p["_id"] for p in oldest] == ["p14", "p19", "p4"]
    assert [p["_id"] for p in await db.people.find().sort("name", ASCENDING).skip(18).to_list(None)] == ["p8", "p9"]


async def test_a_cursor_fetches_batch_after_batch_and_is_freed(
    db: AsyncIOMotorDatabase[Any], server: MongoWireServer
) -> None:
    await db.items.insert_many([{"i": i} for i in range(500)])
    seen = [doc["i"] async for doc in db.items.find().sort("i", ASCENDING).batch_size(50)]
    assert seen == list(range(500))
    assert len(server.backend.cursors) == 0  # exhausted: freed

    cursor = db.items.find().batch_size(50)
    assert (await cursor.next())["i"] == 0
    assert len(server.backend.cursors) == 1
    await cursor.close()  # killCursors
    assert len(server.backend.cursors) == 0


async def test_operator_updates(db: AsyncIOMotorDatabase[Any]) -> None:
    await db.c.insert_one({"_id": 1, "n": 1, "log": [1, 2]})
    result = await db.c.update_one(
        {"_id": 1}, {"$set": {"name": "x"}, "$inc": {"n": 2}, "$push": {"log": {"$each": [3, 4, 5], "$slice": -3}}}
    )
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert await db.c.find_one({"_id": 1}) == {"_id": 1, "n": 3, "log": [3, 4, 5], "name": "x"}
    unchanged = await db.c.update_one({"_id": 1}, {"$set": {"name": "x"}})
    assert (unchanged.matched_count, unchanged.modified_count) == (1, 0)
    missed = await db.c.update_one({"_id": 1, "n": 99}, {"$set": {"name": "y"}})
    assert (missed.matched_count, missed.modified_count, missed.upserted_id) == (0, 0, None)
    many = await db.c.update_many({}, {"$unset": {"name": ""}})
    assert many.modified_count == 1


async def test_upsert_and_replace(db: AsyncIOMotorDatabase[Any]) -> None:
    created = await db.c.update_one({"_id": "a"}, {"$setOnInsert": {"v": 1}}, upsert=True)
    assert (created.matched_count, created.upserted_id) == (0, "a")
    again = await db.c.update_one({"_id": "a"}, {"$setOnInsert": {"v": 2}}, upsert=True)
    assert (again.matched_count, again.upserted_id) == (1, None)
    generated = await db.c.update_one({"k": "b"}, {"$set": {"v": 3}}, upsert=True)
    assert await db.c.find_one({"_id": generated.upserted_id}) == {"_id": generated.upserted_id, "k": "b", "v": 3}

    replaced = await db.c.replace_one({"_id": "a"}, {"w": 9})
    assert replaced.modified_count == 1
    assert await db.c.find_one({"_id": "a"}) == {"_id": "a", "w": 9}
    with pytest.raises(WriteError) as refused:
        await db.c.replace_one({"_id": "a"}, {"_id": "z", "w": 10})
    assert refused.value.code == 66  # ImmutableField, and nothing changed
    with pytest.raises(WriteError) as refused_set:
        await db.c.update_one({"_id": "a"}, {"$set": {"_id": "z"}})
    assert refused_set.value.code == 66
    assert [doc["_id"] async for doc in db.c.find({"_id": {"$in": ["a", "z"]}})] == ["a"]
    assert await db.c.find_one({"_id": "a"}) == {"_id": "a", "w": 9}


async def test_duplicate_keys_are_refused_with_code_11000(db: AsyncIOMotorDatabase[Any]) -> None:
    await db.users.create_index("email", unique=True)
    await db.users.insert_one({"_id": 1, "email": "a@x"})
    with pytest.raises(DuplicateKeyError):
        await db.users.insert_one({"_id": 1, "email": "other@x"})
    with pytest.raises(DuplicateKeyError):
        await db.users.insert_one({"_id": 2, "email": "a@x"})
    with pytest.raises(DuplicateKeyError):
        await db.users.update_one({"_id": 3}, {"$set": {"email": "a@x"}}, upsert=True)
    with pytest.raises(BulkWriteError) as bulk:
        await db.users.insert_many([{"_id": 4, "email": "b@x"}, {"_id": 5, "email": "a@x"}, {"_id": 6}])
    assert bulk.value.details["nInserted"] == 1  # ordered: stops at the first error
    assert bulk.value.details["writeErrors"][0]["code"] == 11000
    assert sorted(await db.users.distinct("_id")) == [1, 4]


async def test_find_one_and_update_and_delete(db: AsyncIOMotorDatabase[Any]) -> None:
    await db.jobs.insert_many([{"_id": i, "prio": i, "state": "new"} for i in range(3)])
    after = await db.jobs.find_one_and_update(
        {"state": "new"},
        {"$set": {"state": "taken"}},
        sort=[("prio", DESCENDING)],
        return_document=ReturnDocument.AFTER,
    )
    assert after == {"_id": 2, "prio": 2, "state": "taken"}
    before = await db.jobs.find_one_and_update({"_id": 1}, {"$inc": {"prio": 10}}, projection={"_id": 0, "prio": 1})
    assert before == {"prio": 1}
    assert await db.jobs.find_one_and_update({"_id": 9}, {"$set": {"x": 1}}) is None
    upserted = await db.jobs.find_one_and_update(
        {"_id": 9}, {"$set": {"x": 1}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    assert upserted == {"_id": 9, "x": 1}
    assert await db.jobs.find_one_and_delete({"_id": 0}) == {"_id": 0, "prio": 0, "state": "new"}
    assert await db.jobs.find_one({"_id": 0}) is None


async def test_deletes(db: AsyncIOMotorDatabase[Any]) -> None:
    await db.c.insert_many([{"k": i % 2} for i in range(10)])
    assert (await db.c.delete_one({"k": 0})).deleted_count == 1
    assert (await db.c.delete_many({"k": 0})).deleted_count == 4
    assert (await db.c.delete_many({"k": 7})).deleted_count == 0
    assert await db.c.count_documents({}) == 5


async def test_aggregate_distinct_and_counts(db: AsyncIOMotorDatabase[Any]) -> None:
    await db.sales.insert_many([{"shop": s, "amount": a} for s, a in [("a", 1), ("b", 5), ("a", 3), ("c", 2)]])
    pipeline: list[dict[str, Any]] = [
        {"$match": {"amount": {"$gte": 2}}},
        {"$group": {"_id": "$shop", "total": {"$sum": "$amount"}}},
    ]
    totals = await db.sales.aggregate([*pipeline, {"$sort": {"total": -1}}]).to_list(None)
    assert totals == [{"_id": "b", "total": 5}, {"_id": "a", "total": 3}, {"_id": "c", "total": 2}]
    assert sorted(await db.sales.distinct("shop")) == ["a", "b", "c"]
    assert await db.sales.distinct("shop", {"amount": {"$lt": 2}}) == ["a"]
    assert await db.sales.count_documents({"shop": "a"}) == 2
    assert await db.sales.count_documents({}, skip=1, limit=2) == 2
    assert await db.sales.estimated_document_count() == 4


async def test_indexes_are_listed_with_their_options_and_dropped(db: AsyncIOMotorDatabase[Any]) -> None:
    await db.tokens.create_index("expires_at", expireAfterSeconds=3600, name="ttl")
    await db.tokens.create_index(
        [("user", ASCENDING), ("n", DESCENDING)], unique=True, partialFilterExpression={"live": True}
    )
    info = await db.tokens.index_information()
    assert info["ttl"]["expireAfterSeconds"] == 3600
    assert info["user_1_n_-1"]["unique"] is True
    assert info["user_1_n_-1"]["partialFilterExpression"] == {"live": True}
    listed = {index["name"]: index async for index in db.tokens.list_indexes()}
    assert listed["ttl"]["key"] == {"expires_at": 1}
    assert set(listed) == {"_id_", "ttl", "user_1_n_-1"}
    await db.tokens.drop_index("ttl")
    assert set(await db.tokens.index_information()) == {"_id_", "user_1_n_-1"}
    with pytest.raises(OperationFailure) as missing:
        await db.tokens.drop_index("ttl")
    assert missing.value.code == 27

    await db.other.insert_one({})
    assert sorted(await db.list_collection_names()) == ["other", "tokens"]
    await db.tokens.drop()
    assert await db.list_collection_names() == ["other"]
    assert await db.tokens.index_information() == {}


async def test_unknown_commands_and_transactions_are_refused(
    db: AsyncIOMotorDatabase[Any], client: AsyncIOMotorClient[Any]
) -> None:
    with pytest.raises(OperationFailure) as unknown:
        await db.command("frobnicate")
    assert unknown.value.details is not None
    assert (unknown.value.code, unknown.value.details["codeName"]) == (59, "CommandNotFound")
    async with await client.start_session() as session:
        with pytest.raises(OperationFailure) as refused:
            async with session.start_transaction():
                await db.c.insert_one({"x": 1}, session=session)
    assert refused.value.code == 20  # a standalone server has no transactions
    assert await db.c.count_documents({}) == 0


async def test_datetimes_round_trip_as_utc(db: AsyncIOMotorDatabase[Any]) -> None:
    moment = datetime(2024, 5, 1, 12, 30, 15, 123000, tzinfo=UTC)
    await db.c.insert_one({"_id": 1, "at": moment})
    found = await db.c.find_one({"at": {"$gte": moment}})
    assert found is not None
    assert found["at"] == moment


async def test_an_unacknowledged_write_gets_no_reply_and_still_applies(db: AsyncIOMotorDatabase[Any]) -> None:
    fire_and_forget = db.c.with_options(write_concern=WriteConcern(w=0))
    await fire_and_forget.insert_one({"_id": 1})
    await fire_and_forget.insert_one({"_id": 2})
    assert sorted(await db.c.distinct("_id")) == [1, 2]  # the same connection answers this one


async def test_clients_that_go_away_leave_no_connections_or_cursors_behind(server: MongoWireServer) -> None:
    database = f"wire_{uuid.uuid4().hex[:8]}"
    seed: AsyncIOMotorClient[Any] = AsyncIOMotorClient(server.url)
    await seed[database].c.insert_many([{"i": i} for i in range(30)])
    seed.close()
    for _ in range(10):
        client: AsyncIOMotorClient[Any] = AsyncIOMotorClient(server.url)
        cursor = client[database].c.find().batch_size(5)
        assert (await cursor.next())["i"] == 0  # a cursor left open on the server
        client.close()  # endSessions: the server drops the session's cursors
    await asyncio.to_thread(wait_for, lambda: server.open_connections == 0, 10, "the server to see clients gone")
    assert len(server.backend.cursors) == 0


# --- across processes ----------------------------------------------------------------------------

CLIENT_SCRIPT = """
import asyncio, sys, time
from motor.motor_asyncio import AsyncIOMotorClient

async def meet(db, round, name):
    # wait (bounded) until both processes reached this round, so their next writes collide
    await db.rounds.update_one({"_id": round}, {"$addToSet": {"in": name}}, upsert=True)
    deadline = time.monotonic() + 30
    while len((await db.rounds.find_one({"_id": round}))["in"]) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.001)

async def main(url, mode, name, count):
    db = AsyncIOMotorClient(url, timeoutMS=10000).race
    await meet(db, "start", name)
    if mode == "inc":  # ten at a time, so the driver spreads them over several connections
        for _ in range(count // 10):
            await asyncio.gather(*(db.counters.update_one({"_id": "c"}, {"$inc": {"n": 1}}) for _ in range(10)))
        print(0)
        return
    matched = 0
    for i in range(count):  # both read version 0 and write version 1 at once: only one may win
        await meet(db, i, name)
        result = await db.docs.update_one({"_id": i, "version": 0}, {"$set": {"version": 1, "by": name}})
        matched += result.matched_count
    print(matched)

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""
CLIENTS = ("one", "two")


def run_clients(url: str, mode: str, count: int) -> list[int]:
    """Two client processes at once; what each printed (its matched count)."""
    argv = [sys.executable, "-c", CLIENT_SCRIPT, url, mode]
    procs = [
        subprocess.Popen([*argv, name, str(count)], cwd=ROOT, stdout=subprocess.PIPE, text=True) for name in CLIENTS
    ]
    outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0]
    return [int(out) for out in outputs]


@pytest.fixture
def shared() -> Iterator[str]:
    stack = Stack()
    yield stack.mongo().url
    stack.stop()


@pytest.mark.timeout(120)
async def test_two_processes_increment_one_counter(shared: str) -> None:
    client: AsyncIOMotorClient[Any] = AsyncIOMotorClient(shared)
    await client.race.counters.insert_one({"_id": "c", "n": 0})
    await asyncio.to_thread(run_clients, shared, "inc", 200)
    assert await client.race.counters.find_one({"_id": "c"}) == {"_id": "c", "n": 400}
    client.close()


@pytest.mark.timeout(120)
async def test_of_two_processes_racing_a_versioned_write_exactly_one_wins(shared: str) -> None:
    client: AsyncIOMotorClient[Any] = AsyncIOMotorClient(shared)
    await client.race.docs.insert_many([{"_id": i, "version": 0} for i in range(50)])
    matched = await asyncio.to_thread(run_clients, shared, "version", 50)
    docs = await client.race.docs.find().to_list(None)
    client.close()
    assert sum(matched) == 50  # each document: one of the two conflicting writes matched
    assert all(doc["version"] == 1 for doc in docs)
    assert matched == [sum(doc["by"] == name for doc in docs) for name in CLIENTS]


@pytest.mark.timeout(180)
def test_the_store_tests_pass_over_the_wire(shared: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")} | {"MONGO_URL": shared}
    tests = ["tests/unit/test_store.py", "tests/unit/test_state_store.py"]
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
    run = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=170, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
