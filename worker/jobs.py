"""Thin RQ job functions: load -> engine -> save (in TurnProcessor), then publish and advance the lane.

A socket's turn is answered on its API process's reply channel; a REST job's progress and
result go to its job record and event channel instead (bus/jobs.py).
"""

import logging

from app.bus import jobs
from app.turns import Reply, Turn
from worker import runtime

log = logging.getLogger(__name__)


def _result(reply: Reply) -> dict[str, object]:
    return {
        "turn_id": reply.turn_id,
        "text": reply.text,
        "cards": {cid: card.model_dump() for cid, card in reply.cards.items()},
        "fallback": reply.fallback,
    }


def run_turn(turn_json: str) -> None:
    rt = runtime.current()
    turn = Turn.model_validate_json(turn_json)
    ctx = {"session_id": turn.session_id, "turn_id": turn.turn_id}
    rt.leases.hold(turn.turn_id)  # should this process die, another worker runs the turn
    answer: Reply | None = None  # what a socket turn's API process is sent
    try:
        if turn.tracked:
            jobs.update(rt.redis, turn.turn_id, "running", 0.1)
        reply = rt.run(rt.processor.process(turn))
    except Exception:
        log.exception("turn failed; answering with a fallback", extra=ctx)
        if turn.tracked:
            jobs.update(rt.redis, turn.turn_id, "failed", 1.0, error="the persona could not answer this turn")
        else:
            answer = Reply(
                session_id=turn.session_id,
                turn_id=turn.turn_id,
                persona_id=turn.persona_id,
                input_text=turn.text,
                text=rt.fallback_text,
                fallback=True,
            )
        raise
    else:
        if turn.tracked:
            if reply is None:
                jobs.update(rt.redis, turn.turn_id, "failed", 1.0, error="the turn expired before it ran")
            else:
                jobs.update(rt.redis, turn.turn_id, "succeeded", 1.0, result=_result(reply))
        else:
            answer = reply
    finally:
        rt.leases.release()
        # One round trip: the answer is published, the lease dropped, the session's next turn queued.
        rt.lanes.advance(turn.session_id, turn.turn_id, (turn.reply_to, answer) if answer else None)
