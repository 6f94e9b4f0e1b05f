"""Thoughts: the persona's reflections, newest last; persona-wide, free of users' words.

Each expires THOUGHT_RETENTION_SECONDS after it was thought: only the latest few are ever read.
"""

import contextlib
from datetime import UTC, datetime

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo.errors import DuplicateKeyError

from app.persona.thoughts import Thought
from app.store.mongo import THOUGHTS
from app.store.retention import DEFAULT_RETENTION, EXPIRES_AT, Retention


class ThoughtStore:
    def __init__(self, db: AsyncIOMotorDatabase, retention: Retention = DEFAULT_RETENTION) -> None:
        self._thoughts = db[THOUGHTS]
        self._retention = retention

    async def append(self, thought: Thought) -> None:
        now = datetime.now(UTC)
        doc = {
            "_id": thought.thought_id,
            **thought.model_dump(exclude={"thought_id"}),
            "created_at": now,
            EXPIRES_AT: self._retention.thought_expiry(now),
        }
        with contextlib.suppress(DuplicateKeyError):  # the same thinking job delivered twice
            await self._thoughts.insert_one(doc)

    async def latest(self, persona_id: str, limit: int = 5) -> list[Thought]:
        cursor = self._thoughts.find({"persona_id": persona_id}).sort("_id", -1).limit(limit)
        return [Thought.model_validate({**doc, "thought_id": doc["_id"]}) for doc in await cursor.to_list(limit)]
