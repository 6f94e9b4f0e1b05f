"""What the per-address door limits add to a turn: the one limiter hit each socket turn makes.

Measured as the door makes it: `RateLimiter.hit` on the API's asyncio Redis client against the
bench's real redis-server, one call after another (a turn makes exactly one; the connection
cap is an in-process counter read once per socket, not per turn).
"""

import time
import uuid

import redis.asyncio as aioredis

from app.bus.limits import RateLimiter
from bench.stats import Latencies


async def limit_cost(redis_url: str, calls: int = 2000) -> Latencies:
    client = aioredis.Redis.from_url(redis_url)
    limiter = RateLimiter(client)
    subject = f"bench-{uuid.uuid4().hex[:8]}"
    samples: list[float] = []
    try:
        for _ in range(calls):
            started = time.perf_counter()
            await limiter.hit("turns", subject, 10**9, 60)
            samples.append((time.perf_counter() - started) * 1000)
    finally:
        await client.aclose()
    return Latencies(samples)
