"""Faults with real processes: Redis restarted, workers and API processes killed or stopped."""

import asyncio
import contextlib
import os
import signal
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
import websockets
from rq import Worker
from rq.worker import BaseWorker

from tests.support.fake_llm import FakeLlm
from tests.support.scene import Scene
from tests.support.stack import Stack, wait_for


@pytest.fixture
def llm() -> Iterator[FakeLlm]:
    """A model server on loopback; "[slow]" in a turn makes it take its time."""
    server = FakeLlm().start()
    yield server
    server.stop()


def llm_brain(llm: FakeLlm, wait: str = "1") -> dict[str, str]:
    """The LLM brain; a "[slow]" turn holds its worker `wait` seconds, then the rules answer."""
    return {
        "PERSONA_BRAIN": "llm",
        "LLM_BASE_URL": llm.base_url,
        "LLM_FIRST_WORD_SECONDS": wait,
        "LLM_TURN_SECONDS": wait,
    }


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
    assert "persona_pubsub_reconnects_total 0.0" not in (await http.get("/metrics")).text  # and counted it
    await scene.close()
    await http.aclose()


@pytest.mark.timeout(120)
async def test_a_worker_killed_mid_turn_is_replaced_and_the_session_carries_on(
    stack: Stack, redis_url: str, llm: FakeLlm
) -> None:
    brain = llm_brain(llm, wait="2")
    stack.workers(redis_url, processes=2, **brain)
    api = stack.api(redis_url, RATE_LIMIT_IP_PER_MINUTE="100000", **brain)  # the test polls
    client = redis.Redis.from_url(redis_url)
    async with httpx.AsyncClient(base_url=api.url, timeout=15) as http:
        token = (await http.post("/v1/auth/guest")).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        slow = (await http.post("/v1/messages/submit", json={"text": "tell me [slow]"}, headers=headers)).json()
        after = (await http.post("/v1/messages/submit", json={"text": "and then?"}, headers=headers)).json()

        def holder() -> BaseWorker | None:
            return next((w for w in Worker.all(connection=client) if w.get_current_job_id() == slow["job_id"]), None)

        for _ in range(100):
            if (busy := holder()) is not None:
                break
            await asyncio.sleep(0.05)
        assert busy is not None, "no worker took the slow turn"
        assert busy.pid is not None
        os.kill(busy.pid, signal.SIGKILL)  # a worker process this test started, killed mid-turn

        async def finished(job_id: str) -> dict[str, Any]:
            for _ in range(600):
                record = (await http.get(f"/v1/jobs/{job_id}", headers=headers)).json()
                if record["status"] in ("succeeded", "failed"):
                    return record
                await asyncio.sleep(0.1)
            raise AssertionError(f"job {job_id} never finished")

        first, second = await finished(slow["job_id"]), await finished(after["job_id"])
        history = (await http.get("/v1/messages/conversation", headers=headers)).json()["messages"]
        assert [m["input_text"] for m in history] == ["tell me [slow]", "and then?"]  # no gap, no twin
    assert first["status"] == "succeeded"  # answered once, by the worker that survived
    assert second["status"] == "succeeded"
    assert first["updated_at"] < second["updated_at"]  # the session's next turn waited for it
    worker_logs = "".join(p.log() for p in stack.processes if p.name == "workers")
    assert "a worker died mid-turn; turn queued again" in worker_logs


@pytest.mark.timeout(120)
async def test_a_killed_api_loses_nothing_and_the_session_resumes_elsewhere(
    stack: Stack, redis_url: str, llm: FakeLlm
) -> None:
    brain = llm_brain(llm)
    stack.workers(redis_url, processes=1, **brain)
    first_api = stack.api(redis_url, **brain)
    scene = await Scene.open(first_api.url, "sess-phoenix")
    assert "Rhea" in (await scene.say("my name is Rhea"))["output"]["text"]
    await scene.send_request("tell me a long story [slow]")  # the worker is busy with it when...
    await asyncio.sleep(0.5)
    first_api.stop(signal.SIGKILL)  # ...its API dies, with the session waiting for the reply
    second_api = stack.api(redis_url, **brain)  # Soul Machines reconnects with the same session id
    again = await Scene.open(second_api.url, "sess-phoenix")
    answer = await again.say("what's my name?", wait=15)  # queued behind the orphaned turn
    assert answer["output"]["text"] == "Your name is Rhea."
    await again.close()
    workers_log = "".join(p.log() for p in stack.processes if p.name == "workers")
    assert "Traceback" not in workers_log  # the orphaned reply went nowhere, quietly
    assert llm.calls >= 3  # the slow turn ran to its end, nothing was skipped


@pytest.mark.timeout(120)
async def test_a_worker_stopped_mid_turn_finishes_it_first(stack: Stack, redis_url: str, llm: FakeLlm) -> None:
    brain = llm_brain(llm)
    workers = stack.workers(redis_url, processes=1, **brain)
    api = stack.api(redis_url, **brain)
    async with httpx.AsyncClient(base_url=api.url, timeout=15) as http:
        token = (await http.post("/v1/auth/guest")).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        job = (await http.post("/v1/messages/submit", json={"text": "slowly [slow]"}, headers=headers)).json()
        for _ in range(100):
            if (await http.get(f"/v1/jobs/{job['job_id']}", headers=headers)).json()["status"] == "running":
                break
            await asyncio.sleep(0.05)
        workers.stop(signal.SIGTERM, timeout=30)  # warm shutdown: the turn in hand finishes
        record = (await http.get(f"/v1/jobs/{job['job_id']}", headers=headers)).json()
    assert record["status"] == "succeeded"
    assert workers.popen.returncode == 0


@pytest.mark.timeout(120)
async def test_a_stopped_api_answers_what_is_pending_then_closes_for_restart(
    stack: Stack, redis_url: str, llm: FakeLlm
) -> None:
    brain = llm_brain(llm)
    stack.workers(redis_url, processes=1, **brain)
    api = stack.api(redis_url, **brain)
    busy = await Scene.open(api.url, "sess-draining")
    idle = await Scene.open(api.url, "sess-idle")
    await busy.send_request("tell me a long story [slow]")  # in a worker's hands when...
    await asyncio.sleep(0.3)
    api.popen.send_signal(signal.SIGTERM)  # ...the API is asked to stop
    answer = await busy.response(wait=10)
    assert answer["input"]["text"] == "tell me a long story [slow]"  # the worker's answer, not lost
    for scene in (busy, idle):
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(scene.ws.recv(), 10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1012  # service restart: the platform reconnects
    # uvicorn re-raises the signal once its orderly shutdown is complete.
    assert api.popen.wait(15) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in api.log()
    assert "Traceback" not in api.log()


class HungServer:
    """A TCP endpoint that accepts connections and never answers: a MongoDB that has hung."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # closed by stop()
            while True:
                self._held.append(self._listener.accept()[0])

    def stop(self) -> None:
        self._listener.close()
        for conn in self._held:
            conn.close()


@pytest.mark.timeout(120)
async def test_a_hung_mongodb_gives_fallbacks_and_readiness_says_so(stack: Stack, redis_url: str) -> None:
    hung = HungServer()
    try:
        settings = {**DEMO, "MONGO_URL": f"mongodb://127.0.0.1:{hung.port}/?connectTimeoutMS=2000"}
        workers = stack.workers(redis_url, processes=1, **settings)  # starts, though its indexes wait
        api = stack.api(redis_url, **settings)
        scene = await Scene.open(api.url, "sess-no-mongo")
        answer = await scene.say("hello", wait=10)
        assert answer["fallback"] is True  # at the deadline: the socket is not held up by the store
        assert (await scene.say("again", wait=10))["fallback"] is True
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
            readiness = await http.get("/v1/meta/ready")
            assert readiness.status_code == 503
            assert readiness.json() == {
                "ready": False,
                "redis": True,
                "mongo": False,
                "store": "shared",
                "problem": None,
            }
            assert (await http.get("/v1/meta/ping")).status_code == 200  # alive, just not ready
        wait_for(lambda: "turn failed; answering with a fallback" in workers.log(), 20, "the worker's log line")
        assert "sess-no-mongo" in workers.log()  # logged with the session
        wait_for(lambda: "mongo unreachable; indexes not ensured yet" in api.log(), 20, "the API's log line")
        assert api.popen.poll() is None
        assert workers.popen.poll() is None
        await scene.close()
    finally:
        hung.stop()
