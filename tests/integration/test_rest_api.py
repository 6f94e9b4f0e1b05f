"""The REST API against real uvicorn + worker + Redis: SSE job events, tickets, and a fuzzed schema."""

import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.stack import Stack


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
    api = stack.api(redis_url)
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
