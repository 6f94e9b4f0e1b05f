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
    with TestClient(create_app(Settings(_env_file=None, ws_frames_per_second=1000))) as c:  # type: ignore[call-arg]
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
