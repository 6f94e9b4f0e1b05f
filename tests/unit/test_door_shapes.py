"""The doors accept the shapes the official references send (issue 20), in-process on the demo brain."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.bus.replies import speak
from app.main import create_app
from app.persona.appraisal import appraise, perception_deltas
from app.settings import Settings
from app.turns import Reply
from tests.support.served import portal, services, until


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(_env_file=None, persona_brain="demo"))) as c:
        yield c


def test_hume_llm_socket_reads_messages_without_a_per_message_type(client: TestClient) -> None:
    """Hume's example CLM servers send {message: {role, content}, models} and no "type"."""
    chat = {
        "messages": [
            {"message": {"role": "user", "content": "hello from the example"}, "models": {}},
            {"message": {"role": "assistant", "content": "not the user"}},
        ],
        "custom_session_id": "untyped",
    }
    with client.websocket_connect("/llm") as ws:
        ws.send_text(json.dumps(chat))
        answer = until(ws, lambda f: f.get("type") == "assistant_input")
        assert answer["text"] == "Echo: hello from the example"
        typed = {"messages": [{"type": "user_message", "message": {"role": "user", "content": "typed"}}]}
        ws.send_text(json.dumps(typed))
        assert until(ws, lambda f: f.get("type") == "assistant_input")["text"] == "Echo: typed"


def test_skills_socket_takes_nulls_as_absent(client: TestClient) -> None:
    """An SDK UserConversationMessage serialised with its defaults: variables, memory, config null."""
    with client.websocket_connect("/skills/ws") as ws:
        ws.send_text(json.dumps({"name": "sessionStart", "payload": {"sessionId": "nulls", "config": None}}))
        conversation = {"text": "probe", "sessionId": "nulls", "variables": None, "memory": None, "config": None}
        ws.send_text(json.dumps({"name": "conversation", "payload": conversation}))
        answer = until(ws, lambda f: f["name"] in ("skillConversation", "error"))
        assert answer == {"name": "skillConversation", "payload": answer["payload"]}
        assert answer["payload"]["text"] == "Echo: probe"


def test_skills_context_emotion_scores_move_the_persona() -> None:
    context = {"UserTurn_TextJoy": 0.9, "UserTurn_TextAnger": 0, "UserTurn_TextCare": 0.5, "Turn_Id": "t"}
    deltas = perception_deltas(context)
    assert deltas["joy"] == pytest.approx(0.18)
    assert deltas["love"] == pytest.approx(0.1)
    assert "anger" not in deltas  # a zero score is no feeling
    assert appraise("ok", context).deltas["joy"] > appraise("ok", {}).deltas.get("joy", 0.0)


@pytest.mark.parametrize("persona_id", ["1", 1, "persona-7"])
def test_unprompted_speech_echoes_the_personaid_as_the_scene_sent_it(client: TestClient, persona_id: Any) -> None:
    session_id = f"echo-{persona_id}-{type(persona_id).__name__}"  # ids are [A-Za-z0-9_.:@+=-]
    with client.websocket_connect("/ws") as ws:
        state = {"session": {"sessionId": session_id, "state": "connected"}}
        ws.send_text(json.dumps({"category": "scene", "kind": "event", "name": "state", "body": state}))
        request = {"personaId": persona_id, "input": {"text": "hello"}}
        ws.send_text(json.dumps({"category": "scene", "kind": "event", "name": "conversationRequest", "body": request}))
        until(ws, lambda f: f["name"] == "conversationResponse")
        redis = services(client).redis.async_client
        nudge = Reply(session_id=session_id, persona_id="default", text="Still with me?")
        assert portal(client).call(speak, redis, nudge)
        unprompted = until(ws, lambda f: f["name"] == "conversationResponse")
        assert unprompted["body"]["output"]["text"] == "Still with me?"
        assert unprompted["body"]["personaId"] == persona_id
