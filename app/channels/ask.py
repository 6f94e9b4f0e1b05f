"""Request/response doors (Skills execute, chat completions): queue a turn, wait for its reply.

The wait is bounded by the reply deadline; a reply that comes later finds nobody waiting and is
dropped with a log line by the router, never delivered twice. A streamed request (`ask_stream`)
passes the reply's words on as they come; when its caller stops listening (a closed HTTP
stream) or the deadline passes mid-reply, the turn is interrupted, so its history holds what was
delivered and the session's next turn runs at once.
"""

import asyncio
import logging
from collections.abc import AsyncIterator

from app.channels.streaming import StreamedText
from app.services import Services
from app.turns import Delta, Reply, Turn

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


async def ask_stream(services: Services, turn: Turn) -> AsyncIterator[str]:
    """The words of the reply to `turn` (a streamed turn) as they come, card markers included;
    the fallback text when nothing came within the deadline."""
    router, loop = services.router, asyncio.get_running_loop()
    inbox: asyncio.Queue[Delta | Reply] = asyncio.Queue()
    waiting = router.expect(turn.turn_id, on_delta=inbox.put_nowait)
    waiting.add_done_callback(lambda done: inbox.put_nowait(done.result()))  # after the words before it
    words = StreamedText()
    answered = False
    try:
        await services.queue.enqueue(turn)
        deadline = loop.time() + services.settings.reply_deadline_seconds
        while True:
            try:
                message = await asyncio.wait_for(inbox.get(), deadline - loop.time())
            except TimeoutError:
                log.warning("no whole reply within the deadline; the turn is cut short",
                            extra={"session_id": turn.session_id, "turn_id": turn.turn_id})  # fmt: skip
                if not words.delivered:
                    yield services.settings.fallback_text
                return
            if isinstance(message, Delta):
                if piece := words.take(message):
                    yield piece
                continue
            answered = True
            if piece := words.rest(message.text):
                yield piece
            return
    finally:
        router.forget(turn.turn_id)
        if not answered:  # the listener left, or the deadline passed: stop the turn where it is
            router.interrupt(turn.turn_id, len(words.delivered))
