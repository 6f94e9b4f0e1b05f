"""One turn, end to end inside a worker: load state, run the engine, save, build the reply.

Durable before visible (invariant 6): every state change and the history entry are written
before the caller publishes. Each write is idempotent by turn id, so a job that runs twice
changes state once and answers with what was saved the first time. Reads and writes of a turn
are issued together, so a networked MongoDB costs about three round trips per turn.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo.errors import PyMongoError

from app.brains import BrainSet
from app.catalog import PersonaCatalog
from app.persona import engine
from app.persona.emotion import EmotionState, apply_deltas, initial_state
from app.persona.memory import SessionMemory, UserMemory, learn, remember
from app.persona.relationship import Relationship, record_interaction
from app.store.history import HistoryEntry, HistoryStore
from app.store.state import StateStore, user_key
from app.turns import Card, Reply, Turn

log = logging.getLogger(__name__)

Write = Callable[[], Awaitable[Any]]
# Backoff between attempts to finish a half-written turn: about 15 s in all, inside JOB_TIMEOUT_SECONDS
# and long enough for a MongoDB replica set to elect a new primary.
STORE_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


class TurnProcessor:
    def __init__(
        self,
        brains: BrainSet,
        catalog: PersonaCatalog,
        state: StateStore,
        history: HistoryStore,
        session_memory_turns: int,
        user_memory_facts: int,
    ) -> None:
        self.brains = brains
        self.catalog = catalog
        self.state = state
        self.history = history
        self.session_memory_turns = session_memory_turns
        self.user_memory_facts = user_memory_facts

    async def process(self, turn: Turn) -> Reply | None:
        """The turn's reply, or None when its deadline passed before it started (nobody waits)."""
        started = time.time()
        ctx_log = {"session_id": turn.session_id, "turn_id": turn.turn_id}
        if turn.deadline_at is not None and started > turn.deadline_at:
            await self.history.append(self._entry(turn, started, status="expired"))
            log.warning("turn expired in the queue; recorded, not answered", extra=ctx_log)
            return None

        profile = self.catalog.get(turn.persona_id)
        baseline, half_life = profile.baseline, profile.half_life_seconds
        user_doc = user_key(turn.persona_id, turn.user_id)

        def fresh_emotion() -> EmotionState:
            return initial_state(baseline, started)

        emotion, relationship, session, user_memory = await asyncio.gather(
            self.state.emotion.read(turn.persona_id, fresh_emotion),
            self.state.relationship.read(user_doc, Relationship),
            self.state.session_memory.read(turn.session_id, SessionMemory),
            self.state.user_memory.read(user_doc, UserMemory),
        )
        state = engine.PersonaState(
            emotion=emotion.value, relationship=relationship.value, memory=session.value, user_memory=user_memory.value
        )
        ctx = engine.prepare(profile, state, turn, now=started, seed=int(turn.turn_id[-8:], 16))
        brain = self.brains.get(turn.brain)
        output = await brain.respond(ctx)
        result = engine.finish(ctx, output)
        if result.flagged:
            log.warning("turn answered by the fallback brain: %s", result.flagged, extra=ctx_log)

        # Changes are re-applied to fresh state if another turn wrote in between (invariant 3).
        # Nothing is written that did not change: decay is computed on read, never stored.
        writes: dict[str, Write] = {
            "relationship": lambda: self.state.relationship.update(
                user_doc,
                Relationship,
                lambda r: record_interaction(r, result.relationship_signal, time.time(), result.known),
                turn.turn_id,
                first=relationship,
            ),
            "session memory": lambda: self.state.session_memory.update(
                turn.session_id,
                SessionMemory,
                lambda m: remember(m, result.exchange, self.session_memory_turns),
                turn.turn_id,
                first=session,
            ),
        }
        if result.emotion_deltas:
            writes["emotion"] = lambda: self.state.emotion.update(
                turn.persona_id,
                fresh_emotion,
                lambda e: apply_deltas(e, result.emotion_deltas, baseline, half_life, time.time()),
                turn.turn_id,
                first=emotion,
            )
        if result.facts:
            writes["user memory"] = lambda: self.state.user_memory.update(
                user_doc,
                UserMemory,
                lambda m: learn(m, result.facts, self.user_memory_facts, time.time()),
                turn.turn_id,
                first=user_memory,
            )
        stored = await self._write_through(writes, ctx_log)
        mood: EmotionState = stored.get("emotion", ctx.emotion)  # unmoved: the mood as this turn found it

        entry = self._entry(
            turn,
            started,
            output_text=result.reply_text,
            output_cards=result.cards,
            fallback=result.fallback,
            flagged=result.flagged,
            brain=brain.name,
            mood={name: round(value, 4) for name, value in mood.values.items()},
            recalled=[f"{fact.kind}: {fact.value}" for fact in ctx.recalled],
        )
        appended = await self._write_through({"history": lambda: self.history.append(entry)}, ctx_log, list(stored))
        if not appended["history"]:
            saved = await self.history.get(turn.turn_id)
            log.warning("turn already processed; answering with the saved reply", extra=ctx_log)
            if saved is None or saved.status != "answered":
                return None
            entry = saved
        return Reply(
            session_id=turn.session_id,
            turn_id=turn.turn_id,
            persona_id=turn.persona_id,
            input_text=turn.text,
            text=entry.output_text,
            cards={cid: Card.model_validate(card) for cid, card in entry.output_cards.items()},
            fallback=entry.fallback,
            user_facts=result.profile,
        )

    async def _write_through(
        self, writes: dict[str, Write], ctx_log: dict[str, str], already: list[str] | None = None
    ) -> dict[str, Any]:
        """Run a turn's writes together; once any of its writes has landed, see the rest through.

        Failing before anything of the turn is stored, it fails at once and stores nothing (the
        socket gets its fallback now). Failing half-way (a MongoDB failover, a dropped connection),
        the missing writes, each idempotent by turn id, are retried with backoff for about 15 s,
        so the turn is stored whole; only an outage longer than that leaves it half-written,
        logged with what landed.
        """
        stored: dict[str, Any] = {}
        delays = iter(STORE_RETRY_DELAYS)
        while True:
            missing = {name: write for name, write in writes.items() if name not in stored}
            outcomes = await asyncio.gather(*(write() for write in missing.values()), return_exceptions=True)
            failures: dict[str, BaseException] = {}
            for name, outcome in zip(missing, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    failures[name] = outcome
                else:
                    stored[name] = outcome
            if not failures:
                return stored
            error = next(iter(failures.values()))
            landed = [*(already or []), *stored]
            delay = next(delays, None)
            if not landed or not isinstance(error, PyMongoError) or delay is None:
                if landed:
                    log.error("turn left half-written: %s stored, %s not", landed, list(failures), extra=ctx_log)
                raise error
            log.warning(
                "turn half-written (%s stored, %s not); retrying in %.2f s: %s",
                landed,
                list(failures),
                delay,
                str(error).splitlines()[0][:160],
                extra=ctx_log,
            )
            await asyncio.sleep(delay)

    def _entry(
        self,
        turn: Turn,
        started: float,
        *,
        status: str = "answered",
        output_text: str = "",
        output_cards: dict[str, Card] | None = None,
        fallback: bool = False,
        flagged: str | None = None,
        brain: str | None = None,
        mood: dict[str, float] | None = None,
        recalled: list[str] | None = None,
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
            flagged=flagged,
            brain=brain,
            mood=mood or {},
            recalled=recalled or [],
            status=status,  # type: ignore[arg-type]
            enqueued_at=turn.enqueued_at,
            started_at=started,
            finished_at=time.time(),
        )
