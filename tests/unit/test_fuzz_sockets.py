"""Property-based fuzzing of every socket door's inbound frames (hypothesis), in-process.

Whatever a client sends, the process stays up, the socket stays open (unless it floods), bad
input is answered or logged, and the next valid request is answered as usual.
"""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.websockets import WebSocketDisconnect

from app.main import create_app
from app.settings import Settings
from tests.support.served import until

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(
        create_app(
            Settings(_env_file=None, persona_brain="demo", ws_frames_per_second=1000, turns_per_ip_per_minute=10**6)
        )
    ) as c:
        yield c


def frames_for(names: list[str], key: str, body_key: str) -> st.SearchStrategy[Any]:
    """Raw JSON, or well-formed envelopes with random bodies, or junk text."""
    envelope = st.builds(
        lambda n, b: {key: n, body_key: b, "kind": "event"}, st.sampled_from(names) | st.text(max_size=20), JSON
    )
    return st.one_of(
        JSON,
        envelope,
        st.builds(
            lambda n, b: {key: n, body_key: b}, st.sampled_from(names), st.dictionaries(st.text(max_size=8), JSON)
        ),
    )


@given(junk=frames_for(["state", "conversationRequest", "recognizeResults"], "name", "body"))
@FUZZ
def test_soul_machines_socket_survives_anything(client: TestClient, junk: Any) -> None:
    with client.websocket_connect("/ws") as ws:
        ws.send_text(json.dumps(junk))
        ws.send_text(json.dumps({"category": "scene", "kind": "event", "name": "conversationRequest",
                                 "body": {"personaId": 1, "input": {"text": "probe"}}}))  # fmt: skip
        answer = until(ws, lambda f: f["body"]["input"]["text"] == "probe")
        assert answer["body"]["output"]["text"] == "Echo: probe"


@given(junk=frames_for(["sessionStart", "conversation", "sessionEnd"], "name", "payload"))
@FUZZ
def test_skills_socket_survives_anything(client: TestClient, junk: Any) -> None:
    with client.websocket_connect("/skills/ws") as ws:
        ws.send_text(json.dumps(junk))
        ws.send_text(json.dumps({"name": "conversation", "payload": {"text": "probe", "sessionId": "fuzz"}}))
        answer = until(ws, lambda f: f["name"] == "skillConversation" and f["payload"].get("text") == "Echo: probe")
        assert answer["payload"]["text"] == "Echo: probe"


@given(junk=st.one_of(JSON, st.builds(lambda m, s: {"messages": m, "custom_session_id": s}, JSON, JSON)))
@FUZZ
def test_hume_socket_survives_anything(client: TestClient, junk: Any) -> None:
    with client.websocket_connect("/llm") as ws:
        ws.send_text(json.dumps(junk))
        probe = {"messages": [{"type": "user_message", "message": {"role": "user", "content": "probe"}}]}
        ws.send_text(json.dumps(probe))
        answer = until(ws, lambda f: f.get("type") == "assistant_input" and f.get("text") == "Echo: probe")
        assert answer["text"] == "Echo: probe"


ODD_HUME_MESSAGES = [
    {"type": "user_message", "message": "hi"},  # the message is not an object
    {"type": "user_message", "message": {"content": "hi"}, "models": {"prosody": "x"}},
    {"type": "user_message", "message": {"content": "hi"}, "models": {"prosody": {"scores": [0.1, 0.2]}}},
    {"type": "user_message", "message": {"content": "hi"}, "models": {"prosody": {"scores": {"Joy": 10**400}}}},
    "not a message at all",
]


@pytest.mark.parametrize("message", ODD_HUME_MESSAGES)
def test_hume_doors_answer_odd_shapes(client: TestClient, message: Any) -> None:
    """Found in review: each of these raised (a 500, or the socket's loop ended)."""
    with client.websocket_connect("/llm") as ws:
        ws.send_text(json.dumps({"messages": [message]}))
        probe = {"messages": [{"type": "user_message", "message": {"role": "user", "content": "probe"}}]}
        ws.send_text(json.dumps(probe))
        assert until(ws, lambda f: f.get("type") == "assistant_input" and f.get("text") == "Echo: probe")
    if isinstance(message, dict):
        http_message = {"role": "user", "content": "hi", "models": message.get("models")}
        assert client.post("/chat/completions", json={"messages": [http_message]}).status_code == 200


@pytest.mark.parametrize("persona_id", [[], {}, 5, None])
def test_skills_answer_any_persona_id(client: TestClient, persona_id: Any) -> None:
    config = {"personaId": persona_id}
    request = {"projectId": "p", "deploymentEnvironment": "preview", "sessionId": "odd", "config": config}
    assert client.post("/skills/session", json=request).status_code == 200
    answer = client.post("/skills/execute", json={**request, "text": "hi", "memory": []})
    assert answer.status_code == 200
    assert answer.json()["output"]["text"] == "Echo: hi"


@pytest.mark.parametrize("path", ["/ws", "/skills/ws", "/llm"])
def test_pathological_frames_are_survived(client: TestClient, path: str) -> None:
    with client.websocket_connect(path) as ws:
        for frame in ("[" * 30_000 + "]" * 30_000, "\\ud800", "x" * 70_000, '{"a": ' * 2_000):
            ws.send_text(frame)
        ws.send_bytes(b"\\x00\\xff\\xfe binary")
        ws.send_text(json.dumps({"name": "sessionEnd", "payload": {}}))  # something harmless for every door
    with client.websocket_connect(path):
        pass  # the server still accepts sockets


def test_a_flood_closes_only_the_flooding_socket() -> None:
    settings = Settings(_env_file=None, persona_brain="demo", ws_frames_per_second=5)
    request = {"category": "scene", "kind": "event", "name": "conversationRequest", "body": {"input": {"text": "hi"}}}
    with TestClient(create_app(settings)) as client, client.websocket_connect("/ws") as calm:
        with client.websocket_connect("/ws") as flood:
            for _ in range(50):
                flood.send_text("{}")
            with pytest.raises(WebSocketDisconnect) as closed:
                flood.receive_text()
        assert closed.value.code == 1008
        calm.send_text(json.dumps(request))
        assert calm.receive_json()["body"]["output"]["text"] == "Echo: hi"
