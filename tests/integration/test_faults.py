"""Faults with real processes: Redis restarted under live sessions."""

import asyncio

import httpx
import pytest

from tests.support.scene import Scene
from tests.support.stack import Stack

DEMO = {"PERSONA_BRAIN": "demo", "REPLY_DEADLINE_SECONDS": "1.5", "WORKER_TTL_SECONDS": "16"}


@pytest.mark.timeout(120)
async def test_redis_restart_gives_fallbacks_then_service_resumes(stack: Stack) -> None:
    redis_server = stack.redis()
    port = int(redis_server.url.rsplit(":", 1)[1].split("/")[0])
    stack.workers(redis_server.url, processes=1, **DEMO)
    api = stack.api(redis_server.url, **DEMO)
    http = httpx.AsyncClient(base_url=api.url, timeout=10)
    scene = await Scene.open(api.url, "sess-outage")
    assert (await scene.say("before"))["output"]["text"] == "Echo: before"
    assert (await http.get("/v1/meta/queue")).json()["status"] == "ok"

    redis_server.stop()
    during = await scene.say("during", wait=10)
    assert during["fallback"] is True  # answered, not hung
    assert (await http.get("/v1/meta/queue")).json()["status"] == "down"
    assert (await http.get("/v1/meta/ready")).status_code == 503

    stack.redis(port=port)  # back, and empty (no persistence in this test)
    for _ in range(80):
        if (await http.get("/v1/meta/queue")).json()["status"] == "ok":
            break
        await asyncio.sleep(0.5)
    assert (await http.get("/v1/meta/queue")).json()["status"] == "ok"
    answers = []
    for attempt in range(10):  # the first turns may still race the reconnects
        body = await scene.say(f"after {attempt}", wait=10)
        answers.append(body)
        if not body["fallback"]:
            break
    assert answers[-1]["output"]["text"] == f"Echo: after {len(answers) - 1}"
    assert "reply subscription lost" in api.log()  # it noticed, and came back by itself
    await scene.close()
    await http.aclose()
