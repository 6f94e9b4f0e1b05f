"""A Synthetic Soul client, unchanged, against a real server on the embedded default.

Replays the flow as that API documents it (chris-cozy/SyntheticSoulAPI README.md, "Typical API
Flow", "Authentication Model", "Queue Diagnostics") and as its web UI sends it
(chris-cozy/SyntheticSoulWebUI src/auth.tsx, src/App.tsx, src/SyntheticSoul.tsx and
docs/BACKEND_CONTRACT.md): the same paths, bodies and header names, cookies kept by the client
like a browser's `credentials: "include"`, the CSRF token read from the `refresh_csrf` cookie.
Each assertion is a field that client reads, in the way it reads it.
"""

import asyncio
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from tests.integration.test_rest_api import sse_events
from tests.support.stack import Stack

JSON = {"Accept": "application/json"}
TERMINAL_OK = ("succeeded", "finished")  # App.tsx: either ends a job well


def reply_text(result: Any) -> str:
    """App.tsx normalize(): `response ?? reply ?? text`."""
    return result.get("response") or result.get("reply") or result.get("text") or ""


async def submit(client: httpx.AsyncClient, token: str, text: str) -> tuple[str, str]:
    """App.tsx ask(): 202 with `job_id`; the status URL from `Location`, resolved like the browser."""
    response = await client.post(
        "/v1/messages/submit",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        json={"message": text, "type": "dm"},
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    assert job_id
    assert response.json()["status"] == "queued"  # README: {"job_id", "status": "queued"}
    return job_id, urljoin(f"{client.base_url}/v1", response.headers["Location"])


async def poll(client: httpx.AsyncClient, token: str, status_url: str, attempts: int = 40) -> dict[str, Any]:
    """App.tsx pollJob(): GET the status URL until `status` is terminal, backing off as it does."""
    for attempt in range(attempts):
        response = await client.get(status_url, headers=bearer(token))
        assert response.is_success, response.text
        data: dict[str, Any] = response.json()
        if data["status"].lower() in (*TERMINAL_OK, "failed"):
            return data
        await asyncio.sleep(min(8.0, 0.2 * 1.25**attempt))
    raise AssertionError(f"{status_url} never finished")


def bearer(token: str) -> dict[str, str]:
    return JSON | {"Authorization": f"Bearer {token}"}


async def start_guest(client: httpx.AsyncClient) -> str:
    """auth.tsx startGuest(): no body, only Accept; then me() with the token."""
    guest = await client.post("/v1/auth/guest", headers=JSON)
    assert guest.is_success, guest.text
    assert isinstance(guest.json()["expires_in"], int)  # README: access_token, username, expires_in
    assert "username" in guest.json()
    token: str = guest.json()["access_token"]
    me = (await client.get("/v1/auth/me", headers=bearer(token))).json()
    assert me.get("user", me)["guest"] is True  # `body.user ?? body`
    return token


async def over_sse(client: httpx.AsyncClient, token: str, job_id: str, status_url: str) -> dict[str, Any]:
    """App.tsx waitForJobViaSse(): EventSource (no headers) on {statusUrl}/events?access_token=,
    a terminal `status` in a status, done or plain message event; then one final GET."""
    assert status_url.endswith(f"/jobs/{job_id}")
    seen = [(name, data) async for name, data in sse_events(client, f"{status_url}/events?access_token={quote(token)}")]
    assert seen[0][0] == "status"
    assert any(name in ("status", "done", "message") and data["status"] in TERMINAL_OK for name, data in seen), seen
    final: dict[str, Any] = (await client.get(status_url, headers=bearer(token))).json()
    assert final["status"] in TERMINAL_OK
    return final


async def refreshed(client: httpx.AsyncClient) -> str:
    """auth.tsx refresh(): the `refresh_csrf` cookie echoed as X-CSRF-Token, cookies sent along."""
    csrf = client.cookies.get("refresh_csrf")
    assert csrf
    response = await client.post("/v1/auth/refresh", headers=JSON | {"X-CSRF-Token": csrf})
    assert response.is_success, response.text
    token: str = response.json()["access_token"]
    assert (await client.get("/v1/auth/me", headers=bearer(token))).is_success
    return token


async def claimed(client: httpx.AsyncClient, token: str) -> str:
    """auth.tsx claim(): {email, username, password}; the client swaps in the `access_token`."""
    response = await client.post(
        "/v1/auth/claim",
        headers=bearer(token) | {"Content-Type": "application/json"},
        json={"email": "kai@example.com", "username": "kai_s", "password": "correct horse"},
    )
    assert response.is_success, response.text
    new_token: str = response.json()["access_token"]
    me = (await client.get("/v1/auth/me", headers=bearer(new_token))).json()
    assert me.get("user", me)["username"] == "kai_s"
    return new_token


async def test_the_documented_flow_passes_unchanged(stack: Stack) -> None:
    api = stack.api(None)
    async with httpx.AsyncClient(base_url=api.url, timeout=20) as client:
        # SyntheticSoul.tsx: the startup reachability check is /meta/version under 500.
        assert (await client.get("/v1/meta/version", headers=JSON)).status_code < 500
        token = await start_guest(client)

        # README "Queue Diagnostics" / "Jobs stuck in queued": worker_count > 0, total_backlog.
        queue = (await client.get("/v1/meta/queue")).json()
        assert queue["worker_count"] > 0
        assert isinstance(queue["total_backlog"], int)
        assert queue["redis_ok"] is True

        job_id, status_url = await submit(client, token, "my name is Kai")
        assert status_url == f"{api.url}/v1/jobs/{job_id}"
        assert "Kai" in reply_text((await over_sse(client, token, job_id, status_url))["result"])

        # README step 3: polling, the fallback when the stream fails.
        job_id, status_url = await submit(client, token, "what's my name?")
        polled = await poll(client, token, status_url)
        assert polled["job_id"] == job_id
        assert "Kai" in reply_text(polled["result"])

        # SyntheticSoul.tsx loadConversation(): conversation.messages, sorted by timestamp.
        history = (await client.get("/v1/messages/conversation", headers=bearer(token))).json()
        messages = sorted(history["conversation"]["messages"], key=lambda m: m["timestamp"])
        assert [m["from_agent"] for m in messages] == [False, True, False, True]
        assert [m["message"] for m in messages][::2] == ["my name is Kai", "what's my name?"]
        assert "Kai" in messages[3]["message"]
        assert len({m["id"] for m in messages}) == 4

        # SyntheticSoul.tsx fetchAgent(): agent.name, identity and the two matrices.
        agent = (await client.get("/v1/agents/active", headers=bearer(token))).json()["agent"]
        assert agent["name"]
        assert isinstance(agent["identity"], str)
        assert all("value" in d for d in agent["personality"]["personality_matrix"].values())
        assert all("value" in d for d in agent["emotional_status"]["emotions"].values())

        token = await refreshed(client)
        assert not (await client.post("/v1/auth/refresh", headers=JSON)).is_success  # no CSRF header
        token = await claimed(client, token)

        # auth.tsx logout(): Bearer; the session's tokens stop working.
        await client.post("/v1/auth/logout", headers=bearer(token))
        assert (await client.get("/v1/auth/me", headers=bearer(token))).status_code == 401

        # auth.tsx login(): {email, password}, the email given at claim.
        login = await client.post(
            "/v1/auth/login",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            json={"email": "kai@example.com", "password": "correct horse"},
        )
        assert login.is_success, login.text
        me = (await client.get("/v1/auth/me", headers=bearer(login.json()["access_token"]))).json()
        assert me.get("user", me)["username"] == "kai_s"
