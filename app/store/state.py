"""The persona's state documents, by scope.

| model            | collection       | key                 | scope                                 |
|------------------|------------------|---------------------|---------------------------------------|
| EmotionState     | persona_states   | persona id          | persona-wide: one mood for all users  |
| Relationship     | relationships    | persona id + user   | per user, across sessions and doors   |
| UserMemory       | user_memories    | persona id + user   | per user: facts the user told         |

Every turn of a persona moves its mood at once, so the mood is not version-checked but folded
from appended changes (`mood.py`). The per-user documents go through `versioned.update`:
version-checked and idempotent by turn id, within a window of recent turn ids (a session's turns
run one at a time, its lane, and a user's rarely interleave). Session memory has one writer at a
time (its session's lane) and lives apart, in `session_memory.py`.
"""

from datetime import datetime

from motor.motor_asyncio import AsyncIOMotorDatabase

from app.persona.memory import UserMemory
from app.persona.relationship import Relationship
from app.store.mongo import PERSONA_STATES, RELATIONSHIPS, USER_MEMORIES
from app.store.mood import MoodStore
from app.store.retention import DEFAULT_RETENTION, Retention
from app.store.session_memory import SessionMemoryStore
from app.store.versioned import VersionedModel


def user_key(persona_id: str, user_id: str) -> str:
    """Per-user documents are per persona too: each persona keeps its own view of a user."""
    return f"{persona_id}|{user_id}"


def _user_of(key: str) -> str:
    return key.split("|", 1)[1]


class StateStore:
    def __init__(self, db: AsyncIOMotorDatabase, retention: Retention = DEFAULT_RETENTION) -> None:
        self.mood = MoodStore(db[PERSONA_STATES])

        def expiry(key: str) -> datetime | None:  # what the persona keeps about an anonymous user
            return retention.anonymous_expiry(_user_of(key))

        self.relationship = VersionedModel(db[RELATIONSHIPS], "relationship", Relationship, expiry=expiry)
        self.user_memory = VersionedModel(db[USER_MEMORIES], "memory", UserMemory, expiry=expiry)
        self.session_memory = SessionMemoryStore(db, retention)
