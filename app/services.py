"""What one API process holds for its life: clients, stores, the queue and the reply router.

Built in the app's lifespan. With REDIS_URL or MONGO_URL unset, in-process stand-ins take their
place and a banner says so loudly: nothing is persisted.
"""

import asyncio
import logging
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from app.auth.passwords import Passwords
from app.auth.secrets import AuthSecrets, resolve
from app.brains import BrainSet, make_worker_brains
from app.bus.connections import RedisClients, make_clients
from app.bus.limits import RateLimiter
from app.bus.queue import TurnQueue
from app.bus.replies import ReplyRouter
from app.catalog import PersonaCatalog, load_catalog
from app.channels.access import check_doors
from app.observability import tracing
from app.settings import Settings
from app.store.accounts import AccountStore
from app.store.history import HistoryStore
from app.store.mongo import connect, ensure_indexes_when_reachable
from app.store.sessions import SessionStore
from app.store.split import refuse_split_store, store_kind
from app.store.state import StateStore
from app.store.thoughts import ThoughtStore

log = logging.getLogger(__name__)

API_CLIENT_NAME_PREFIX = "persona-api-"


@dataclass
class Services:
    settings: Settings
    instance_id: str
    redis: RedisClients
    mongo_client: Any
    db: Any
    sessions: SessionStore
    history: HistoryStore
    state: StateStore
    thoughts: ThoughtStore
    accounts: AccountStore
    catalog: PersonaCatalog
    brains: BrainSet  # the default answers /v1/meta/llm; the names are what a session may choose
    secrets: AuthSecrets
    passwords: Passwords
    limiter: RateLimiter
    queue: TurnQueue
    router: ReplyRouter
    indexes: asyncio.Task[None] | None = None  # made in the background: start-up does not wait for MongoDB
    embedded_worker: Any = None  # worker.embedded.EmbeddedWorker when running one in-process
    sockets: set[Any] = field(default_factory=set)  # open socket sessions, drained on shutdown
    sockets_by_address: Counter[str] = field(default_factory=Counter)  # for CONNECTIONS_PER_IP


def _warn_embedded(settings: Settings) -> None:
    missing = [name for name, url in (("REDIS_URL", settings.redis_url), ("MONGO_URL", settings.mongo_url)) if not url]
    if not missing:
        return
    lines = [
        "!" * 78,
        f"!! EMBEDDED MODE: {', '.join(missing)} not set.",
        "!! Using in-process stand-ins (fakeredis / mongomock-motor): NOTHING IS PERSISTED,",
        "!! and everything is lost when this process exits.",
    ]
    if store_kind(settings) == "split":
        lines.append("!! Each process keeps its own in-memory database: API and workers do NOT share state.")
    if settings.run_embedded_worker:
        lines.append("!! A worker runs inside this process (same job code and queue path as production).")
    lines += ["!! Set REDIS_URL and MONGO_URL (see .env.example) for the real stack.", "!" * 78]
    banner = "\n".join(lines)
    print(banner, file=sys.stderr, flush=True)
    log.warning("embedded mode: %s not set; nothing is persisted", ", ".join(missing))


async def start_services(settings: Settings) -> Services:
    refuse_split_store(settings)  # outside development; readiness says so in development
    auth_secrets = resolve(settings)  # production refuses to start with missing or weak secrets
    catalog = load_catalog(settings.personas_file, settings.persona_mode, settings.persona_id)
    _warn_embedded(settings)
    check_doors(settings)  # said once at start; each request only logs at INFO
    tracing.configure("persona-api", settings.otel_exporter_otlp_endpoint, settings.trace_file)
    instance_id = uuid.uuid4().hex[:12]
    redis = make_clients(settings.redis_url, f"{API_CLIENT_NAME_PREFIX}{instance_id}")
    mongo_client, db = connect(settings.mongo_url, settings.mongo_db)
    indexes = asyncio.create_task(ensure_indexes_when_reachable(db))
    router = ReplyRouter(redis.async_client, instance_id)
    await router.start()
    services = Services(
        settings=settings,
        instance_id=instance_id,
        redis=redis,
        mongo_client=mongo_client,
        db=db,
        sessions=SessionStore(db, settings.retention),
        history=HistoryStore(db),
        state=StateStore(db, settings.retention),
        thoughts=ThoughtStore(db, settings.retention),
        accounts=AccountStore(db, settings.retention),
        catalog=catalog,
        brains=make_worker_brains(settings),
        secrets=auth_secrets,
        passwords=Passwords(
            auth_secrets.password_pepper, settings.password_hash_concurrency, settings.password_hash_wait_seconds
        ),
        limiter=RateLimiter(redis.async_client),
        queue=TurnQueue(
            redis.async_client,
            redis.sync_client,
            settings.queue_name,
            settings.job_timeout_seconds,
            settings.job_result_ttl_seconds,
        ),
        router=router,
        indexes=indexes,
    )
    await services.queue.start()
    if settings.run_embedded_worker:
        # The worker package is imported only when a worker runs inside this process.
        from worker.embedded import EmbeddedWorker

        services.embedded_worker = EmbeddedWorker(settings, redis, db, services.brains)
        services.embedded_worker.start()
    log.info("api process ready", extra={"instance_id": instance_id})
    return services


async def stop_services(services: Services) -> None:
    if services.indexes is not None:
        services.indexes.cancel()
    if services.embedded_worker is not None:
        await services.embedded_worker.stop()
    await services.router.stop()
    await services.brains.aclose()
    await services.redis.async_client.aclose()
    services.redis.sync_client.close()
    services.mongo_client.close()
