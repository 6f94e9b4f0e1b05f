"""The turn job: answer (in TurnProcessor), publish, settle the state, let the session go on.

A socket's turn is answered on its API process's reply channel; a REST job's progress and
result go to its job record and event channel instead (bus/jobs.py). The worker runs this
coroutine with its runtime (worker/async_worker.py); RQ records the job's start and end.
"""

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import redis

from app.bus import jobs, replies
from app.bus.interruptions import interrupted_before
from app.observability.tracing import traced
from app.observability.turns import TurnWatch
from app.turns import Delta, Reply, Turn
from worker.speaker import Sink, Speaker

if TYPE_CHECKING:
    from worker.runtime import WorkerRuntime

log = logging.getLogger(__name__)

# A lane that does not move leaves the session's next turns waiting for its next message.
LANE_STEP_RETRY_DELAYS = (0.1, 0.5, 1.0, 2.0)


def _sink(rt: "WorkerRuntime", turn: Turn) -> Sink | None:
    """Where a streamed turn's words go as they come: its door's API process, or its job's events."""
    if not turn.stream:
        return None

    said = ""  # a REST job's words so far, for listeners who arrive late

    async def publish(words: str, offset: int) -> None:
        nonlocal said
        if turn.tracked:
            said = said[:offset] + words
            await jobs.publish_words(rt.redis, turn.turn_id, words, offset, said)
        else:
            delta = Delta(session_id=turn.session_id, turn_id=turn.turn_id, offset=offset, text=words)
            await replies.publish_reply(rt.redis, turn.reply_to, delta)

    return publish


async def _speaker(rt: "WorkerRuntime", turn: Turn, watch: TurnWatch) -> Speaker:
    speaker = Speaker(watch.words_out(_sink(rt, turn)))
    if turn.stream and (early := await interrupted_before(rt.redis, turn.turn_id)) is not None:
        speaker.interrupt(early.delivered)  # its listener left while it waited: no brain is asked
    return speaker


def _result(turn: Turn, reply: Reply) -> dict[str, object]:
    """A REST job's result; `time` is the seconds from submit to answer (Synthetic Soul clients
    show it as the reply's latency)."""
    return {
        "turn_id": reply.turn_id,
        "text": reply.text,
        "cards": {cid: card.model_dump() for cid, card in reply.cards.items()},
        "fallback": reply.fallback,
        "time": round(time.time() - turn.enqueued_at, 3),
    }


async def run_turn(rt: "WorkerRuntime", turn_json: str) -> None:
    """Answer the turn, publish the reply as soon as it is recorded, then settle its state changes
    before the lane step lets the session's next turn run (see worker/turns.py)."""
    turn = Turn.model_validate_json(turn_json)
    ctx = {"session_id": turn.session_id, "turn_id": turn.turn_id}
    watch = TurnWatch(turn, rt.processor.brains.get(turn.brain).name)
    try:
        if turn.tracked:
            await jobs.update(rt.redis, turn.turn_id, "running", 0.1)
        try:
            answer = await rt.processor.answer(turn, await _speaker(rt, turn, watch))
        except (Exception, asyncio.CancelledError) as exc:  # cancelled: past the job timeout, or a cold stop
            if isinstance(exc, asyncio.CancelledError):
                log.error("turn cancelled before it was answered; answering with a fallback", extra=ctx)
            else:
                log.exception("turn failed; answering with a fallback", extra=ctx)
            if turn.tracked:
                await jobs.update(rt.redis, turn.turn_id, "failed", 1.0, error="the persona could not answer this turn")
            else:
                await replies.publish_reply(rt.redis, turn.reply_to, Reply.to(turn, rt.fallback_text, fallback=True))
            raise
        if turn.tracked:
            if answer.reply is None:
                await jobs.update(rt.redis, turn.turn_id, "failed", 1.0, error="the turn expired before it ran")
            else:
                await traced(
                    "publish", jobs.update(rt.redis, turn.turn_id, "succeeded", 1.0, result=_result(turn, answer.reply))
                )
        elif answer.reply is not None:
            await traced("publish", replies.publish_reply(rt.redis, turn.reply_to, answer.reply))
        watch.answered(answer.reply, answer.entry)
        await traced("settle", rt.processor.settle(turn, answer))
    finally:
        watch.close()
        await step_lane(rt, turn)


async def step_lane(rt: "WorkerRuntime", turn: Turn) -> None:
    """The turn leaves its lane (its lease with it) and the session's next turn is queued; retried
    through a Redis blip (the step is idempotent)."""
    ctx = {"session_id": turn.session_id, "turn_id": turn.turn_id}
    for delay in (*LANE_STEP_RETRY_DELAYS, None):
        try:
            await rt.lanes.finish(turn.session_id, turn.turn_id)
            return
        except redis.RedisError as exc:
            if delay is None:
                log.error("session lane not advanced: its next turn waits for the next message", extra=ctx)
                raise
            log.warning("session lane not advanced (%s); retrying in %.1f s", exc, delay, extra=ctx)
            await asyncio.sleep(delay)
