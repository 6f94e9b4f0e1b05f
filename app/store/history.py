"""Conversation history: one document per turn, keyed by turn id so a retried job cannot duplicate it."""

from datetime import UTC, datetime
from typing import Any, Literal

from motor.motor_asyncio import AsyncIOMotorDatabase
from pydantic import BaseModel, Field
from pymongo.errors import DuplicateKeyError

from app.persona.engine import StateChanges
from app.store.mongo import HISTORY

TurnStatus = Literal["answered", "expired"]


class HistoryEntry(BaseModel):
    turn_id: str
    session_id: str
    user_id: str
    persona_id: str
    channel: str
    kind: str
    input_text: str
    input_variables: dict[str, Any] = Field(default_factory=dict)
    output_text: str = ""
    output_cards: dict[str, Any] = Field(default_factory=dict)
    fallback: bool = False
    flagged: str | None = None  # e.g. the LLM failed and the rules brain answered instead
    crisis: bool = False  # crisis language: the safety answer was given (GET /v1/sessions?crisis=true)
    interrupted: bool = False  # the listener barged in: output_text is the part that reached them
    brain: str | None = None  # which brain answered (None: the turn was not answered)
    # The persona's emotions after this turn as this user meets them: its mood coloured by its
    # feelings towards the user (what the console charts).
    mood: dict[str, float] = Field(default_factory=dict)
    recalled: list[str] = Field(default_factory=list)  # memories of the user this turn recalled
    changes: StateChanges | None = None  # what the turn changes in state, applied after it answers
    status: TurnStatus = "answered"
    enqueued_at: float
    started_at: float
    finished_at: float
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class HistoryStore:
    def __init__(self, db: AsyncIOMotorDatabase) -> None:
        self._history = db[HISTORY]

    async def append(self, entry: HistoryEntry) -> bool:
        """Insert the turn; False when it was already recorded (a duplicate delivery)."""
        doc = {"_id": entry.turn_id, **entry.model_dump(exclude={"turn_id"})}
        try:
            await self._history.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def get(self, turn_id: str) -> HistoryEntry | None:
        doc = await self._history.find_one({"_id": turn_id})
        return _entry(doc) if doc else None

    async def for_session(self, session_id: str, limit: int = 50, before: str | None = None) -> list[HistoryEntry]:
        """The session's turns, oldest first (turn ids are time-ordered); `before` pages back."""
        return await self._page({"session_id": session_id}, limit, before)

    async def for_user(self, user_id: str, limit: int = 50, before: str | None = None) -> list[HistoryEntry]:
        """Everything a user said and heard, through any door, oldest first."""
        return await self._page({"user_id": user_id}, limit, before)

    async def recent_words(self, persona_id: str, since: float, limit: int = 200) -> list[str]:
        """What users said to the persona since `since` (newest first; turn ids are time-ordered),
        for the thinking loop's count of general interests; never shown as said."""
        query = {"persona_id": persona_id, "kind": "text", "_id": {"$gte": f"{int(since * 1e9):016x}"}}
        docs = await self._history.find(query, {"input_text": 1}).sort("_id", -1).limit(limit).to_list(limit)
        return [str(doc.get("input_text", "")) for doc in docs]

    async def crisis_sessions(self) -> list[str]:
        """Sessions with a turn that spoke of a crisis, for operators to review."""
        return await self._history.distinct("session_id", {"crisis": True})

    async def delete_for_user(self, user_id: str) -> list[str]:
        """Forget a user's history; returns the sessions it touched."""
        sessions = await self._history.distinct("session_id", {"user_id": user_id})
        await self._history.delete_many({"user_id": user_id})
        return sessions

    async def _page(self, query: dict[str, Any], limit: int, before: str | None) -> list[HistoryEntry]:
        if before is not None:
            query = {**query, "_id": {"$lt": before}}
        docs = await self._history.find(query).sort("_id", -1).limit(limit).to_list(limit)
        return [_entry(doc) for doc in reversed(docs)]


def _entry(doc: dict[str, Any]) -> HistoryEntry:
    return HistoryEntry.model_validate({**doc, "turn_id": doc["_id"]})
