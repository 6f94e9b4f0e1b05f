"""Redis clients: real ones from REDIS_URL, or fakeredis sharing one in-process server.

The API uses the asyncio client; RQ workers need the synchronous one. In embedded mode both
talk to the same FakeServer, so the queue path is the production one, just in memory.
"""

from dataclasses import dataclass

import fakeredis
import redis
import redis.asyncio as aioredis


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
