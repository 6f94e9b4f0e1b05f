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


def make_clients(redis_url: str | None) -> RedisClients:
    if redis_url:
        return RedisClients(
            async_client=aioredis.Redis.from_url(redis_url, health_check_interval=30),
            sync_client=redis.Redis.from_url(redis_url, health_check_interval=30),
            embedded=False,
        )
    server = fakeredis.FakeServer()
    return RedisClients(
        async_client=fakeredis.FakeAsyncRedis(server=server),
        sync_client=fakeredis.FakeRedis(server=server),
        embedded=True,
    )
