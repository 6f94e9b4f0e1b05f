"""What a worker process keeps for its life, handed to every job it runs, and the worker itself.

One event loop, one Mongo client, the engine's stores and brains: built once, passed to each job
function as its first argument (never a module global), so any number of jobs share them.
"""

from dataclasses import dataclass

import redis.asyncio as aioredis
from motor.motor_asyncio import AsyncIOMotorDatabase

from app.brains import BrainSet
from app.bus import interruptions
from app.bus.connections import RedisClients
from app.bus.lanes import Lanes
from app.bus.queue import turn_queue
from app.catalog import load_catalog
from app.settings import Settings
from app.store.history import HistoryStore
from app.store.sessions import SessionStore
from app.store.state import StateStore
from app.store.thoughts import ThoughtStore
from worker.async_worker import AsyncWorker
from worker.thinking import Thinker
from worker.turns import TurnProcessor


@dataclass(frozen=True)
class WorkerRuntime:
    processor: TurnProcessor
    thinker: Thinker
    redis: aioredis.Redis
    lanes: Lanes
    fallback_text: str
    idle_speak_after: float
    spontaneous_min_gap: int


def make_worker(
    settings: Settings, db: AsyncIOMotorDatabase, clients: RedisClients, brains: BrainSet, ttl: int
) -> AsyncWorker:
    """A worker on the turn queue (leased) and the thoughts queue, with its runtime; `brains`
    belong to the caller, who closes them when the process ends."""
    catalog = load_catalog(settings.personas_file, settings.persona_mode, settings.persona_id)
    turns = turn_queue(clients.sync_client, settings.queue_name)
    thoughts = turn_queue(clients.sync_client, settings.thoughts_queue_name)
    turns.get_redis_server_version()  # asked once now, so no lane step ever waits for it
    lanes = Lanes(turns, clients.async_client)
    retention = settings.retention
    state, history, sessions = StateStore(db, retention), HistoryStore(db), SessionStore(db, retention)
    runtime = WorkerRuntime(
        processor=TurnProcessor(
            brains=brains,
            catalog=catalog,
            state=state,
            history=history,
            session_memory_turns=settings.session_memory_turns,
            user_memory_facts=settings.user_memory_facts,
            crisis_resource_line=settings.crisis_resource_line,
        ),
        thinker=Thinker(catalog, state, ThoughtStore(db, retention), sessions, history),
        redis=clients.async_client,
        lanes=lanes,
        fallback_text=settings.fallback_text,
        idle_speak_after=settings.idle_speak_after_seconds,
        spontaneous_min_gap=settings.spontaneous_min_gap_seconds,
    )
    processor = runtime.processor
    return AsyncWorker(
        [turns, thoughts],
        connection=clients.sync_client,
        async_connection=clients.async_client,
        runtime=runtime,
        concurrency=settings.worker_concurrency,
        leased=turns,
        lanes=lanes,
        serializer=turns.serializer,
        worker_ttl=ttl,
        companions=[lambda: interruptions.listen(clients.async_client, processor.interruptions.interrupt)],
    )
