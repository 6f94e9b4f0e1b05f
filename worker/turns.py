"""One turn, end to end inside a worker: load state, run the engine, record, answer, then settle.

Durable before visible (invariant 6): the turn's history entry, which holds its reply and the
state changes it makes, is written before the caller publishes the reply. The changes are then
applied to the state documents (`settle`) before the caller lets the session's next turn run, so
that turn reads them; a worker that dies in between leaves its lease to lapse, and the turn run
again finds its entry and applies the same changes. Every write is idempotent by turn id, so a
job that runs twice changes state once and answers with what was recorded the first time. The
reply thus waits for the reads and one write, not for every state document.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pymongo.errors import PyMongoError

from app.brains import BrainSet
from app.catalog import PersonaCatalog
from app.logs import short
from app.observability import tracing
from app.observability.tracing import traced
from app.persona import engine, safety
from app.persona.brains import BrainContext, BrainOutput
from app.persona.brains.base import AsyncBrain
from app.persona.emotion import apply_deltas, felt
from app.persona.memory import Exchange, UserMemory, learn, next_topics
from app.persona.relationship import Relationship, felt_after, record_interaction
from app.store.history import HistoryEntry, HistoryStore
from app.store.mood import MoodChange, MoodRead
from app.store.state import StateStore, TurnState, user_key
from app.store.versioned import WriteConflictError
from app.turns import Card, Reply, Turn
from worker.speaker import Interruptions, Speaker

log = logging.getLogger(__name__)

Write = Callable[[], Awaitable[Any]]
# Backoff between attempts to finish a half-written turn: about 15 s in all, inside JOB_TIMEOUT_SECONDS
# and long enough for a MongoDB replica set to elect a new primary.
STORE_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass(frozen=True)
class Answer:
    """A turn recorded: its reply (None when nobody waits for one), its history entry (which holds
    the state changes still to apply) and the state this run read (a versioned write saves its
    read when nobody wrote since)."""

    reply: Reply | None
    entry: HistoryEntry | None = None
    snapshots: TurnState | None = None


class TurnProcessor:
    def __init__(
        self,
        brains: BrainSet,
        catalog: PersonaCatalog,
        state: StateStore,
        history: HistoryStore,
        session_memory_turns: int,
        user_memory_facts: int,
        crisis_resource_line: str = safety.DEFAULT_RESOURCE_LINE,
    ) -> None:
        self.brains = brains
        self.catalog = catalog
        self.state = state
        self.history = history
        self.session_memory_turns = session_memory_turns
        self.user_memory_facts = user_memory_facts
        self.crisis_resource_line = crisis_resource_line
        self.interruptions = Interruptions()

    async def answer(self, turn: Turn, speaker: Speaker | None = None) -> Answer:
        """Read state, run the engine and record the turn; the reply may be published on return.

        The brain's words go to `speaker` as they come. A turn whose listener barged in records
        what reached them, flagged `interrupted`, and has no reply to publish."""
        speaker = speaker or Speaker()
        started = time.time()
        ctx_log = {"session_id": turn.session_id, "turn_id": turn.turn_id}
        if turn.deadline_at is not None and started > turn.deadline_at:
            await self.history.append(self._entry(turn, started, status="expired"))
            log.warning("turn expired in the queue; recorded, not answered", extra=ctx_log)
            return Answer(None)

        profile = self.catalog.get(turn.persona_id)
        snapshots = await traced("store read", self.state.read_turn(profile, turn.user_id, turn.session_id))
        state = engine.PersonaState(
            emotion=snapshots.mood.current,
            relationship=snapshots.relationship.value,
            memory=snapshots.session,
            user_memory=snapshots.user_memory.value,
        )
        ctx = engine.prepare(profile, state, turn, now=started, seed=int(turn.turn_id[-8:], 16))
        brain = self.brains.get(turn.brain)
        output, _ = await asyncio.gather(self._respond(ctx, brain, speaker), self._fold_mood(snapshots.mood, ctx_log))
        await speaker.flushed()  # its words are out before the turn is recorded and its reply sent
        result = engine.finish(ctx, output)
        if result.flagged:
            log.warning("turn flagged: %s", result.flagged, extra=ctx_log)
        changes = result.changes()
        mood = apply_deltas(ctx.emotion, changes.mood_deltas, profile.baseline, profile.half_life_seconds, started)
        met = felt(mood, felt_after(ctx.relationship.feelings, changes.emotion_deltas))  # as this user meets it
        entry = self._entry(
            turn,
            started,
            output_text=result.reply_text,
            output_cards=result.cards,
            fallback=result.fallback,
            flagged=result.flagged,
            crisis=result.crisis,
            interrupted=result.interrupted,
            brain=result.answered_by or brain.name,
            mood=met.shown(),
            recalled=[f"{fact.kind}: {fact.value}" for fact in ctx.recalled],
            changes=changes,
        )
        if not await traced("record", self.history.append(entry)):
            saved = await self.history.get(turn.turn_id)
            log.warning("turn already recorded; answering with the saved reply", extra=ctx_log)
            if saved is None or saved.status != "answered":
                return Answer(None)
            entry = saved
        if entry.interrupted:  # nobody waits for the rest; the state changes still apply
            return Answer(None, entry, snapshots)
        reply = Reply.to(
            turn,
            entry.output_text,
            cards={cid: Card.model_validate(card) for cid, card in entry.output_cards.items()},
            fallback=entry.fallback,
            user_facts=result.profile,
            trace=tracing.carried(),
        )
        return Answer(reply, entry, snapshots)

    async def _respond(self, ctx: BrainContext, brain: AsyncBrain, speaker: Speaker) -> BrainOutput:
        """The safety answer to crisis language, or the brain's, its words spoken as they come; a
        barge-in (now, or while the turn waited in its queue) keeps what reached the listener."""
        turn = ctx.turn
        if speaker.interrupted:
            return BrainOutput(text="", interrupted=True)
        if (output := engine.safety_answer(ctx, self.crisis_resource_line)) is not None:
            await speaker.say(output.text)
            return output
        try:
            responding = traced(f"brain {brain.name}", brain.respond(ctx, speaker.say))
            return await self.interruptions.run(turn.turn_id, speaker, responding)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not speaker.interrupted or (current is not None and current.cancelling()):
                raise  # the job itself was cancelled (its timeout, a cold stop), not the brain
            log.info("turn interrupted: %d characters delivered", len(speaker.delivered),
                     extra={"session_id": turn.session_id, "turn_id": turn.turn_id})  # fmt: skip
            return BrainOutput(text=speaker.delivered, interrupted=True)

    async def settle(self, turn: Turn, answer: Answer) -> None:
        """Apply the recorded changes to the state documents, each once (invariant 3: re-applied to
        fresh state if another turn wrote in between). Nothing is written that did not change:
        decay is computed on read, never stored."""
        entry, snapshots = answer.entry, answer.snapshots
        if entry is None or entry.changes is None or snapshots is None:
            return
        changes = entry.changes
        exchange = Exchange(
            turn_id=turn.turn_id, user_text=turn.text, reply_text=entry.output_text, at=entry.started_at
        )
        user_doc = user_key(turn.persona_id, turn.user_id)
        writes: dict[str, Write] = {
            "relationship": lambda: self.state.relationship.update(
                user_doc,
                Relationship,
                lambda r: record_interaction(
                    r, changes.relationship_signal, time.time(), changes.known, changes.emotion_deltas
                ),
                turn.turn_id,
                first=snapshots.relationship,
            ),
            "session memory": lambda: self.state.session_memory.append(
                turn.session_id,
                exchange,
                next_topics(snapshots.session.topics, exchange),
                self.session_memory_turns,
                user_id=turn.user_id,
            ),
        }
        if changes.mood_deltas:
            mood_change = MoodChange(op_id=turn.turn_id, at=entry.started_at, deltas=changes.mood_deltas)
            writes["emotion"] = lambda: self.state.mood.add(turn.persona_id, mood_change)
        if changes.facts:
            writes["user memory"] = lambda: self.state.user_memory.update(
                user_doc,
                UserMemory,
                lambda m: learn(m, changes.facts, self.user_memory_facts, time.time()),
                turn.turn_id,
                first=snapshots.user_memory,
            )
        await self._write_through(writes, {"session_id": turn.session_id, "turn_id": turn.turn_id})

    async def _fold_mood(self, read: MoodRead, ctx_log: dict[str, str]) -> None:
        """Fold the persona's pending mood changes while the brain answers, from this turn's fresh
        read. Folded at settle instead, from a read as old as the turn, the fold mostly lost its
        version check: with 200 turns in flight ~250 changes stayed pending, and every read parsed,
        folded and held all of them (measured: 280-317 KB of worker memory per turn in flight)."""
        try:
            await self.state.mood.compact_if_due(read)
        except PyMongoError as exc:  # never needed now: the next reader folds them
            log.info("mood not folded: %s", short(exc), extra=ctx_log)

    async def _write_through(self, writes: dict[str, Write], ctx_log: dict[str, str]) -> None:
        """Run the state writes of a recorded turn together and see them through.

        The turn's history entry has landed, so a write that fails (a MongoDB failover, a dropped
        connection, a document that kept changing under a version check) is retried with backoff for
        about 15 s, each idempotent by turn id, so the turn is stored whole; only an outage longer
        than that leaves it half-written, logged with what landed.
        """
        stored = ["history"]
        delays = iter(STORE_RETRY_DELAYS)
        while True:
            missing = {name: write for name, write in writes.items() if name not in stored}
            outcomes = await asyncio.gather(*(write() for write in missing.values()), return_exceptions=True)
            failures: dict[str, BaseException] = {}
            for name, outcome in zip(missing, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    failures[name] = outcome
                else:
                    stored.append(name)
            if not failures:
                return
            error = next(iter(failures.values()))
            delay = next(delays, None)
            if not isinstance(error, PyMongoError | WriteConflictError) or delay is None:
                log.error("turn left half-written: %s stored, %s not", stored, list(failures), extra=ctx_log)
                raise error
            log.warning(
                "turn half-written (%s stored, %s not); retrying in %.2f s: %s",
                stored,
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
        crisis: bool = False,
        interrupted: bool = False,
        brain: str | None = None,
        mood: dict[str, float] | None = None,
        recalled: list[str] | None = None,
        changes: engine.StateChanges | None = None,
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
            crisis=crisis,
            interrupted=interrupted,
            brain=brain,
            mood=mood or {},
            recalled=recalled or [],
            changes=changes,
            status=status,
            enqueued_at=turn.enqueued_at,
            started_at=started,
            finished_at=time.time(),
        )
