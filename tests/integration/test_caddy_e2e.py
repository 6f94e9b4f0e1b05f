"""The real Caddy on loopback with its internal CA, in front of two API replicas + worker + Redis."""

import asyncio
import ssl
import time
from pathlib import Path

import httpx
import pytest

from tests.support.scene import Scene
from tests.support.stack import ROOT, Managed, Stack, free_port, wait_for
from tests.support.tools import require


@pytest.fixture
def edge(stack: Stack, redis_url: str, tmp_path: Path) -> tuple[Managed, list[Managed], ssl.SSLContext]:
    binary = require("caddy")
    settings = {
        "ACCESS_LOG": "true",
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        "SSE_PING_SECONDS": "0.3",
        "JWT_SECRET": "replicas-must-share-this-secret-0123456789",  # a token from one replica works on all
        "PASSWORD_PEPPER": "and-this-pepper-too-0123456789abcdefghij",
    }
    replicas = [stack.api(redis_url, **settings) for _ in range(2)]
    port = free_port()
    env = stack.base_env(
        API_DOMAIN=f"localhost:{port}",
        API_UPSTREAMS=" ".join(r.url.removeprefix("http://") for r in replicas),
        CADDY_HTTP_PORT=str(free_port()),
        CADDY_ADMIN="off",
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    caddy = stack.spawn("caddy", [binary, "run", "--config", str(ROOT / "Caddyfile"), "--adapter", "caddyfile"], env)
    caddy.url = f"https://localhost:{port}"
    root_cert = tmp_path / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
    wait_for(root_cert.exists, 20, "Caddy's internal CA")
    context = ssl.create_default_context(cafile=str(root_cert))

    def serving() -> bool:
        try:
            return httpx.get(f"{caddy.url}/v1/meta/ping", verify=context, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(serving, 20, "Caddy to serve HTTPS")
    return caddy, replicas, context


async def test_every_door_works_through_caddy_tls(
    edge: tuple[Managed, list[Managed], ssl.SSLContext], stack: Stack, redis_url: str
) -> None:
    caddy, replicas, context = edge
    worker = stack.workers(redis_url, processes=1)
    scene = await Scene.open(caddy.url, "sess-over-tls", ssl=context)
    assert "What should I call you?" in (await scene.say("", kind="init"))["output"]["text"]
    assert "Nice to meet you, Tess" in (await scene.say("my name is Tess"))["output"]["text"]
    await scene.close()

    async with httpx.AsyncClient(base_url=caddy.url, verify=context, timeout=20) as client:
        skill = {
            "projectId": "p",
            "deploymentEnvironment": "preview",
            "sessionId": "tls",
            "text": "hello",
            "memory": [],
        }
        executed = await client.post("/skills/execute", json=skill)
        assert executed.status_code == 200
        assert executed.json()["output"]["text"]
        assert executed.headers["strict-transport-security"].startswith("max-age=")

        token = (await client.post("/v1/auth/guest")).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        worker.stop()  # nobody works: the stream must deliver its first event, then wait
        job = (await client.post("/v1/messages/submit", json={"text": "hi"}, headers=headers)).json()["job_id"]
        ticket = (await client.post(f"/v1/jobs/{job}/ticket", headers=headers)).json()["ticket"]
        arrivals: list[tuple[float, str]] = []
        async with client.stream("GET", f"/v1/jobs/{job}/events?ticket={ticket}") as stream:
            start = time.monotonic()
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    arrivals.append((time.monotonic() - start, line.split(":", 1)[1].strip()))
                    if arrivals[-1][1] == "status" and len(arrivals) == 1:  # only now may the job run
                        started = asyncio.create_task(asyncio.to_thread(stack.workers, redis_url, processes=1))
                    if arrivals[-1][1] == "done":
                        break
        assert arrivals[0][1] == "status"
        assert arrivals[-1][1] == "done"
        assert arrivals[0][0] < 1.0  # the first event came through at once, not at the end
        assert arrivals[-1][0] - arrivals[0][0] > 0.5  # and the last one later, on its own
        await started
        as_synthetic_soul = await client.get(f"/v1/jobs/{job}/events?access_token={token}")  # its clients' way
        assert "event: done" in as_synthetic_soul.text

        for _ in range(10):
            assert (await client.get("/v1/meta/version")).status_code == 200
    assert all("/v1/meta/version" in replica.log() for replica in replicas)  # load-balanced over both
    access_log = caddy.log()
    assert "/skills/execute" in access_log
    for secret in (token, ticket):
        assert secret not in access_log  # tokens never reach the access log


def test_security_headers_and_no_server_banner(edge: tuple[Managed, list[Managed], ssl.SSLContext]) -> None:
    caddy, _, context = edge
    response = httpx.get(f"{caddy.url}/v1/meta/version", verify=context)
    assert response.json()["api"] == "v1"
    assert response.headers["x-api-version"] == "1.0.0"  # the API's own headers pass through
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "server" not in response.headers
    too_big = httpx.post(f"{caddy.url}/v1/auth/login", content=b"x" * (2 * 1024 * 1024), verify=context)
    # Caddy's own 1 MB limit cuts the upload off: Debian's Caddy 2.6 answers 502, Caddy 2.7+ 413.
    assert too_big.status_code in (413, 502)


def test_the_console_page_and_its_assets_pass_through(edge: tuple[Managed, list[Managed], ssl.SSLContext]) -> None:
    caddy, _, context = edge
    page = httpx.get(f"{caddy.url}/console", verify=context)
    assert page.status_code == 200
    assert "/console/static/console.js" in page.text
    script = httpx.get(f"{caddy.url}/console/static/console.js", verify=context)
    assert script.status_code == 200
    assert "conversationRequest" in script.text
