"""Sessions: one document per conversation session (any channel); session_memory.py keeps its memory.

An anonymous session's document expires ANONYMOUS_RETENTION_SECONDS after it was last recorded.
"""

from datetime import UTC, datetime
from typing import Any

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo.errors import DuplicateKeyError

from app.store.mongo import SESSIONS
from app.store.retention import DEFAULT_RETENTION, EXPIRES_AT, Retention


class SessionStore:
    def __init__(self, db: AsyncIOMotorDatabase, retention: Retention = DEFAULT_RETENTION) -> None:
        self._sessions = db[SESSIONS]
        self._retention = retention

    async def record(
        self,
        session_id: str,
        *,
        channel: str,
        user_id: str,
        persona_id: str,
        scene_state: str | None = None,
        meta: dict[str, Any] | None = None,
        user_info: Any = None,
    ) -> None:
        """Upsert what the door told us about the session (never touches its memory)."""
        now = datetime.now(UTC)
        fields = {
            "channel": channel,
            "user_id": user_id,
            "persona_id": persona_id,
            "scene_state": scene_state,
            "meta": meta or {},
            "user_info": user_info,
            "updated_at": now,
        }
        expires_at = self._retention.anonymous_expiry(user_id)
        if expires_at is not None:
            fields[EXPIRES_AT] = expires_at
        for _ in range(2):  # a concurrent first insert can make the upsert collide once
            try:
                await self._sessions.update_one(
                    {"_id": session_id}, {"$set": fields, "$setOnInsert": {"created_at": now}}, upsert=True
                )
                return
            except DuplicateKeyError:
                continue

    async def get(self, session_id: str) -> dict[str, Any] | None:
        return await self._sessions.find_one({"_id": session_id})

    async def search(
        self,
        channel: str | None,
        user_id: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        among: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Sessions, most recently active first; `among`: only these ids."""
        query: dict[str, Any] = {} if among is None else {"_id": {"$in": among}}
        if channel:
            query["channel"] = channel
        if user_id:
            query["user_id"] = user_id
        if since or until:
            query["updated_at"] = {k: v for k, v in (("$gte", since), ("$lte", until)) if v is not None}
        cursor = self._sessions.find(query).sort("updated_at", -1).limit(limit)
        return await cursor.to_list(limit)
