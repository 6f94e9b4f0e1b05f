"""Thin RQ job functions: load -> engine -> save (in TurnProcessor), then publish."""

import logging

from app.bus.replies import publish_reply
from app.turns import Reply, Turn
from worker import runtime

log = logging.getLogger(__name__)


def run_turn(turn_json: str) -> None:
    rt = runtime.current()
    turn = Turn.model_validate_json(turn_json)
    try:
        reply = rt.run(rt.processor.process(turn))
    except Exception:
        log.exception(
            "turn failed; answering with a fallback", extra={"session_id": turn.session_id, "turn_id": turn.turn_id}
        )
        fallback = Reply(
            session_id=turn.session_id,
            turn_id=turn.turn_id,
            persona_id=turn.persona_id,
            input_text=turn.text,
            text=rt.fallback_text,
            fallback=True,
        )
        publish_reply(rt.redis, turn.reply_to, fallback)
        raise
    else:
        if reply is not None:
            publish_reply(rt.redis, turn.reply_to, reply)
    finally:
        rt.lanes.advance(turn.session_id, turn.turn_id)
