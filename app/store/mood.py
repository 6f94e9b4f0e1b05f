"""The persona's shared mood: a base state plus the changes not yet folded into it.

Every turn and thought of a persona moves the same mood, so with hundreds of turns in flight a
version-checked read-modify-write of one document would mostly conflict. Instead a change is
appended with one atomic, idempotent `$push` (keyed by its turn or thought id), which never
conflicts; readers fold the pending changes into the base in time order. Once enough changes
are pending, a reader folds them into the base with a version-checked write that also moves
their ids to `applied`; losing that race to another reader costs nothing (it compacted already).
"""

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection
from pydantic import BaseModel
from pymongo.errors import DuplicateKeyError

from app.persona.emotion import EmotionState, fold, initial_state
from app.persona.profiles import PersonaProfile

COMPACT_AFTER = 32  # pending changes a reader folds into the base
APPLIED_KEPT = 256  # ids of folded changes remembered, so a change re-sent later is still refused


class MoodChange(BaseModel):
    op_id: str  # the turn or thought that made it: a change is applied once per id
    at: float  # epoch seconds: the mood decays to this time before the change applies
    deltas: dict[str, float]


@dataclass(frozen=True)
class MoodRead:
    base: EmotionState
    version: int  # of the base: bumped by each compaction only
    pending: tuple[MoodChange, ...]
    profile: PersonaProfile  # where its emotions rest and how fast they return

    @cached_property
    def current(self) -> EmotionState:
        """The mood with every change known so far, as of the latest of them (decay on read);
        folded once per read (a turn uses it, its compaction writes it)."""
        changes = sorted(self.pending, key=lambda c: (c.at, c.op_id))
        profile = self.profile
        return fold(self.base, ((c.at, c.deltas) for c in changes), profile.baseline, profile.half_life_seconds)


class MoodStore:
    def __init__(
        self, collection: AsyncIOMotorCollection, compact_after: int = COMPACT_AFTER, prefix: str = ""
    ) -> None:
        """`prefix` starts every document's `_id` (kinds sharing a collection, store/state.py)."""
        self._collection = collection
        self._compact_after = compact_after
        self._prefix = prefix

    def doc_id(self, persona_id: str) -> str:
        return self._prefix + persona_id

    async def read(self, profile: PersonaProfile) -> MoodRead:
        doc = await self._collection.find_one(
            {"_id": self.doc_id(profile.persona_id)}, {"emotion": 1, "version": 1, "pending": 1}
        )
        return self.parse(profile, doc)

    @staticmethod
    def parse(profile: PersonaProfile, doc: Mapping[str, Any] | None) -> MoodRead:
        """The mood a stored document holds (None: the persona's mood never moved)."""
        doc = doc or {}
        base = EmotionState.model_validate(doc["emotion"]) if "emotion" in doc else None
        return MoodRead(
            base=base or initial_state(profile.baseline, 0.0),
            version=doc.get("version", 0),
            pending=tuple(MoodChange.model_validate(c) for c in doc.get("pending", ())),
            profile=profile,
        )

    async def add(self, persona_id: str, change: MoodChange) -> None:
        """Append a change once, whatever the number of calls (a turn run again sends it again)."""
        with contextlib.suppress(DuplicateKeyError):  # the document exists and holds this change already
            await self._collection.update_one(
                {
                    "_id": self.doc_id(persona_id),
                    "pending.op_id": {"$ne": change.op_id},
                    "applied": {"$ne": change.op_id},
                },
                {"$push": {"pending": change.model_dump()}},
                upsert=True,
            )

    async def compact_if_due(self, read: MoodRead) -> bool:
        """Fold what `read` saw pending into the base, once enough is pending; False when not due
        or another reader did it first. Changes pushed since the read stay pending."""
        if len(read.pending) < self._compact_after:
            return False
        ops = [change.op_id for change in read.pending]
        version_filter = {"version": read.version} if read.version else {"version": {"$exists": False}}
        result = await self._collection.update_one(
            {"_id": self.doc_id(read.profile.persona_id), **version_filter},
            {
                "$set": {"emotion": read.current.model_dump(), "version": read.version + 1},
                "$pull": {"pending": {"op_id": {"$in": ops}}},
                "$push": {"applied": {"$each": ops, "$slice": -APPLIED_KEPT}},
            },
        )
        return result.matched_count == 1
