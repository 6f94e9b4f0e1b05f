"""Persona-wide state (shared by every user and session): the persona's emotions."""

from collections.abc import Callable

from motor.motor_asyncio import AsyncIOMotorDatabase

from app.persona.emotion import EmotionState
from app.store import versioned
from app.store.mongo import PERSONA_STATES


class PersonaStateStore:
    def __init__(self, db: AsyncIOMotorDatabase) -> None:
        self._states = db[PERSONA_STATES]

    async def read_emotion(
        self, persona_id: str, default: Callable[[], EmotionState]
    ) -> versioned.Snapshot[EmotionState]:
        return await versioned.read(self._states, persona_id, "emotion", EmotionState, default)

    async def update_emotion(
        self,
        persona_id: str,
        default: Callable[[], EmotionState],
        change: Callable[[EmotionState], EmotionState],
        turn_id: str,
        first: versioned.Snapshot[EmotionState] | None = None,
    ) -> EmotionState:
        return await versioned.update(
            self._states, persona_id, "emotion", EmotionState, default, change, turn_id, first
        )
