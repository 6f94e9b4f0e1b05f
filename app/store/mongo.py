"""Mongo client construction and start-up indexes.

With MONGO_URL unset the client is mongomock-motor: in-memory, private to this process, gone at
exit. Queries on the hot path go by `_id` only, which mongomock serves without a scan.
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from time import monotonic
from typing import Any

import mongomock.collection
import mongomock.store
from mongomock.filtering import filter_applies
from mongomock_motor import AsyncMongoMockClient
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection, AsyncIOMotorDatabase
from pymongo.errors import BulkWriteError, PyMongoError

from app.store.retention import EXPIRES_AT

log = logging.getLogger(__name__)

SESSIONS = "sessions"
HISTORY = "history"
# A turn's state documents (the persona's mood, the relationship with the user, what the persona
# knows of them, the session's memory) share one collection, so a turn reads them in one query
# (store/state.py). Their `_id`s start with their kind.
STATE = "state"
MOOD_PREFIX, RELATIONSHIP_PREFIX, USER_MEMORY_PREFIX, SESSION_MEMORY_PREFIX = (
    "mood:",
    "relationship:",
    "memory:",
    "session:",
)
# Until 2026-12-04 each kind had a collection of its own, keyed without the prefix.
LEGACY_STATE_COLLECTIONS = {
    "persona_states": MOOD_PREFIX,
    "relationships": RELATIONSHIP_PREFIX,
    "user_memories": USER_MEMORY_PREFIX,
    "session_memories": SESSION_MEMORY_PREFIX,
}
MOVE_BATCH = 500  # documents per insert while moving them: a large store moves in few round trips
DUPLICATE_KEY = 11000
THOUGHTS = "thoughts"
ACCOUNTS = "accounts"
USERNAMES = "usernames"
AUTH_SESSIONS = "auth_sessions"


# A real server's operations end client-side after this long (the driver's `timeoutMS`), so a
# stalled server cannot hold a turn's driver threads forever; a turn's writes are retried past it
# for longer than a replica-set election takes (worker/turns.py STORE_RETRY_DELAYS).
OPERATION_TIMEOUT_SECONDS = 5.0


def connect(
    mongo_url: str | None, db_name: str, timeout: float = OPERATION_TIMEOUT_SECONDS
) -> tuple[Any, AsyncIOMotorDatabase]:
    """Return (client, database); an in-memory mongomock client when no URL is given."""
    if mongo_url:
        client: Any = AsyncIOMotorClient(
            mongo_url, tz_aware=True, serverSelectionTimeoutMS=5000, timeoutMS=int(timeout * 1000)
        )
    else:
        tune_mongomock()
        client = AsyncMongoMockClient(tz_aware=True)
    return client, client[db_name]


def tune_mongomock() -> None:
    """Make mongomock's costs grow like a server's: by `_id` without a scan, TTL once a minute."""
    _give_mongomock_an_id_index()
    _expire_like_a_server()


def _give_mongomock_an_id_index() -> None:
    """Let mongomock find a document by `_id` without scanning its whole collection.

    mongomock evaluates every query against every document; a real server uses its `_id` index.
    The hot path only reads and writes by `_id` (a turn's state: `{"_id": {"$in": [...]}}`), so
    without this the embedded store would slow down with every session it holds. Queries with
    another `_id` operator, or that do not name `_id`, still take mongomock's own path; the rest of
    the filter is still applied.
    """
    collection_class: Any = mongomock.collection.Collection
    if getattr(collection_class, "_persona_id_index", False):
        return
    scan = collection_class._iter_documents

    def iter_documents(self: Any, spec: Any) -> Iterator[dict[str, Any]]:
        doc_id = spec.get("_id") if isinstance(spec, dict) else None
        if isinstance(doc_id, dict) and set(doc_id) == {"$in"} and isinstance(doc_id["$in"], list):
            wanted = doc_id["$in"]
        elif doc_id is None or isinstance(doc_id, dict | list):
            return scan(self, spec)
        else:
            wanted = [doc_id]
        found = []
        try:
            for one in dict.fromkeys(wanted):
                with contextlib.suppress(KeyError):
                    found.append(self._store[one])
        except TypeError:  # an unhashable id: let mongomock decide
            return scan(self, spec)
        return iter([document for document in found if filter_applies(spec, document)])

    collection_class._iter_documents = iter_documents
    collection_class._persona_id_index = True


TTL_MONITOR_SECONDS = 60.0  # how often a MongoDB server deletes what its TTL indexes expired


def _expire_like_a_server() -> None:
    """Let mongomock delete expired documents once a minute per collection, as a server does.

    mongomock honours TTL indexes by scanning the whole collection on every access, even a read
    by `_id`, which would make each turn's cost grow with the documents the embedded store holds.
    """
    store_class: Any = mongomock.store.CollectionStore
    if getattr(store_class, "_persona_ttl_monitor", False):
        return
    expire = store_class._remove_expired_documents

    def remove_expired_documents(self: Any) -> None:
        now = monotonic()
        if now < getattr(self, "_persona_next_expiry", 0.0):
            return
        self._persona_next_expiry = now + TTL_MONITOR_SECONDS
        expire(self)

    store_class._remove_expired_documents = remove_expired_documents
    store_class._persona_ttl_monitor = True


# Documents with an `expires_at` date: the server deletes each once past it (store/retention.py).
EXPIRING = (AUTH_SESSIONS, ACCOUNTS, SESSIONS, STATE, THOUGHTS)


async def ensure_indexes(db: AsyncIOMotorDatabase) -> None:
    """Create every index the queries and retention need; idempotent, run at each start-up."""
    await _dates_for_epoch_expiries(db)
    await _merge_legacy_state(db)
    for name in EXPIRING:
        await db[name].create_index([(EXPIRES_AT, 1)], name="expiry", expireAfterSeconds=0)
    await db[SESSIONS].create_index([("updated_at", -1)], name="recent")  # GET /v1/sessions unfiltered
    await db[HISTORY].create_index([("session_id", 1), ("_id", 1)], name="session_turns")
    await db[HISTORY].create_index([("user_id", 1), ("_id", 1)], name="user_turns")
    await db[HISTORY].create_index([("crisis", 1), ("session_id", 1)], name="crisis_turns")
    await db[HISTORY].create_index([("persona_id", 1), ("_id", -1)], name="persona_turns")
    await db[AUTH_SESSIONS].create_index([("user_id", 1)], name="user_sessions")
    await db[THOUGHTS].create_index([("persona_id", 1), ("_id", -1)], name="persona_latest")
    await db[SESSIONS].create_index([("channel", 1), ("updated_at", -1)], name="channel_recent")
    await db[SESSIONS].create_index([("user_id", 1), ("updated_at", -1)], name="user_recent")
    log.info("mongo indexes ensured", extra={"db": db.name})


async def _dates_for_epoch_expiries(db: AsyncIOMotorDatabase) -> None:
    """Auth sessions stored `expires_at` as epoch seconds before it had a TTL index, which
    ignores anything but a date: convert those, so they expire too."""
    sessions = db[AUTH_SESSIONS]
    async for doc in sessions.find({EXPIRES_AT: {"$type": "number"}}, {EXPIRES_AT: 1}):
        expires_at = datetime.fromtimestamp(doc[EXPIRES_AT], UTC)
        await sessions.update_one({"_id": doc["_id"], EXPIRES_AT: doc[EXPIRES_AT]}, {"$set": {EXPIRES_AT: expires_at}})


async def _merge_legacy_state(db: AsyncIOMotorDatabase) -> None:
    """Move the state documents of a store written before they shared one collection into it,
    under their prefixed ids, then drop the old collection. Idempotent, and safe for processes
    starting together (a document another process moved first is kept as it is). Workers of the
    old version must be stopped first: what they write to an old collection after the move is lost."""
    present = set(await db.list_collection_names())
    for name, prefix in LEGACY_STATE_COLLECTIONS.items():
        if name not in present:
            continue
        moved = 0
        batch: list[dict[str, Any]] = []
        async for doc in db[name].find():
            batch.append({**doc, "_id": prefix + str(doc["_id"])})
            if len(batch) == MOVE_BATCH:
                moved += await _insert_new(db[STATE], batch)
                batch = []
        if batch:
            moved += await _insert_new(db[STATE], batch)
        await db[name].drop()
        log.warning("moved %d documents of %s into %s", moved, name, STATE, extra={"db": db.name})


async def _insert_new(collection: AsyncIOMotorCollection, docs: list[dict[str, Any]]) -> int:
    """Insert the documents whose ids are not taken yet; how many went in."""
    try:
        return len((await collection.insert_many(docs, ordered=False)).inserted_ids)
    except BulkWriteError as exc:
        if any(error.get("code") != DUPLICATE_KEY for error in exc.details.get("writeErrors", [])):
            raise
        return int(exc.details.get("nInserted", 0))


INDEX_RETRY_SECONDS = 5.0


async def ensure_indexes_when_reachable(db: AsyncIOMotorDatabase) -> None:
    """Ensure the indexes, retrying until MongoDB answers.

    An API process starts without MongoDB: sockets answer with fallbacks, readiness reports
    `mongo: false` (so the proxy keeps it out of rotation), and it recovers without a restart.
    """
    while True:
        try:
            await ensure_indexes(db)
            return
        except PyMongoError as exc:
            reason = str(exc).splitlines()[0][:200]
            log.error("mongo unreachable; indexes not ensured yet, retrying in %.0f s: %s", INDEX_RETRY_SECONDS, reason)
            await asyncio.sleep(INDEX_RETRY_SECONDS)


async def ping(db: AsyncIOMotorDatabase) -> bool:
    """Whether the database answers (for readiness)."""
    try:
        await asyncio.wait_for(db.command("ping"), 2)
    except Exception:  # unreachable, timed out, refused: all mean "not ready"
        return False
    return True
