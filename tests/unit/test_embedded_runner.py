"""The embedded worker runs each job's coroutine on the API's loop, from its own thread."""

import asyncio
import gc
import threading
import warnings

import pytest

from worker.embedded import api_loop_runner


async def answer() -> int:
    await asyncio.sleep(0)
    return 42


def test_a_job_runs_on_the_api_loop_and_returns_its_result() -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        assert api_loop_runner(loop, timeout=5)(answer()) == 42
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@pytest.mark.parametrize("closed", [True, False])
def test_a_job_after_the_api_loop_stopped_fails_at_once_and_leaves_no_coroutine_behind(closed: bool) -> None:
    """Shutting down, the API's loop stops, then closes, while the worker thread may still hand it
    a turn (two per turn: its answer, then its settle); a stopped loop would never run it."""
    loop = asyncio.new_event_loop()
    if closed:
        loop.close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RuntimeError, match="not running"):
            api_loop_runner(loop, timeout=5)(answer())
        gc.collect()
    loop.close()
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []
