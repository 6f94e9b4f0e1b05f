"""Hostile input at the doors, in-process: bodies, numbers and bytes no client should send."""

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from app.turns import bounded


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(_env_file=None, ws_frames_per_second=1000))) as c:
        yield c


def test_a_chunked_body_over_the_limit_gets_413_not_400(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the size shows only while reading
        for _ in range(20):
            yield b"x" * 8192

    response = client.post("/v1/auth/login", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_absurd_numbers_are_dropped_and_sane_ones_kept() -> None:
    variables = {"joy": 10**400, "big": 2**70, "inf": float("inf"), "ok": 0.5, "n": [1, 10**400], "b": True}
    assert bounded(variables) == {"ok": 0.5, "n": [1], "b": True}


def test_a_turn_with_absurd_scene_numbers_is_answered_normally(client: TestClient) -> None:
    """Found by a red team: `10**400` in scene variables crashed the turn in the worker."""
    variables = (
        '{"Turn_Id": "t1", "UserTurn_TextJoy": 1'
        + "0" * 400
        + ', "UserTurn_TextSadness": 1e400, "x": 1180591620717411303424}'
    )
    frame = (
        '{"category": "scene", "kind": "event", "name": "conversationRequest", "body": {"personaId": 1,'
        ' "input": {"text": "my name is Ola"}, "variables": ' + variables + "}}"
    )
    with client.websocket_connect("/ws") as ws:
        ws.send_text(frame)
        answer = json.loads(ws.receive_text())
    assert answer["name"] == "conversationResponse"
    assert "Ola" in answer["body"]["output"]["text"]


def test_a_page_of_another_site_cannot_open_a_socket_door(client: TestClient) -> None:
    """Origin is what a browser says about the page opening the socket: another site's page, in a
    visitor's browser, is refused; this server's own pages and servers (no Origin) are not."""
    from starlette.websockets import WebSocketDisconnect

    for path in ("/ws", "/skills/ws", "/llm"):
        with client.websocket_connect(path, headers={"origin": "https://evil.example"}) as ws:
            with pytest.raises(WebSocketDisconnect) as refused:
                ws.receive_text()
            assert refused.value.code == 1008
    frame = json.dumps(
        {"category": "scene", "kind": "event", "name": "conversationRequest", "body": {"input": {"text": "hi"}}}
    )
    for headers in ({"origin": "http://testserver"}, {}):
        with client.websocket_connect("/ws", headers=headers) as ws:
            ws.send_text(frame)
            assert json.loads(ws.receive_text())["name"] == "conversationResponse"


def test_a_rest_users_id_claimed_at_another_door_reads_nothing_of_theirs(client: TestClient) -> None:
    """Found by a red team: `custom_session_id=<a REST user's id>` or `userInfo.id` read their
    memories. Each door is its own namespace; only an identity token links a person across doors."""
    tokens = client.post("/v1/auth/guest").json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    user_id = tokens["user"]["user_id"]
    job = client.post("/v1/messages/submit", json={"text": "my name is Ingrid"}, headers=headers).json()["job_id"]
    for _ in range(200):
        if client.get(f"/v1/jobs/{job}", headers=headers).json()["status"] == "succeeded":
            break
    question = {"model": "persona", "messages": [{"role": "user", "content": "what's my name?"}]}

    def completion(query: str) -> str:
        response = client.post(f"/v1/chat/completions?{query}", json=question)
        assert response.status_code == 200, response.text
        return response.json()["choices"][0]["message"]["content"]

    def scene(user_info: dict[str, str], session_id: str) -> str:
        with client.websocket_connect("/ws") as ws:
            session = {"sessionId": session_id, "state": "offered", "userInfo": json.dumps(user_info)}
            ws.send_text(
                json.dumps({"category": "scene", "kind": "event", "name": "state", "body": {"session": session}})
            )
            body = {"personaId": 1, "input": {"text": "what's my name?"}}
            ws.send_text(
                json.dumps({"category": "scene", "kind": "event", "name": "conversationRequest", "body": body})
            )
            return json.loads(ws.receive_text())["body"]["output"]["text"]

    def hume(custom_session_id: str, query: str = "") -> str:
        with client.websocket_connect(f"/llm{query}") as ws:
            user = {"type": "user_message", "message": {"role": "user", "content": "what's my name?"}}
            ws.send_text(json.dumps({"messages": [user], "custom_session_id": custom_session_id}))
            frames = [json.loads(ws.receive_text())]
            while frames[-1]["type"] != "assistant_end":
                frames.append(json.loads(ws.receive_text()))
            return " ".join(f.get("text", "") for f in frames)

    assert "Ingrid" not in hume(user_id)
    assert "Ingrid" not in completion(f"custom_session_id={user_id}")
    assert "Ingrid" not in scene({"id": user_id}, "claim-1")
    proof = client.post("/v1/auth/identity-token", headers=headers).json()["identity_token"]
    assert "Ingrid" in completion(f"custom_session_id=linked-1&identity_token={proof}")
    assert "Ingrid" in scene({"id": "anything", "identityToken": proof}, "linked-2")
    assert "Ingrid" in hume("linked-3", f"?identity_token={proof}")
