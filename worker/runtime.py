"""What a worker keeps for its life: one event loop, one Mongo client, the engine's stores.

RQ calls plain functions; they reach this process-wide runtime to run the turn's coroutine on
the long-lived loop (never `asyncio.run` per job, which would tie the Mongo client to a loop
that dies with the job).
"""

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import redis
from motor.motor_asyncio import AsyncIOMotorDatabase

from app.brains import make_worker_brains
from app.bus.queue import IdleSpot, LaneAdvancer
from app.catalog import load_catalog
from app.settings import Settings
from app.store.history import HistoryStore
from app.store.sessions import SessionStore
from app.store.state import StateStore
from app.store.thoughts import ThoughtStore
from worker.leases import LeaseKeeper
from worker.thinking import Thinker
from worker.turns import TurnProcessor

RunCoroutine = Callable[[Coroutine[Any, Any, Any]], Any]


@dataclass(frozen=True)
class WorkerRuntime:
    processor: TurnProcessor
    thinker: Thinker
    redis: redis.Redis
    lanes: LaneAdvancer
    leases: LeaseKeeper
    run: RunCoroutine
    fallback_text: str
    idle_speak_after: float
    spontaneous_min_gap: int


_current: WorkerRuntime | None = None


def install(runtime: WorkerRuntime) -> None:
    global _current
    _current = runtime


def start(runtime: WorkerRuntime) -> None:
    """A worker process (or the embedded worker) going live: the runtime installed for its jobs,
    the lane script in Redis's cache before the first lane step names it by hash, the lease
    keeper running."""
    install(runtime)
    runtime.lanes.load()
    runtime.leases.start()


def current() -> WorkerRuntime:
    if _current is None:
        raise RuntimeError("no worker runtime installed: start workers with `python -m worker`")
    return _current


def loop_runner(loop: asyncio.AbstractEventLoop, timeout: float) -> RunCoroutine:
    """Run a job's coroutines on the process's loop, each cancelled after `timeout` seconds.

    RQ enforces the job timeout with SIGALRM, but uvloop runs Python signal handlers in a callback
    of its own and only logs what they raise: the alarm never stops a turn. The loop keeps the time.
    """

    def run(coro: Coroutine[Any, Any, Any]) -> Any:
        return loop.run_until_complete(asyncio.wait_for(coro, timeout))

    return run


def build(
    settings: Settings,
    db: AsyncIOMotorDatabase,
    client: redis.Redis,
    run: RunCoroutine,
    spot: IdleSpot | None = None,
) -> WorkerRuntime:
    """`spot`: where the worker running these jobs waits (PersonaQueue.spot), so each lane step
    puts it first in line for the next turn (LaneAdvancer)."""
    catalog = load_catalog(settings.personas_file, settings.persona_mode, settings.persona_id)
    lanes = LaneAdvancer(client, spot)
    state, history, sessions = StateStore(db), HistoryStore(db), SessionStore(db)
    processor = TurnProcessor(
        brains=make_worker_brains(settings),
        catalog=catalog,
        state=state,
        history=history,
        session_memory_turns=settings.session_memory_turns,
        user_memory_facts=settings.user_memory_facts,
    )
    return WorkerRuntime(
        processor=processor,
        thinker=Thinker(catalog, state, ThoughtStore(db), sessions, history),
        redis=client,
        lanes=lanes,
        leases=LeaseKeeper(client, LaneAdvancer(client)),  # its lane steps are not this worker's
        run=run,
        fallback_text=settings.fallback_text,
        idle_speak_after=settings.idle_speak_after_seconds,
        spontaneous_min_gap=settings.spontaneous_min_gap_seconds,
    )
