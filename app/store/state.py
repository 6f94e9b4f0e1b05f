"""The persona's versioned state documents, by scope.

| model            | collection       | key                 | scope                                 |
|------------------|------------------|---------------------|---------------------------------------|
| EmotionState     | persona_states   | persona id          | persona-wide: one mood for all users  |
| Relationship     | relationships    | persona id + user   | per user, across sessions and doors   |
| UserMemory       | user_memories    | persona id + user   | per user: facts the user told         |

Session memory has one writer at a time (its session's lane) and lives apart, in
`session_memory.py`.

Every write goes through `versioned.update`: version-checked and idempotent by turn id, within
a window of recent turn ids sized to how many other turns can land in between: a session's turns
run one at a time (its lane), a user's rarely interleave, but every session of a persona writes
its mood, so that document remembers more. A retried turn whose id has left the window would
move the persona's mood twice; the effect is one small, decaying nudge.
"""

from motor.motor_asyncio import AsyncIOMotorDatabase

from app.persona.emotion import EmotionState
from app.persona.memory import UserMemory
from app.persona.relationship import Relationship
from app.store.mongo import PERSONA_STATES, RELATIONSHIPS, USER_MEMORIES
from app.store.session_memory import SessionMemoryStore
from app.store.versioned import VersionedModel


def user_key(persona_id: str, user_id: str) -> str:
    """Per-user documents are per persona too: each persona keeps its own view of a user."""
    return f"{persona_id}|{user_id}"


class StateStore:
    def __init__(self, db: AsyncIOMotorDatabase) -> None:
        self.emotion = VersionedModel(db[PERSONA_STATES], "emotion", EmotionState, keep_applied=64)
        self.relationship = VersionedModel(db[RELATIONSHIPS], "relationship", Relationship)
        self.user_memory = VersionedModel(db[USER_MEMORIES], "memory", UserMemory)
        self.session_memory = SessionMemoryStore(db)
