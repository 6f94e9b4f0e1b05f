"""One turn as an operator sees it in the worker: its span, and one INFO line and its metrics when it ends.

`run_turn` opens a `TurnWatch` when the job starts, tells it what came of the turn once the
reply (or the job record) is out, or that it could not be answered, and closes it when the job
is over; a turn closed without an outcome failed.
"""

import asyncio
import logging
import time
from typing import Literal

from app.observability import metrics, tracing
from app.turns import Reply, Turn

log = logging.getLogger("worker.turns")

# failed: an error, the caller got the fallback; interrupted: cancelled (past JOB_TIMEOUT_SECONDS,
# or a cold stop), the caller got the fallback too.
Outcome = Literal["answered", "fallback", "failed", "interrupted", "expired"]


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


class TurnWatch:
    """A turn from the job's start to its end: its span, log line and metrics."""

    def __init__(self, turn: Turn, brain: str) -> None:
        self.turn = turn
        self.brain = brain
        self.started_at = time.time()
        self.outcome: Outcome | None = None
        self._ended_at: float | None = None
        self._span = tracing.WorkerSpan(turn)  # the job's spans are its children from here on
        metrics.TURNS_IN_FLIGHT.inc()
        metrics.QUEUE_WAIT_SECONDS.labels(turn.channel).observe(max(0.0, self.started_at - turn.enqueued_at))

    def answered(self, reply: Reply | None, brain: str | None) -> None:
        """The turn's answer is out (None: it expired in the queue, nothing to answer)."""
        self._ended_at = time.time()
        self.brain = brain or self.brain
        self.outcome = "expired" if reply is None else "fallback" if reply.fallback else "answered"

    def failed(self, error: BaseException) -> None:
        """The turn could not be answered (the caller gets the fallback)."""
        self._ended_at = time.time()
        self.outcome = "interrupted" if isinstance(error, asyncio.CancelledError) else "failed"

    def close(self) -> None:
        outcome = self.outcome or "failed"
        ended = self._ended_at or time.time()
        turn = self.turn
        self._span.end(outcome, self.brain)
        metrics.TURNS_IN_FLIGHT.dec()
        metrics.TURNS.labels(turn.channel, outcome).inc()
        if outcome != "expired":  # an expired turn's time is the queue's, already observed
            metrics.TURN_SECONDS.labels(turn.channel).observe(max(0.0, ended - turn.enqueued_at))
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
                "total_ms": _ms(ended - turn.enqueued_at),
            },
        )
