"""Redis clients: real ones from REDIS_URL, or fakeredis sharing one in-process server.

The API uses the asyncio client; RQ workers need the synchronous one. In embedded mode both
talk to the same FakeServer, so the queue path is the production one, just in memory.
"""

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import fakeredis
import redis
import redis.asyncio as aioredis

from app.logs import short

log = logging.getLogger(__name__)


def decoded(raw: bytes | str) -> str:
    """A Redis reply as text. Our clients answer bytes (no decode_responses); redis-py's types
    cannot tell which mode a client is in, so they say bytes or str."""
    return raw.decode() if isinstance(raw, bytes) else raw


@dataclass(frozen=True)
class RedisClients:
    async_client: aioredis.Redis
    sync_client: redis.Redis
    embedded: bool


# An API process's asyncio connections to Redis. A burst of callers beyond this waits for a
# free connection (up to POOL_WAIT_SECONDS) instead of failing: redis-py's default pool has
# 100 and raises "Too many connections" to the 101st, which 500 sockets arriving at once hit.
ASYNC_POOL_SIZE = 64
POOL_WAIT_SECONDS = 10


def make_clients(redis_url: str | None, client_name: str) -> RedisClients:
    """`client_name` labels every connection in Redis' CLIENT LIST (e.g. persona-api-<instance>)."""
    if redis_url:
        options = {"health_check_interval": 30, "client_name": client_name}
        pool = aioredis.BlockingConnectionPool.from_url(
            redis_url, max_connections=ASYNC_POOL_SIZE, timeout=POOL_WAIT_SECONDS, **options
        )
        return RedisClients(
            async_client=aioredis.Redis(connection_pool=pool),
            sync_client=redis.Redis.from_url(redis_url, **options),
            embedded=False,
        )
    server = fakeredis.FakeServer()
    return RedisClients(
        async_client=fakeredis.FakeAsyncRedis(server=server),
        sync_client=fakeredis.FakeRedis(server=server),
        embedded=True,
    )


# How long a process waits at start for Redis to answer before it says so and stops.
START_PING_SECONDS = 3.0


def where(redis_url: str) -> str:
    """The URL's host and port, without its credentials: fit for a log line."""
    parts = urlsplit(redis_url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


def unreachable(redis_url: str) -> str | None:
    """One line saying why Redis at `redis_url` does not answer, or None when it does.

    Asked once at a process's start, so an operator who got the URL wrong reads one sentence
    naming the host instead of a traceback per retry (or a bare TimeoutError)."""
    client = redis.Redis.from_url(
        redis_url, socket_connect_timeout=START_PING_SECONDS, socket_timeout=START_PING_SECONDS
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"Redis at {where(redis_url)} is unreachable ({short(exc)}); check REDIS_URL"
    finally:
        client.close()
    return None


def exit_unless_reachable(redis_url: str) -> None:
    """At a process's start (API, worker, scheduler): stop with one line if Redis does not answer."""
    if problem := unreachable(redis_url):
        log.error(problem)
        raise SystemExit(2)
