"""Stopping a background task for certain, even when its cancellation is lost.

On Python 3.11 `asyncio.wait_for` drops a cancellation that arrives just as the awaited thing
completes (CPython gh-86296, fixed in 3.12). Libraries wait that way under a socket read
(fakeredis's connection does), so a task that loops "until cancelled" around Redis calls and
retries what fails can swallow its one cancel and loop on, and whoever awaits it hangs: seen as
the embedded worker's shutdown waiting forever on its lease keeper. Cancelling again until the
task has ended is the remedy; a task that honours the first cancel ends at once.
"""

import asyncio
from typing import Any

RECANCEL_EVERY_SECONDS = 0.1


async def cancel_and_wait(*tasks: "asyncio.Task[Any]") -> None:
    """Cancel `tasks` and wait until every one has ended, cancelling again while one runs on.
    What they raised is retrieved (and dropped): they were being stopped."""
    running = {task for task in tasks if not task.done()}
    while running:
        for task in running:
            task.cancel()
        _, running = await asyncio.wait(running, timeout=RECANCEL_EVERY_SECONDS)
    await asyncio.gather(*tasks, return_exceptions=True)
