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


def make_clients(redis_url: str | None, client_name: str) -> RedisClients:
    """`client_name` labels every connection in Redis' CLIENT LIST (e.g. persona-api-<instance>)."""
    if redis_url:
        options = {"health_check_interval": 30, "client_name": client_name}
        return RedisClients(
            async_client=aioredis.Redis.from_url(redis_url, **options),
            sync_client=redis.Redis.from_url(redis_url, **options),
            embedded=False,
        )
    server = fakeredis.FakeServer()
    return RedisClients(
        async_client=fakeredis.FakeAsyncRedis(server=server),
        sync_client=fakeredis.FakeRedis(server=server),
        embedded=True,
    )
