"""The REST API in-process on the embedded default (real queue path, in-process worker)."""

import asyncio
import inspect
import threading
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from pymongo.errors import AutoReconnect
from starlette.requests import Request
from starlette.routing import BaseRoute

from app.auth.deps import address_block
from app.auth.passwords import HashingBusy, Passwords
from app.auth.secrets import WeakSecretError, resolve
from app.brains import PureBrain
from app.main import create_app
from app.settings import Settings
from tests.support.served import services

ADMIN_KEY = "operator-key-that-is-long-enough-0123456789"


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = Settings(
        _env_file=None,
        admin_api_key=ADMIN_KEY,
        jwt_secret="j" * 40,
        password_pepper="p" * 40,
        rate_limit_user_per_minute=5,
        guests_per_ip_per_hour=4,
        refresh_grace_seconds=1.0,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def guest(client: TestClient) -> dict[str, Any]:
    response = client.post("/v1/auth/guest")
    assert response.status_code == 201, response.text
    return response.json()


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def wait_for_job(client: TestClient, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        record = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if record["status"] in ("succeeded", "failed"):
            return record
        time.sleep(0.02)
    raise AssertionError("job did not finish")


def say(client: TestClient, headers: dict[str, str], text: str) -> dict[str, Any]:
    submitted = client.post("/v1/messages/submit", json={"text": text}, headers=headers)
    assert submitted.status_code == 202, submitted.text
    assert submitted.headers["location"] == f"/v1/jobs/{submitted.json()['job_id']}"
    return wait_for_job(client, submitted.json()["job_id"], headers)


def test_every_response_carries_version_and_request_id_and_errors_share_an_envelope(client: TestClient) -> None:
    response = client.get("/v1/meta/ping", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert response.headers["x-api-version"] == "1.0.0"
    missing = client.get("/v1/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert missing.json()["error"]["request_id"] == missing.headers["x-request-id"]
    invalid = client.post("/v1/auth/login", json={"username": "x"})
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "invalid_request"
    malformed = client.post("/v1/auth/login", content=b"{not json", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 422
    not_utf8 = b'{"username": "\xff\xfe", "password": "x"}'
    undecodable = client.post("/v1/auth/login", content=not_utf8, headers={"Content-Type": "application/json"})
    assert undecodable.status_code == 400
    assert undecodable.json()["error"]["code"] == "bad_request"
    assert "parsing the body" in undecodable.json()["error"]["message"]
    huge = client.post("/v1/auth/login", content=b"x" * 70_000, headers={"Content-Type": "application/json"})
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "payload_too_large"
    assert client.get("/openapi.json").status_code == 200


def test_meta_endpoints(client: TestClient) -> None:
    assert client.get("/v1/").json() == {"persona_id": "default", "name": "Ava"}
    ready = {"ready": True, "redis": True, "mongo": True, "store": "embedded", "problem": None}
    assert client.get("/v1/meta/ready").json() == ready
    assert client.get("/v1/meta/version").json()["version"] == "1.0.0"
    assert client.get("/v1/meta/llm").json() == {"brain": "rules", "provider": None, "model": None, "reachable": True}
    queue = client.get("/v1/meta/queue").json()
    assert queue["redis_reachable"]
    assert queue["status"] == "ok"
    assert queue["workers"]
    assert {q["name"] for q in queue["queues"]} == {"turns", "thoughts"}
    assert queue["worker_count"] == 1  # the Synthetic Soul API's fields, too
    assert queue["total_backlog"] == sum(q["backlog"] for q in queue["queues"])
    assert queue["redis_ok"] is True


def test_the_synthetic_soul_submit_shape_is_accepted(client: TestClient) -> None:
    """Its clients send `{"message": ..., "type": "dm"}` (documented), which used to get 422."""
    headers = bearer(guest(client))
    submitted = client.post("/v1/messages/submit", json={"message": "my name is Kai", "type": "dm"}, headers=headers)
    assert submitted.status_code == 202, submitted.text
    result = wait_for_job(client, submitted.json()["job_id"], headers)["result"]
    assert "Kai" in result["text"]
    assert 0 <= result["time"] < 30  # seconds from submit to answer, which its clients show


def test_a_submit_is_answered_while_the_session_record_cannot_be_stored(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record is written after the enqueue (the turn does not wait on it); failing, it is logged."""

    async def unavailable(*args: object, **kwargs: object) -> None:
        raise AutoReconnect("primary stepped down")

    monkeypatch.setattr(services(client).sessions, "record", unavailable)
    headers = bearer(guest(client))
    submitted = client.post("/v1/messages/submit", json={"text": "my name is Kai"}, headers=headers)
    assert submitted.status_code == 202, submitted.text
    assert "Kai" in wait_for_job(client, submitted.json()["job_id"], headers)["result"]["text"]


def test_synthetic_soul_clients_find_their_fields(client: TestClient) -> None:
    """Beside ours: top-level username, claim's access token, conversation.messages, agent.*."""
    tokens = guest(client)
    assert tokens["username"] == tokens["user"]["username"]
    headers = bearer(tokens)
    say(client, headers, "my name is Kai")
    messages = client.get("/v1/messages/conversation", headers=headers).json()["conversation"]["messages"]
    assert [m["from_agent"] for m in messages] == [False, True]
    assert messages[0]["message"] == "my name is Kai"
    assert "Kai" in messages[1]["message"]
    assert messages[0]["timestamp"] <= messages[1]["timestamp"]
    agent = client.get("/v1/agents/active").json()["agent"]
    assert agent["name"] == "Ava"
    assert set(agent["personality"]["personality_matrix"]) == {
        "openness",
        "conscientiousness",
        "extraversion",
        "agreeableness",
        "neuroticism",
    }
    assert agent["emotional_status"]["emotions"]["joy"]["max"] == 1.0
    body = {"email": "Kai@example.com", "username": "kai_c", "password": "correct horse"}
    claimed = client.post("/v1/auth/claim", json=body, headers=headers).json()
    assert claimed["guest"] is False
    assert client.get("/v1/auth/me", headers=bearer(claimed)).json()["username"] == "kai_c"
    by_email = client.post("/v1/auth/login", json={"email": "kai@example.com", "password": "correct horse"})
    assert by_email.status_code == 200, by_email.text
    assert by_email.json()["user"]["user_id"] == claimed["user_id"]
    wrong = client.post("/v1/auth/login", json={"email": "kai@example.com", "password": "wrong horse"})
    assert wrong.status_code == 401


def test_an_email_is_one_accounts_and_a_refused_claim_keeps_no_name(client: TestClient) -> None:
    first = bearer(guest(client))
    body = {"email": "ana@example.com", "username": "ana_e", "password": "correct horse"}
    assert client.post("/v1/auth/claim", json=body, headers=first).status_code == 200
    second = bearer(guest(client))
    taken = client.post("/v1/auth/claim", json=body | {"username": "ana_f"}, headers=second)
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "email_in_use"
    # ana_f was not kept by the refused claim: the same guest can take it with another email.
    retry = body | {"username": "ana_f", "email": "ana.f@example.com"}
    assert client.post("/v1/auth/claim", json=retry, headers=second).status_code == 200
    bad = client.post("/v1/auth/claim", json=body | {"email": "not-an-email"}, headers=bearer(guest(client)))
    assert bad.status_code == 422


def test_the_refresh_csrf_cookie_is_the_csrf_token_under_its_synthetic_soul_name(client: TestClient) -> None:
    guest(client)
    csrf = client.cookies.get("refresh_csrf")
    assert csrf is not None
    assert csrf == client.cookies.get("csrf_token")
    assert client.post("/v1/auth/refresh", headers={"X-CSRF-Token": csrf}).status_code == 200
    rotated = client.cookies.get("refresh_csrf")
    assert rotated is not None
    assert client.post("/v1/auth/logout", headers={"X-CSRF-Token": rotated}).status_code == 204
    assert client.cookies.get("refresh_csrf") is None  # cleared with the rest


def test_job_events_take_the_access_token_in_the_query_as_synthetic_soul_clients_send_it(client: TestClient) -> None:
    tokens = guest(client)
    job_id = say(client, bearer(tokens), "hello")["job_id"]
    events = client.get(f"/v1/jobs/{job_id}/events", params={"access_token": tokens["access_token"]})
    assert events.status_code == 200
    assert "event: done" in events.text
    assert client.get(f"/v1/jobs/{job_id}/events", params={"access_token": "forged"}).status_code == 401
    stranger = guest(client)["access_token"]
    assert client.get(f"/v1/jobs/{job_id}/events", params={"access_token": stranger}).status_code == 404


def test_guest_chats_through_the_queue_and_reads_its_conversation(client: TestClient) -> None:
    tokens = guest(client)
    headers = bearer(tokens)
    assert client.get("/v1/auth/me", headers=headers).json()["guest"] is True
    assert "Nice to meet you, Ana" in say(client, headers, "my name is Ana")["result"]["text"]
    assert "Ana" in say(client, headers, "what's my name?")["result"]["text"]
    history = client.get("/v1/messages/conversation", headers=headers).json()
    assert [m["input_text"] for m in history["messages"]] == ["my name is Ana", "what's my name?"]
    page = client.get("/v1/messages/conversation", params={"limit": 1}, headers=headers).json()
    assert [m["input_text"] for m in page["messages"]] == ["what's my name?"]
    older = client.get("/v1/messages/conversation", params={"limit": 1, "cursor": page["next_cursor"]}, headers=headers)
    assert [m["input_text"] for m in older.json()["messages"]] == ["my name is Ana"]


def test_another_users_job_and_history_are_invisible(client: TestClient) -> None:
    alice, eve = bearer(guest(client)), bearer(guest(client))
    job = client.post("/v1/messages/submit", json={"text": "my name is Alice"}, headers=alice).json()["job_id"]
    wait_for_job(client, job, alice)
    assert client.get(f"/v1/jobs/{job}", headers=eve).status_code == 404  # not 403: existence is not leaked
    assert client.get("/v1/jobs/does-not-exist", headers=eve).status_code == 404
    assert client.get("/v1/messages/conversation", headers=eve).json()["messages"] == []
    assert "Alice" not in say(client, eve, "what's my name?")["result"]["text"]


def test_deleting_the_conversation_removes_it_from_recall(client: TestClient) -> None:
    headers = bearer(guest(client))
    say(client, headers, "my name is Zoe")
    assert client.delete("/v1/messages/conversation", headers=headers).status_code == 204
    assert client.get("/v1/messages/conversation", headers=headers).json()["messages"] == []
    assert "Zoe" not in say(client, headers, "what's my name?")["result"]["text"]


def test_deleting_the_conversation_waits_for_a_turn_in_flight(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A turn still running when the deletion comes would write its history and facts after it."""
    release = threading.Event()
    respond = PureBrain.respond

    async def held(self: PureBrain, ctx, say):
        await asyncio.to_thread(release.wait, 10)  # off the loop: the API shares it in embedded mode
        return await respond(self, ctx, say)

    monkeypatch.setattr(PureBrain, "respond", held)
    headers = bearer(guest(client))
    submitted = client.post("/v1/messages/submit", json={"text": "my name is Zoe"}, headers=headers)
    deleted: list[int] = []
    deleting = threading.Thread(
        target=lambda: deleted.append(client.delete("/v1/messages/conversation", headers=headers).status_code)
    )
    deleting.start()
    deleting.join(0.5)
    assert deleting.is_alive()  # waiting for the turn

    release.set()
    deleting.join(10)
    assert deleted == [204]
    assert wait_for_job(client, submitted.json()["job_id"], headers)["status"] == "succeeded"
    assert client.get("/v1/messages/conversation", headers=headers).json()["messages"] == []
    assert "Zoe" not in say(client, headers, "what's my name?")["result"]["text"]


def test_a_claimed_account_is_refused_before_any_hashing(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Else repeating /claim would buy a full argon2 hash per refused request."""
    headers = bearer(guest(client))
    first = client.post("/v1/auth/claim", json={"username": "hash_once", "password": "correct horse"}, headers=headers)
    assert first.status_code == 200
    hashed: list[str] = []

    async def counting(password: str) -> str:
        hashed.append(password)
        return "never stored"

    monkeypatch.setattr(services(client).passwords, "hash", counting)
    again = client.post("/v1/auth/claim", json={"username": "other_name", "password": "new password"}, headers=headers)
    assert again.json()["error"]["code"] == "already_claimed"
    assert hashed == []


def test_claim_login_and_refusals(client: TestClient) -> None:
    headers = bearer(guest(client))
    claimed = client.post("/v1/auth/claim", json={"username": "ana_b", "password": "correct horse"}, headers=headers)
    assert claimed.status_code == 200
    assert claimed.json()["guest"] is False
    again = client.post("/v1/auth/claim", json={"username": "other", "password": "new password"}, headers=headers)
    assert again.status_code == 409  # an account with a password cannot be claimed again
    taken = client.post(
        "/v1/auth/claim", json={"username": "ANA_B", "password": "whatever1"}, headers=bearer(guest(client))
    )
    assert taken.json()["error"]["code"] == "username_taken"
    assert client.post("/v1/auth/login", json={"username": "ana_b", "password": "wrong pass"}).status_code == 401
    assert client.post("/v1/auth/login", json={"username": "nobody", "password": "wrong pass"}).status_code == 401
    login = client.post("/v1/auth/login", json={"username": "ana_b", "password": "correct horse"})
    assert login.status_code == 200
    assert login.json()["user"]["username"] == "ana_b"


def test_sign_ins_are_limited_per_account_before_any_hashing(client: TestClient) -> None:
    """Counted per account, not only per address: a botnet's many addresses still guess slowly."""
    statuses = [
        client.post("/v1/auth/login", json={"username": "Target_Account", "password": f"guess {i:04d}"}).status_code
        for i in range(12)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]


async def test_password_hashing_beyond_its_slots_is_refused_quickly() -> None:
    """Hundreds of parallel sign-ins must not take every core: a bounded number hash at once,
    and who cannot get a slot within the wait is told the server is busy."""
    passwords = Passwords("p" * 40, concurrency=1, wait_seconds=0.01)
    stored = await passwords.hash("correct horse")
    outcomes = await asyncio.gather(
        *(passwords.verify(stored, "correct horse") for _ in range(20)), return_exceptions=True
    )
    assert any(outcome is True for outcome in outcomes)
    assert any(isinstance(outcome, HashingBusy) for outcome in outcomes)
    assert all(outcome is True or isinstance(outcome, HashingBusy) for outcome in outcomes)


def test_forged_expired_and_revoked_tokens_are_refused(client: TestClient) -> None:
    tokens = guest(client)
    me = client.get("/v1/auth/me", headers=bearer(tokens))
    assert me.status_code == 200
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    forged = jwt.encode({**claims, "role": "admin"}, "not-the-secret-but-long-enough-to-sign-0123", algorithm="HS256")
    assert client.get("/v1/auth/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    expired = jwt.encode({**claims, "exp": int(time.time()) - 5}, "j" * 40, algorithm="HS256")
    response = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.json()["error"]["message"] == "token expired"
    assert client.get("/v1/auth/me").status_code == 401
    assert client.post("/v1/auth/logout", headers=bearer(tokens)).status_code == 204
    assert client.get("/v1/auth/me", headers=bearer(tokens)).status_code == 401  # at once


def test_refresh_rotates_needs_csrf_and_detects_reuse(client: TestClient) -> None:
    tokens = guest(client)
    old_refresh = client.cookies.get("refresh_token")
    csrf = client.cookies["csrf_token"]
    assert client.post("/v1/auth/refresh").status_code == 403  # no CSRF header
    assert client.post("/v1/auth/refresh", headers={"X-CSRF-Token": "wrong"}).status_code == 403
    rotated = client.post("/v1/auth/refresh", headers={"X-CSRF-Token": csrf})
    assert rotated.status_code == 200
    assert client.cookies.get("refresh_token") != old_refresh
    new_access = bearer(rotated.json())
    # A second tab still holding the old token, within the grace window: allowed, no new rotation.
    second_tab = client.post(
        "/v1/auth/refresh", headers={"X-CSRF-Token": csrf, "Cookie": f"refresh_token={old_refresh}; csrf_token={csrf}"}
    )
    assert second_tab.status_code == 200
    time.sleep(1.2)  # past the grace window the old token is a stolen one: the session dies
    reused = client.post(
        "/v1/auth/refresh", headers={"X-CSRF-Token": csrf, "Cookie": f"refresh_token={old_refresh}; csrf_token={csrf}"}
    )
    assert reused.status_code == 401
    assert client.get("/v1/auth/me", headers=new_access).status_code == 401
    assert client.get("/v1/auth/me", headers=bearer(tokens)).status_code == 401


def test_a_planted_csrf_pair_is_refused(client: TestClient) -> None:
    """Another site can set a csrf_token cookie and send a matching header; neither is this
    session's token, so the victim's refresh cookie cannot be used."""
    guest(client)
    refresh_cookie = client.cookies.get("refresh_token")
    planted = client.post(
        "/v1/auth/refresh",
        headers={"X-CSRF-Token": "planted", "Cookie": f"refresh_token={refresh_cookie}; csrf_token=planted"},
    )
    assert planted.status_code == 403
    assert planted.json()["error"]["code"] == "csrf_failed"


def test_a_wrong_refresh_token_for_a_known_session_does_not_revoke_it(client: TestClient) -> None:
    """Knowing a session's id is not enough to kill it: only a token it once had counts as reuse."""
    tokens = guest(client)
    csrf = client.cookies["csrf_token"]
    session_id = client.cookies["refresh_token"].split(".")[0]
    guessed = client.post(
        "/v1/auth/refresh",
        headers={"X-CSRF-Token": csrf, "Cookie": f"refresh_token={session_id}.guessed-value; csrf_token={csrf}"},
    )
    assert guessed.status_code == 401
    assert client.get("/v1/auth/me", headers=bearer(tokens)).status_code == 200  # the session lives
    assert client.post("/v1/auth/refresh", headers={"X-CSRF-Token": csrf}).status_code == 200


def test_cookies_are_shaped_for_a_browser(client: TestClient) -> None:
    response = client.post("/v1/auth/guest")
    cookies = response.headers.get_list("set-cookie")
    refresh = next(c for c in cookies if c.startswith("refresh_token="))
    csrf = next(c for c in cookies if c.startswith("csrf_token="))
    assert "HttpOnly" in refresh
    assert "Path=/v1/auth" in refresh
    assert "HttpOnly" not in csrf  # the page's script must read it to echo it
    assert "Path=/" in csrf
    assert "SameSite=strict" in refresh


def test_rate_limits_answer_429_with_retry_after(client: TestClient) -> None:
    headers = bearer(guest(client))
    statuses = [
        client.post("/v1/messages/submit", json={"text": f"hi {i}"}, headers=headers).status_code for i in range(7)
    ]
    assert statuses[:5] == [202] * 5
    assert statuses[5] == 429
    limited = client.post("/v1/messages/submit", json={"text": "again"}, headers=headers)
    assert int(limited.headers["retry-after"]) >= 1
    for _ in range(3):
        client.post("/v1/auth/guest")
    refused = client.post("/v1/auth/guest")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"


def test_operators_read_any_session(client: TestClient) -> None:
    headers = bearer(guest(client))
    say(client, headers, "hello there")
    assert client.get("/v1/sessions").status_code == 403
    assert client.get("/v1/sessions", headers={"X-Admin-Key": "wrong"}).status_code == 403
    admin = {"X-Admin-Key": ADMIN_KEY}
    sessions = client.get("/v1/sessions", params={"channel": "rest"}, headers=admin).json()["sessions"]
    assert len(sessions) == 1
    history = client.get(f"/v1/sessions/{sessions[0]['session_id']}/history", headers=admin).json()
    assert history["messages"][0]["input_text"] == "hello there"
    assert client.get("/v1/sessions/nope/history", headers=admin).status_code == 404


def test_persona_state_and_thoughts_are_public_and_impersonal(client: TestClient) -> None:
    state = client.get("/v1/agents/active").json()
    assert state["name"] == "Ava"
    assert set(state["emotions"]) == set(state["baseline"])
    assert state["mood"]
    assert client.get("/v1/agents/active", params={"persona_id": "sage"}).json()["name"] == "Sage"
    assert isinstance(client.get("/v1/thoughts/latest").json(), list)


def test_production_refuses_missing_or_weak_secrets() -> None:
    with pytest.raises(WeakSecretError, match="JWT_SECRET"):
        resolve(Settings(_env_file=None, app_env="production"))
    with pytest.raises(WeakSecretError, match="PASSWORD_PEPPER"):
        resolve(Settings(_env_file=None, app_env="production", jwt_secret="x" * 40, password_pepper="short"))
    ok = resolve(Settings(_env_file=None, app_env="production", jwt_secret="x" * 40, password_pepper="y" * 40))
    assert ok.jwt_secret == "x" * 40


def test_requests_per_address_are_limited() -> None:
    settings = Settings(_env_file=None, rate_limit_ip_per_minute=3)
    with TestClient(create_app(settings)) as client:
        statuses = [client.get("/v1/meta/version").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert client.get("/v1/agents/active").headers["retry-after"]


def test_one_user_through_two_doors_has_one_conversation(client: TestClient) -> None:
    """Knowing a REST user's id gets another door nothing; an identity token they asked for links them."""
    tokens = guest(client)
    headers = bearer(tokens)
    say(client, headers, "my name is Dana")
    claimed = [{"name": "userIdentity", "value": {"id": tokens["user"]["user_id"]}, "scope": "PUBLIC"}]
    skill = {"projectId": "p", "deploymentEnvironment": "preview", "sessionId": "sk", "memory": claimed}
    stranger = client.post("/skills/execute", json={**skill, "sessionId": "sk-0", "text": "what's my name?"}).json()
    assert "Dana" not in stranger["output"]["text"]
    proof = client.post("/v1/auth/identity-token", headers=headers)
    assert proof.status_code == 200, proof.text
    linked = [{"name": "userIdentity", "value": {"identityToken": proof.json()["identity_token"]}, "scope": "PUBLIC"}]
    answer = client.post("/skills/execute", json={**skill, "memory": linked, "text": "what's my name?"}).json()
    assert "Dana" in answer["output"]["text"]
    history = client.get("/v1/messages/conversation", headers=headers).json()["messages"]
    assert [(m["channel"], m["input_text"]) for m in history] == [
        ("rest", "my name is Dana"),
        ("skills", "what's my name?"),
    ]


def test_identity_tokens_are_issued_to_their_owner_or_by_an_operator(client: TestClient) -> None:
    alice, bob = guest(client), guest(client)
    assert client.post("/v1/auth/identity-token").status_code == 401
    other = client.post("/v1/auth/identity-token", json={"user_id": bob["user"]["user_id"]}, headers=bearer(alice))
    assert other.status_code == 403
    by_operator = client.post(
        "/v1/auth/identity-token", json={"user_id": bob["user"]["user_id"]}, headers={"X-Admin-Key": ADMIN_KEY}
    )
    assert by_operator.json()["user_id"] == bob["user"]["user_id"]
    unknown = client.post("/v1/auth/identity-token", json={"user_id": "nobody"}, headers={"X-Admin-Key": ADMIN_KEY})
    assert unknown.status_code == 404
    token = by_operator.json()["identity_token"]
    assert client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401  # not access


@pytest.mark.parametrize(
    ("host", "block"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),  # the same subscriber, another address
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("testclient", "testclient"),
    ],
)
def test_address_limits_count_an_ipv6_subscriber_once(host: str, block: str) -> None:
    """Found in review: keyed on the full IPv6 address, limits could be dodged within a /64."""
    request = Request({"type": "http", "client": (host, 1234), "headers": []})
    assert address_block(request) == block


def test_operators_find_the_sessions_that_spoke_of_a_crisis(client: TestClient) -> None:
    calm, troubled = bearer(guest(client)), bearer(guest(client))
    say(client, calm, "hello there")
    answered = say(client, troubled, "Sometimes I think about ending it all.")
    assert "findahelpline.com" in answered["result"]["text"]
    admin = {"X-Admin-Key": ADMIN_KEY}
    assert len(client.get("/v1/sessions", headers=admin).json()["sessions"]) == 2
    [flagged] = client.get("/v1/sessions", params={"crisis": "true"}, headers=admin).json()["sessions"]
    history = client.get(f"/v1/sessions/{flagged['session_id']}/history", headers=admin).json()
    assert [m["crisis"] for m in history["messages"]] == [True]
    assert history["messages"][0]["input_text"] == "Sometimes I think about ending it all."


def test_the_docs_page_needs_no_network(client: TestClient) -> None:
    """FastAPI's default /docs loads Swagger UI from a CDN: blank offline. Ours is served from the package."""
    page = client.get("/docs")
    assert page.status_code == 200
    assert "https://" not in page.text
    assert "http://" not in page.text.replace("http://testserver", "")
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
        assert f"/docs/static/{asset}" in page.text
        assert client.get(f"/docs/static/{asset}").status_code == 200
    assert client.get("/redoc").status_code == 404  # ReDoc would load from a CDN too


def test_a_listed_origins_page_may_call_with_credentials_and_no_other() -> None:
    """A Synthetic Soul web UI served apart from the API (its dev server: 127.0.0.1:5173)."""
    ui = "http://127.0.0.1:5173"
    settings = Settings(_env_file=None, cors_allowed_origins=f"{ui}/, https://ui.example.com")
    with TestClient(create_app(settings)) as cors_client:
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-csrf-token"}
        allowed = cors_client.options("/v1/auth/refresh", headers={"Origin": ui, **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == ui
        assert allowed.headers["access-control-allow-credentials"] == "true"
        refused = cors_client.options("/v1/auth/refresh", headers={"Origin": "https://evil.example", **preflight})
        assert "access-control-allow-origin" not in refused.headers
        guest_reply = cors_client.post("/v1/auth/guest", headers={"Origin": ui})
        assert guest_reply.headers["access-control-allow-origin"] == ui
        assert "location" in guest_reply.headers["access-control-expose-headers"].lower()
    with TestClient(create_app(Settings(_env_file=None))) as plain:
        assert "access-control-allow-origin" not in plain.post("/v1/auth/guest", headers={"Origin": ui}).headers


def test_every_dependency_and_endpoint_runs_on_the_event_loop() -> None:
    """FastAPI runs a plain `def` dependency or endpoint in its thread pool: a thread hop on every
    request (measured: ~0.12 ms of CPU per request, twice that under concurrency)."""
    app = create_app(Settings(_env_file=None))
    in_threads: list[str] = []

    def walk(dependant: Dependant, where: str) -> None:
        if dependant.call is not None and not inspect.iscoroutinefunction(dependant.call):
            in_threads.append(f"{where}: {dependant.call.__qualname__}")
        for sub in dependant.dependencies:
            walk(sub, where)

    def routes(among: list[BaseRoute]) -> Iterator[APIRoute | APIWebSocketRoute]:
        for route in among:
            if isinstance(route, APIRoute | APIWebSocketRoute):
                yield route
            elif (included := getattr(route, "original_router", None)) is not None:  # included router (FastAPI 0.165)
                yield from routes(included.routes)

    found = list(routes(app.routes))
    for route in found:
        walk(route.dependant, route.path)
    assert len(found) > 30  # every router was found
    assert in_threads == []
