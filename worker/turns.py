"""One turn, end to end inside a worker: load state, run the engine, save, build the reply.

Durable before visible (invariant 6): every state change and the history entry are written
before the caller publishes. Each write is idempotent by turn id, so a job that runs twice
changes state once and answers with what was saved the first time.
"""

import asyncio
import logging
import time

from app.persona import engine
from app.persona.brains import Brain
from app.persona.emotion import EmotionState, apply_deltas, initial_state
from app.persona.memory import remember
from app.persona.profiles import PersonaProfile, default_profile
from app.persona.relationship import record_interaction
from app.store.history import HistoryEntry, HistoryStore
from app.store.persona_states import PersonaStateStore
from app.store.relationships import RelationshipStore
from app.store.sessions import SessionStore
from app.turns import Card, Reply, Turn

log = logging.getLogger(__name__)


class TurnProcessor:
    def __init__(
        self,
        brain: Brain,
        sessions: SessionStore,
        history: HistoryStore,
        persona_states: PersonaStateStore,
        relationships: RelationshipStore,
        session_memory_turns: int,
    ) -> None:
        self.brain = brain
        self.sessions = sessions
        self.history = history
        self.persona_states = persona_states
        self.relationships = relationships
        self.session_memory_turns = session_memory_turns

    def profile(self, persona_id: str) -> PersonaProfile:
        return default_profile(persona_id)

    async def process(self, turn: Turn) -> Reply | None:
        """The turn's reply, or None when its deadline passed before it started (nobody waits)."""
        started = time.time()
        ctx = {"session_id": turn.session_id, "turn_id": turn.turn_id}
        if turn.deadline_at is not None and started > turn.deadline_at:
            await self.history.append(self._entry(turn, started, status="expired"))
            log.warning("turn expired in the queue; recorded, not answered", extra=ctx)
            return None

        profile = self.profile(turn.persona_id)
        baseline, half_life = profile.baseline, profile.half_life_seconds

        def fresh_emotion() -> EmotionState:
            return initial_state(baseline, started)

        emotion, relationship, memory = await asyncio.gather(
            self.persona_states.read_emotion(turn.persona_id, fresh_emotion),
            self.relationships.read(turn.persona_id, turn.user_id),
            self.sessions.read_memory(turn.session_id),
        )
        state = engine.PersonaState(emotion=emotion.value, relationship=relationship.value, memory=memory.value)
        result = engine.step(profile, state, turn, self.brain, now=started, seed=int(turn.turn_id[-8:], 16))

        # Changes are re-applied to fresh state if another turn wrote in between (invariant 3).
        # A turn that moves no emotion writes none: decay is computed on read, never stored.
        emotion_write = (
            self.persona_states.update_emotion(
                turn.persona_id,
                fresh_emotion,
                lambda e: apply_deltas(e, result.emotion_deltas, baseline, half_life, time.time()),
                turn.turn_id,
                first=emotion,
            )
            if result.emotion_deltas
            else asyncio.sleep(0)
        )
        await asyncio.gather(
            emotion_write,
            self.relationships.update(
                turn.persona_id,
                turn.user_id,
                lambda r: record_interaction(r, result.relationship_signal, time.time()),
                turn.turn_id,
                first=relationship,
            ),
            self.sessions.update_memory(
                turn.session_id,
                lambda m: remember(m, result.exchange, self.session_memory_turns),
                turn.turn_id,
                first=memory,
            ),
        )
        entry = self._entry(
            turn,
            started,
            output_text=result.reply_text,
            output_cards=result.cards,
            fallback=result.fallback,
        )
        if not await self.history.append(entry):
            stored = await self.history.get(turn.turn_id)
            log.warning("turn already processed; answering with the saved reply", extra=ctx)
            if stored is None or stored.status != "answered":
                return None
            entry = stored
        return Reply(
            session_id=turn.session_id,
            turn_id=turn.turn_id,
            persona_id=turn.persona_id,
            input_text=turn.text,
            text=entry.output_text,
            cards={cid: Card.model_validate(card) for cid, card in entry.output_cards.items()},
            fallback=entry.fallback,
        )

    def _entry(
        self,
        turn: Turn,
        started: float,
        *,
        status: str = "answered",
        output_text: str = "",
        output_cards: dict[str, Card] | None = None,
        fallback: bool = False,
    ) -> HistoryEntry:
        return HistoryEntry(
            turn_id=turn.turn_id,
            session_id=turn.session_id,
            user_id=turn.user_id,
            persona_id=turn.persona_id,
            channel=turn.channel,
            kind=turn.kind,
            input_text=turn.text,
            input_variables=turn.variables,
            output_text=output_text,
            output_cards={cid: card.model_dump() for cid, card in (output_cards or {}).items()},
            fallback=fallback or status == "expired",
            status=status,  # type: ignore[arg-type]
            enqueued_at=turn.enqueued_at,
            started_at=started,
            finished_at=time.time(),
        )
