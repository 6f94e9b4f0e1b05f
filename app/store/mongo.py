"""Mongo client construction and start-up indexes.

With MONGO_URL unset the client is mongomock-motor: in-memory, private to this process, gone at
exit. Queries on the hot path go by `_id` only, which mongomock serves without a scan.
"""

import logging
from typing import Any

from mongomock_motor import AsyncMongoMockClient
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase

log = logging.getLogger(__name__)

SESSIONS = "sessions"
HISTORY = "history"
PERSONA_STATES = "persona_states"
RELATIONSHIPS = "relationships"


def connect(mongo_url: str | None, db_name: str) -> tuple[Any, AsyncIOMotorDatabase]:
    """Return (client, database); an in-memory mongomock client when no URL is given."""
    if mongo_url:
        client: Any = AsyncIOMotorClient(mongo_url, tz_aware=True, serverSelectionTimeoutMS=5000)
    else:
        client = AsyncMongoMockClient(tz_aware=True)
    return client, client[db_name]


async def ensure_indexes(db: AsyncIOMotorDatabase) -> None:
    """Create every index the queries need; idempotent, run at each start-up."""
    await db[HISTORY].create_index([("session_id", 1), ("_id", 1)], name="session_turns")
    await db[HISTORY].create_index([("user_id", 1), ("_id", 1)], name="user_turns")
    await db[SESSIONS].create_index([("channel", 1), ("updated_at", -1)], name="channel_recent")
    await db[SESSIONS].create_index([("user_id", 1), ("updated_at", -1)], name="user_recent")
    log.info("mongo indexes ensured", extra={"db": db.name})
