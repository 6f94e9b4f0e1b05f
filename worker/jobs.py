"""Thin RQ job functions: answer (in TurnProcessor), publish, settle the state, advance the lane.

A socket's turn is answered on its API process's reply channel; a REST job's progress and
result go to its job record and event channel instead (bus/jobs.py).
"""

import asyncio
import logging
import time

import redis

from app.bus import jobs, replies
from app.turns import Reply, Turn
from worker import outbox, runtime
from worker.turns import Answer

log = logging.getLogger(__name__)

# A lane that does not move leaves the session's next turns waiting for its next message.
ADVANCE_RETRY_DELAYS = (0.1, 0.5, 1.0, 2.0)
# How long RQ's start-of-job writes may wait for a turn's end before they go out on their own.
START_WRITES_AFTER_SECONDS = 0.01


def _result(reply: Reply) -> dict[str, object]:
    return {
        "turn_id": reply.turn_id,
        "text": reply.text,
        "cards": {cid: card.model_dump() for cid, card in reply.cards.items()},
        "fallback": reply.fallback,
    }


def run_turn(turn_json: str) -> None:
    """Answer the turn, publish the reply as soon as it is recorded, then settle its state changes
    before the lane step lets the session's next turn run (see worker/turns.py)."""
    rt = runtime.current()
    turn = Turn.model_validate_json(turn_json)
    ctx = {"session_id": turn.session_id, "turn_id": turn.turn_id}
    rt.leases.hold(turn.turn_id)  # should this process die, another worker runs the turn
    fallback: Reply | None = None  # sent with the lane step when a socket turn could not be answered
    try:
        if turn.tracked:
            jobs.update(rt.redis, turn.turn_id, "running", 0.1)
        try:
            answer = rt.run(_answer(rt, turn))
        except Exception:
            log.exception("turn failed; answering with a fallback", extra=ctx)
            if turn.tracked:
                jobs.update(rt.redis, turn.turn_id, "failed", 1.0, error="the persona could not answer this turn")
            else:
                fallback = Reply.to(turn, rt.fallback_text, fallback=True)
            raise
        if turn.tracked:
            if answer.reply is None:
                jobs.update(rt.redis, turn.turn_id, "failed", 1.0, error="the turn expired before it ran")
            else:
                jobs.update(rt.redis, turn.turn_id, "succeeded", 1.0, result=_result(answer.reply))
        elif answer.reply is not None:
            publish(rt, turn, answer.reply)
        rt.run(rt.processor.settle(turn, answer))
    finally:
        rt.leases.release()
        advance_lane(rt, turn, fallback)


async def _answer(rt: runtime.WorkerRuntime, turn: Turn) -> Answer:
    """The processor's answer. Under PersonaWorker, RQ's start-of-job writes wait on the turn's
    outbox until the turn's end; a turn still busy after START_WRITES_AFTER_SECONDS (a model
    call) sends them then, so RQ's view shows it running within that time."""
    in_flight = outbox.in_flight()
    timer = (
        None
        if in_flight is None
        else asyncio.get_running_loop().call_later(START_WRITES_AFTER_SECONDS, in_flight.send_deferred)
    )
    try:
        return await rt.processor.answer(turn)
    finally:
        if timer is not None:
            timer.cancel()


def publish(rt: runtime.WorkerRuntime, turn: Turn, reply: Reply) -> None:
    """The reply to the API process holding the socket: on the turn's outbox under PersonaWorker
    (ahead of the lane step, on the same connection), else waited for."""
    if (in_flight := outbox.in_flight()) is not None:
        in_flight.send(
            "reply",
            [replies.reply_command(turn.reply_to, reply)],
            redo=lambda: replies.publish_reply(rt.redis, turn.reply_to, reply),
        )
    else:
        replies.publish_reply(rt.redis, turn.reply_to, reply)


def advance_lane(rt: runtime.WorkerRuntime, turn: Turn, fallback: Reply | None) -> None:
    """One step: the fallback (if the turn could not answer) published, the lease dropped, the
    session's next turn queued.

    Under PersonaWorker the step follows the turn's start-of-job writes on their connection and
    is confirmed with its success record (worker/outbox.py); otherwise it waits for Redis here.
    """
    if (in_flight := outbox.in_flight()) is not None:
        command = rt.lanes.advance_command(
            turn.session_id, turn.turn_id, (turn.reply_to, fallback) if fallback else None
        )
        in_flight.send("lane step", [command], redo=lambda: advance_lane_now(rt, turn, fallback))
    else:
        advance_lane_now(rt, turn, fallback)


def advance_lane_now(rt: runtime.WorkerRuntime, turn: Turn, fallback: Reply | None) -> None:
    """The lane step, waiting for Redis; retried through a Redis blip: a second run of the script
    is harmless (a reply whose request was answered is dropped by its socket; the lease and lane
    steps are idempotent)."""
    ctx = {"session_id": turn.session_id, "turn_id": turn.turn_id}
    for delay in (*ADVANCE_RETRY_DELAYS, None):
        try:
            rt.lanes.advance(turn.session_id, turn.turn_id, (turn.reply_to, fallback) if fallback else None)
            return
        except redis.RedisError as exc:
            if delay is None:
                log.error("session lane not advanced: its next turn waits for the next message", extra=ctx)
                raise
            log.warning("session lane not advanced (%s); retrying in %.1f s", exc, delay, extra=ctx)
            time.sleep(delay)
