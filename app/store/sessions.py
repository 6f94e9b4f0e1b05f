"""Sessions: one document per conversation session (any channel); state.py keeps its memory."""

from datetime import UTC, datetime
from typing import Any

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo.errors import DuplicateKeyError

from app.store.mongo import SESSIONS


class SessionStore:
    def __init__(self, db: AsyncIOMotorDatabase) -> None:
        self._sessions = db[SESSIONS]

    async def record_scene_state(
        self,
        session_id: str,
        *,
        channel: str,
        user_id: str,
        persona_id: str,
        scene_state: str | None,
        meta: dict[str, Any],
        user_info: Any,
    ) -> None:
        """Upsert what the platform told us about the session (never touches memory)."""
        now = datetime.now(UTC)
        fields = {
            "channel": channel,
            "user_id": user_id,
            "persona_id": persona_id,
            "scene_state": scene_state,
            "meta": meta,
            "user_info": user_info,
            "updated_at": now,
        }
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
