"""The REST API against real uvicorn + worker + Redis: SSE job events, tickets, and a fuzzed schema."""

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.stack import Stack, wait_for


async def sse_events(client: httpx.AsyncClient, url: str, **kwargs: Any) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(event name, data) pairs as they arrive; keep-alive comments are skipped."""
    async with client.stream("GET", url, **kwargs) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        name = "message"
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                yield name, json.loads(line.split(":", 1)[1])
                name = "message"


async def test_job_events_are_pushed_over_sse_and_tickets_work_once(stack: Stack, redis_url: str) -> None:
    stack.workers(redis_url, processes=1)
    api = stack.api(redis_url, ACCESS_LOG="true")
    async with httpx.AsyncClient(base_url=api.url, timeout=15) as client:
        token = (await client.post("/v1/auth/guest")).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        job = (await client.post("/v1/messages/submit", json={"text": "my name is Lee"}, headers=headers)).json()
        received = [e async for e in sse_events(client, f"/v1/jobs/{job['job_id']}/events", headers=headers)]
        names = [name for name, _ in received]
        assert names[0] == "status"
        assert names[-1] == "done"
        assert "Lee" in received[-1][1]["result"]["text"]
        assert received[-1][1]["status"] == "succeeded"

        second = (await client.post("/v1/messages/submit", json={"text": "what's my name?"}, headers=headers)).json()
        ticket = (await client.post(f"/v1/jobs/{second['job_id']}/ticket", headers=headers)).json()["ticket"]
        url = f"/v1/jobs/{second['job_id']}/events?ticket={ticket}"  # as a browser's EventSource would
        done = [data async for name, data in sse_events(client, url) if name == "done"]
        assert "Lee" in done[0]["result"]["text"]
        assert (await client.get(url)).status_code == 401  # single use
        other = (await client.post("/v1/auth/guest")).json()["access_token"]
        stranger = await client.get(f"/v1/jobs/{second['job_id']}/events", headers={"Authorization": f"Bearer {other}"})
        assert stranger.status_code == 404
    assert f"/v1/jobs/{second['job_id']}/events?" in api.log()  # the access log has the request...
    assert ticket not in api.log()  # ...but not the ticket in its query string


@pytest.mark.timeout(300)
def test_schemathesis_finds_no_server_error(stack: Stack, redis_url: str) -> None:
    binary = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert binary, "schemathesis is in requirements-dev.txt"
    stack.workers(redis_url, processes=1)
    admin_key = "operator-key-for-the-fuzzer-0123456789abcdef"
    api = stack.api(
        redis_url,
        RATE_LIMIT_IP_PER_MINUTE="100000",
        RATE_LIMIT_USER_PER_MINUTE="100000",
        GUESTS_PER_IP_PER_HOUR="100000",
        ADMIN_API_KEY=admin_key,
    )
    token = httpx.post(f"{api.url}/v1/auth/guest").json()["access_token"]
    result = subprocess.run(
        [
            binary,
            "run",
            f"{api.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "25",
            "--header",
            f"Authorization: Bearer {token}",
            "--header",
            f"X-Admin-Key: {admin_key}",
            "--exclude-path",
            "/v1/auth/logout",  # it would revoke the fuzzer's own token and leave it nothing to test
            "--request-timeout",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "operations" in result.stdout.lower()  # it really ran against the schema
    assert "unhandled error" not in api.log()  # the 500 handler's log line


def queue_status(api_url: str) -> dict[str, Any]:
    return httpx.get(f"{api_url}/v1/meta/queue", timeout=10).json()


@pytest.mark.timeout(120)
def test_queue_diagnostics_see_a_live_worker_a_killed_one_and_a_stale_backlog(stack: Stack, redis_url: str) -> None:
    settings = {"WORKER_TTL_SECONDS": "16", "QUEUE_STALE_SECONDS": "2"}
    worker = stack.workers(redis_url, processes=1, **settings)
    api = stack.api(redis_url, **settings)
    live = queue_status(api.url)
    assert live["status"] == "ok"
    assert [w["alive"] for w in live["workers"]] == [True]

    worker.stop(signal.SIGKILL)  # no goodbye: its registration outlives it
    token = httpx.post(f"{api.url}/v1/auth/guest").json()["access_token"]
    httpx.post(f"{api.url}/v1/messages/submit", json={"text": "anyone?"}, headers={"Authorization": f"Bearer {token}"})
    wait_for(lambda: any("waiting" in r for r in queue_status(api.url)["reasons"]), 15, "a stale backlog")
    wait_for(lambda: "no worker is alive" in queue_status(api.url)["reasons"], 30, "the killed worker to count as dead")
    report = queue_status(api.url)
    assert report["status"] == "degraded"
    assert report["queues"][0]["queued"] == 1


def test_forwarded_for_is_believed_only_from_trusted_proxies(stack: Stack, redis_url: str) -> None:
    limits = {"RATE_LIMIT_IP_PER_MINUTE": "3"}
    untrusted = stack.api(redis_url, FORWARDED_ALLOW_IPS="10.255.255.1", **limits)
    spoofed = [
        httpx.get(f"{untrusted.url}/v1/meta/version", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
        for i in range(4)
    ]
    assert spoofed == [200, 200, 200, 429]  # a made-up header does not buy a fresh allowance
    behind_proxy = stack.api(redis_url, FORWARDED_ALLOW_IPS="127.0.0.1", **limits)
    clients = [
        httpx.get(f"{behind_proxy.url}/v1/meta/version", headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
        for i in range(4)
    ]
    assert clients == [200, 200, 200, 200]  # each real client behind the trusted proxy has its own limit
