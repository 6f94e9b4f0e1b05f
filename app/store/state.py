"""The persona's state documents, by scope, in one collection (`state`) so that a turn reads all
of its state in one query.

| model            | `_id`                          | scope                                 |
|------------------|--------------------------------|---------------------------------------|
| EmotionState     | `mood:<persona>`               | persona-wide: one mood for all users  |
| Relationship     | `relationship:<persona>|<user>` | per user, across sessions and doors   |
| UserMemory       | `memory:<persona>|<user>`       | per user: facts the user told         |
| SessionMemory    | `session:<session>`            | per session: recent exchanges, topics |

Every turn of a persona moves its mood at once, so the mood is not version-checked but folded
from appended changes (`mood.py`). The per-user documents go through `versioned.update`:
version-checked and idempotent by turn id, within a window of recent turn ids (a session's turns
run one at a time, its lane, and a user's rarely interleave). Session memory has one writer at a
time (its session's lane), in `session_memory.py`.

One query for four documents, not four: each operation costs the driver its own hand-off to a
thread, encoding and round trip, measured at four times the client CPU of one `$in` query for
the same four documents (docs/performance.md).
"""

from dataclasses import dataclass
from datetime import datetime

from motor.motor_asyncio import AsyncIOMotorDatabase

from app.persona.memory import SessionMemory, UserMemory
from app.persona.profiles import PersonaProfile
from app.persona.relationship import Relationship
from app.store.mongo import MOOD_PREFIX, RELATIONSHIP_PREFIX, SESSION_MEMORY_PREFIX, STATE, USER_MEMORY_PREFIX
from app.store.mood import MoodRead, MoodStore
from app.store.retention import DEFAULT_RETENTION, Retention
from app.store.session_memory import SessionMemoryStore
from app.store.versioned import Snapshot, VersionedModel

# What only the writes look at (the ids a document has applied already): not read by a turn.
WRITE_ONLY_FIELDS = {"applied": 0, "turn_ids": 0}


def user_key(persona_id: str, user_id: str) -> str:
    """Per-user documents are per persona too: each persona keeps its own view of a user."""
    return f"{persona_id}|{user_id}"


def _user_of(key: str) -> str:
    return key.split("|", 1)[1]


@dataclass(frozen=True)
class TurnState:
    """Everything a turn reads, as it read it."""

    mood: MoodRead
    relationship: Snapshot[Relationship]
    session: SessionMemory
    user_memory: Snapshot[UserMemory]


class StateStore:
    def __init__(self, db: AsyncIOMotorDatabase, retention: Retention = DEFAULT_RETENTION) -> None:
        self._collection = collection = db[STATE]
        self.mood = MoodStore(collection, prefix=MOOD_PREFIX)

        def expiry(key: str) -> datetime | None:  # what the persona keeps about an anonymous user
            return retention.anonymous_expiry(_user_of(key))

        self.relationship = VersionedModel(
            collection, "relationship", Relationship, expiry=expiry, prefix=RELATIONSHIP_PREFIX
        )
        self.user_memory = VersionedModel(collection, "memory", UserMemory, expiry=expiry, prefix=USER_MEMORY_PREFIX)
        self.session_memory = SessionMemoryStore(collection, retention, prefix=SESSION_MEMORY_PREFIX)

    async def read_turn(self, profile: PersonaProfile, user_id: str, session_id: str) -> TurnState:
        """The mood, the relationship, the user memory and the session memory, in one query."""
        user_doc = user_key(profile.persona_id, user_id)
        ids = (
            self.mood.doc_id(profile.persona_id),
            self.relationship.doc_id(user_doc),
            self.user_memory.doc_id(user_doc),
            self.session_memory.doc_id(session_id),
        )
        docs = {doc["_id"]: doc async for doc in self._collection.find({"_id": {"$in": list(ids)}}, WRITE_ONLY_FIELDS)}
        mood, relationship, user_memory, session = (docs.get(doc_id) for doc_id in ids)
        return TurnState(
            mood=self.mood.parse(profile, mood),
            relationship=self.relationship.parse(relationship, Relationship),
            session=self.session_memory.parse(session),
            user_memory=self.user_memory.parse(user_memory, UserMemory),
        )
