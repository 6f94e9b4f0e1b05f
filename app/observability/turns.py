"""One turn as an operator sees it in the worker: its span, and one INFO line and its metrics when it ends.

`run_turn` opens a `TurnWatch` when the job starts, hands it the sink of a streamed turn's words
(to note when the first went out), tells it what came of the turn once the reply (or the job
record) is out, and closes it when the job is over; a turn closed without an outcome failed (an
error, or cancelled past its job timeout or by a cold stop: the caller got the fallback).
"""

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from app.observability import metrics, tracing
from app.store.history import HistoryEntry
from app.turns import Reply, Turn

log = logging.getLogger("worker.turns")

Outcome = Literal["answered", "stand_in", "fallback", "interrupted", "failed", "expired"]
Sink = Callable[[str, int], Awaitable[None]]  # worker/speaker.py's: (words, characters before them)


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


class TurnWatch:
    """A turn from the job's start to its end: its span, log line and metrics."""

    def __init__(self, turn: Turn, brain: str) -> None:
        self.turn = turn
        self.brain = brain
        self.started_at = time.time()
        self.outcome: Outcome | None = None
        self._first_word_at: float | None = None
        self._ended_at: float | None = None
        self._span = tracing.WorkerSpan(turn)  # the job's spans are its children from here on
        metrics.TURNS_IN_FLIGHT.inc()
        metrics.QUEUE_WAIT_SECONDS.labels(turn.channel).observe(max(0.0, self.started_at - turn.enqueued_at))

    def words_out(self, sink: Sink | None) -> Sink | None:
        """A streamed turn's sink, noting when its first words went out (a whole reply's first
        word is the reply)."""
        if sink is None:
            return None

        async def noted(words: str, offset: int) -> None:
            if self._first_word_at is None:
                self._first_word_at = time.time()
            await sink(words, offset)

        return noted

    def answered(self, reply: Reply | None, entry: HistoryEntry | None) -> None:
        """What came of the turn, now out: its reply, or None (the listener barged in, or it
        expired in the queue: nothing to answer)."""
        self._ended_at = time.time()
        asked, self.brain = self.brain, (entry.brain if entry else None) or self.brain
        if entry is not None and entry.interrupted:
            self.outcome = "interrupted"
        elif reply is None:
            self.outcome = "expired"
        else:
            self.outcome = "fallback" if reply.fallback else "stand_in" if self.brain != asked else "answered"

    def close(self) -> None:
        outcome = self.outcome or "failed"
        ended = self._ended_at or time.time()
        turn = self.turn
        first_word = self._first_word_at or (ended if outcome in ("answered", "stand_in", "fallback") else None)
        self._span.end(outcome, self.brain)
        metrics.TURNS_IN_FLIGHT.dec()
        metrics.TURNS.labels(turn.channel, outcome).inc()
        if outcome != "expired":  # an expired turn's time is the queue's, already observed
            metrics.TURN_SECONDS.labels(turn.channel).observe(max(0.0, ended - turn.enqueued_at))
        if first_word is not None:
            metrics.FIRST_WORD_SECONDS.labels(turn.channel).observe(max(0.0, first_word - turn.enqueued_at))
        log.info(
            "turn %s",
            outcome,
            extra={
                "session_id": turn.session_id,
                "turn_id": turn.turn_id,
                "door": turn.channel,
                "brain": self.brain,
                "outcome": outcome,
                "queue_wait_ms": _ms(self.started_at - turn.enqueued_at),
                "first_word_ms": None if first_word is None else _ms(first_word - turn.enqueued_at),
                "total_ms": _ms(ended - turn.enqueued_at),
            },
        )
