"""Background tasks stop for certain, even one that swallows its cancellation (Python 3.11's
`asyncio.wait_for` can lose one; the embedded worker's shutdown once hung on its keeper so)."""

import asyncio

import fakeredis
from rq import Queue

from app.background import cancel_and_wait
from app.bus.connections import RedisClients
from worker.async_worker import AsyncWorker


async def _deaf_once(cancels_seen: list[int]) -> None:
    """Loops until cancelled, but takes its first cancellation for a retryable error, as a
    loop around a library call that lost the cancel would."""
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancels_seen.append(1)
            if len(cancels_seen) == 1:
                continue
            raise


async def test_a_task_that_swallows_its_first_cancel_is_still_stopped() -> None:
    seen: list[int] = []
    deaf = asyncio.create_task(_deaf_once(seen))
    failing = asyncio.create_task(asyncio.sleep(0))
    await asyncio.sleep(0)
    async with asyncio.timeout(10):
        await cancel_and_wait(deaf, failing)
    assert deaf.cancelled()
    assert failing.done()
    assert len(seen) == 2


async def test_a_worker_stops_although_a_companion_swallowed_a_cancel() -> None:
    server = fakeredis.FakeServer()
    clients = RedisClients(fakeredis.FakeAsyncRedis(server=server), fakeredis.FakeRedis(server=server), embedded=True)
    seen: list[int] = []
    worker = AsyncWorker(
        [Queue("background-test", connection=clients.sync_client)],
        connection=clients.sync_client,
        async_connection=clients.async_client,
        runtime=None,
        concurrency=2,
        companions=[lambda: _deaf_once(seen)],
    )
    running = asyncio.create_task(worker.run(install_signals=False))
    await asyncio.sleep(0.2)
    worker.request_shutdown()
    async with asyncio.timeout(10):
        await running
    assert len(seen) == 2
