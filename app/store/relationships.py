"""Per-user state: the persona's relationship with each user, one document per (persona, user)."""

from collections.abc import Callable

from motor.motor_asyncio import AsyncIOMotorDatabase

from app.persona.relationship import Relationship
from app.store import versioned
from app.store.mongo import RELATIONSHIPS


def _doc_id(persona_id: str, user_id: str) -> str:
    return f"{persona_id}|{user_id}"


class RelationshipStore:
    def __init__(self, db: AsyncIOMotorDatabase) -> None:
        self._relationships = db[RELATIONSHIPS]

    async def read(self, persona_id: str, user_id: str) -> versioned.Snapshot[Relationship]:
        return await versioned.read(
            self._relationships, _doc_id(persona_id, user_id), "relationship", Relationship, Relationship
        )

    async def update(
        self,
        persona_id: str,
        user_id: str,
        change: Callable[[Relationship], Relationship],
        turn_id: str,
        first: versioned.Snapshot[Relationship] | None = None,
    ) -> Relationship:
        doc_id = _doc_id(persona_id, user_id)
        return await versioned.update(
            self._relationships, doc_id, "relationship", Relationship, Relationship, change, turn_id, first
        )
