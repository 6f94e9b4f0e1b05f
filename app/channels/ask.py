"""Request/response doors (Skills execute, chat completions): queue a turn, wait for its reply.

The wait is bounded by the reply deadline; a reply that comes later finds nobody waiting and is
dropped with a log line by the router, never delivered twice.
"""

import asyncio
import logging

from app.services import Services
from app.turns import Reply, Turn

log = logging.getLogger(__name__)


async def ask(services: Services, turn: Turn) -> Reply | None:
    """The worker's reply to `turn`, or None when the deadline passed first."""
    router = services.router
    waiting = router.expect(turn.turn_id)
    try:
        await services.queue.enqueue(turn)
        return await asyncio.wait_for(waiting, services.settings.reply_deadline_seconds)
    except TimeoutError:
        log.warning("no reply within the deadline", extra={"session_id": turn.session_id, "turn_id": turn.turn_id})
        return None
    finally:
        router.forget(turn.turn_id)
