"""A turn's words on their way out, and the barge-ins that cut them short.

`Speaker` takes the brain's words as they come, hands each piece to its sink (the worker
publishes it as a `Delta` to the door), and knows what went out: once the listener barges in,
what reached them (`delivered`) is what the turn says and what history records. `Interruptions`
knows which turns this process is answering, so an interruption from any API process stops the
right brain: its task is cancelled, which closes the model's stream.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from app.bus.interruptions import Interruption

Sink = Callable[[str, int], Awaitable[None]]  # (words, characters before them)
T = TypeVar("T")


class Speaker:
    """Publishing runs beside the brain, not in its way: `say` returns at once, and one flush at a
    time sends everything said since the last (under load, pieces that came meanwhile go out
    together: fewer publishes, no wait added when idle). `flushed` waits for what is in flight."""

    def __init__(self, sink: Sink | None = None) -> None:
        self._sink = sink
        self.said = ""  # every word the brain handed out, in order
        self.cut_at: int | None = None  # characters that reached the listener, once they barged in
        self._sent = 0  # characters handed to the sink
        self._flushing: asyncio.Task[None] | None = None

    @property
    def interrupted(self) -> bool:
        return self.cut_at is not None

    @property
    def delivered(self) -> str:
        return self.said if self.cut_at is None else self.said[: self.cut_at]

    async def say(self, words: str) -> None:
        if not words or self.interrupted:
            return
        self.said += words
        if self._sink is not None and (self._flushing is None or self._flushing.done()):
            self._flushing = asyncio.ensure_future(self._flush(self._sink))

    async def _flush(self, sink: Sink) -> None:
        while self._sent < len(self.said) and not self.interrupted:
            offset, self._sent = self._sent, len(self.said)
            await sink(self.said[offset:], offset)

    async def flushed(self) -> None:
        """Every word said has been handed to the sink (its errors are raised here)."""
        if self._flushing is not None:
            await self._flushing

    def interrupt(self, delivered: int) -> None:
        """The listener left after `delivered` characters: nothing more goes out."""
        self.cut_at = min(delivered, len(self.said)) if self.cut_at is None else min(self.cut_at, delivered)


class Interruptions:
    """The turns this process's brains are answering, by turn id."""

    def __init__(self) -> None:
        self._running: dict[str, tuple[Speaker, asyncio.Task[object]]] = {}

    async def run(self, turn_id: str, speaker: Speaker, brain: Awaitable[T]) -> T:
        """Await `brain` as a task a barge-in can cancel (the caller then sees its CancelledError,
        with the speaker marked interrupted)."""
        task = asyncio.ensure_future(brain)
        self._running[turn_id] = (speaker, task)
        try:
            return await task
        finally:
            self._running.pop(turn_id, None)

    def interrupt(self, interruption: Interruption) -> None:
        running = self._running.get(interruption.turn_id)
        if running is None:
            return  # another process's turn, or one already over
        speaker, task = running
        speaker.interrupt(interruption.delivered)
        task.cancel()  # the turn logs it, with what was delivered
