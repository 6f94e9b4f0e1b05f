"""Session memory: one small document per session, appended to by its turns.

A session's turns run one at a time (its lane), so its memory has one writer at a time and needs
no version check: a turn appends its exchange with atomic operators (push, keeping the last
`limit`; count; the open topics it computed from the memory it read). The write is idempotent by
turn id: the document names the last turn it took in, and a turn run again after a crash runs
before any later turn of its session. Times are epoch seconds, like the models' own.
"""

import contextlib
import time

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo.errors import DuplicateKeyError

from app.persona.memory import Exchange, SessionMemory
from app.store.mongo import SESSION_MEMORIES


class SessionMemoryStore:
    def __init__(self, db: AsyncIOMotorDatabase) -> None:
        self._memories = db[SESSION_MEMORIES]

    async def read(self, session_id: str) -> SessionMemory:
        doc = await self._memories.find_one({"_id": session_id})  # whole: cheaper than projected in mongomock
        return SessionMemory.model_validate(doc) if doc else SessionMemory()

    async def append(self, session_id: str, exchange: Exchange, topics: list[str], limit: int) -> None:
        """Remember one exchange (once, whatever the number of calls) and the topics after it."""
        with contextlib.suppress(DuplicateKeyError):  # a memory that took this exchange in already
            await self._memories.update_one(
                {"_id": session_id, "last_turn": {"$ne": exchange.turn_id}},
                {
                    "$push": {"recent": {"$each": [exchange.model_dump()], "$slice": -limit}},
                    "$inc": {"turn_count": 1},
                    "$set": {"topics": topics, "last_turn": exchange.turn_id, "updated_at": time.time()},
                },
                upsert=True,
            )

    async def delete(self, session_id: str) -> None:
        await self._memories.delete_one({"_id": session_id})
