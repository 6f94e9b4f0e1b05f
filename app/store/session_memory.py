"""Session memory: one small document per session, appended to by its turns.

A session's turns run one at a time (its lane), so its memory has one writer at a time and needs
no version check: a turn appends its exchange with atomic operators (push, keeping the last
`limit`; count; the open topics it computed from the memory it read). The write is idempotent by
the exchange's own turn id: the document keeps the ids of its last TURN_IDS_KEPT exchanges, so a
late writer (a worker whose lease lapsed while its turn was answered elsewhere) cannot push the
same exchange again, however many turns came after it. Times are epoch seconds, like the models';
`expires_at` is a date, set on an anonymous session's memory for its TTL index (retention.py).
"""

import contextlib
import time
from collections.abc import Mapping
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection
from pymongo.errors import DuplicateKeyError

from app.persona.memory import Exchange, SessionMemory
from app.store.retention import DEFAULT_RETENTION, EXPIRES_AT, Retention

TURN_IDS_KEPT = 64  # far more turns than a lapsed lease lets happen before its late writer wakes


class SessionMemoryStore:
    def __init__(
        self, collection: AsyncIOMotorCollection, retention: Retention = DEFAULT_RETENTION, prefix: str = ""
    ) -> None:
        """`prefix` starts every document's `_id` (kinds sharing a collection, store/state.py)."""
        self._memories = collection
        self._retention = retention
        self._prefix = prefix

    def doc_id(self, session_id: str) -> str:
        return self._prefix + session_id

    async def read(self, session_id: str) -> SessionMemory:
        # whole: cheaper than projected in mongomock
        doc = await self._memories.find_one({"_id": self.doc_id(session_id)})
        return self.parse(doc)

    @staticmethod
    def parse(doc: Mapping[str, Any] | None) -> SessionMemory:
        return SessionMemory.model_validate(doc) if doc else SessionMemory()

    async def append(self, session_id: str, exchange: Exchange, topics: list[str], limit: int, *, user_id: str) -> None:
        """Remember one exchange (once, whatever the number of calls) and the topics after it."""
        fields = {"topics": topics, "updated_at": time.time()}
        expires_at = self._retention.anonymous_expiry(user_id)
        if expires_at is not None:
            fields[EXPIRES_AT] = expires_at
        with contextlib.suppress(DuplicateKeyError):  # a memory that took this exchange in already
            await self._memories.update_one(
                {"_id": self.doc_id(session_id), "turn_ids": {"$ne": exchange.turn_id}},
                {
                    "$push": {
                        "recent": {"$each": [exchange.model_dump()], "$slice": -limit},
                        "turn_ids": {"$each": [exchange.turn_id], "$slice": -TURN_IDS_KEPT},
                    },
                    "$inc": {"turn_count": 1},
                    "$set": fields,
                },
                upsert=True,
            )

    async def delete(self, session_id: str) -> None:
        await self._memories.delete_one({"_id": self.doc_id(session_id)})
