"""The scene console's server side in-process: page and assets, options, unlock, the session view.

The page itself is driven in a real browser by tests/integration/test_console_browser.py.
"""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.support.scene import conversation_request, state_event

ADMIN_KEY = "operator-key-that-is-long-enough-0123456789"
OPERATOR = {"X-Admin-Key": ADMIN_KEY}


def settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **overrides)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(settings(admin_api_key=ADMIN_KEY, sm_shared_secret="scene-secret"))) as test_client:
        yield test_client


def talk(client: TestClient, session_id: str, user_info: dict[str, Any], *texts: str) -> list[dict[str, Any]]:
    """A scene's session over /ws: state, then each text as a request ("" is the init); the replies' bodies."""
    client.cookies.set("sm_orchestration", "scene-secret")  # as the scene's Cookie header carries it
    with client.websocket_connect("/ws") as ws:
        ws.send_text(state_event(session_id, json.dumps(user_info)))
        bodies = []
        for text in texts:
            ws.send_text(conversation_request(text, kind=None if text else "init"))
            bodies.append(ws.receive_json()["body"])
        return bodies


def test_the_page_and_its_assets_are_served_without_any_cdn(client: TestClient) -> None:
    page = client.get("/console")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    sources = [part.split('"')[0] for part in page.text.split('src="')[1:]]
    sources += [part.split('"')[0] for part in page.text.split('rel="stylesheet" href="')[1:]]
    assert sources, "the page loads its scripts and styles"
    for source in sources:
        assert source.startswith("/console/static/"), f"{source} is not served by us"
        assert client.get(source).status_code == 200, source


def test_options_name_personas_and_brains_and_what_the_page_must_present(client: TestClient) -> None:
    options = client.get("/console/options").json()
    assert {p["persona_id"] for p in options["personas"]} == {"default", "sage", "spark"}
    assert options["default_persona"] == "default"
    assert options["brains"] == ["rules", "demo"]  # no LLM configured: not offered
    assert options["default_brain"] == "rules"
    assert options["operator_key_required"] is True
    assert options["socket_cookie_required"] is True


def test_unlock_hands_an_operator_the_orchestration_cookie_for_ws_only(client: TestClient) -> None:
    assert client.post("/console/unlock").status_code == 403
    response = client.post("/console/unlock", headers=OPERATOR)
    assert response.status_code == 204
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("sm_orchestration=scene-secret;")
    assert "HttpOnly" in cookie
    assert "Path=/ws" in cookie
    assert "SameSite=strict" in cookie


def test_a_session_chooses_persona_and_brain_in_user_info_and_the_view_shows_its_state(client: TestClient) -> None:
    chosen = {"id": "console-user-1", "persona": "sage", "brain": "demo"}
    welcome, echo, _ = talk(client, "console-s1", chosen, "", "hello there", "My name is Ada")
    assert welcome["output"]["text"] == "Hi there!"  # the demo brain, though rules is the default
    assert echo["output"]["text"] == "Echo: hello there"

    assert client.get("/v1/sessions/console-s1/persona").status_code == 403
    view = client.get("/v1/sessions/console-s1/persona", headers=OPERATOR).json()
    assert view["persona_id"] == "sage"
    assert view["persona_name"] == "Sage"
    assert view["brain"] == "demo"
    assert view["user_id"] == "sm:console-user-1"  # a scene's claim, in the scene door's namespace
    assert [t["input_text"] for t in view["turns"]] == ["", "hello there", "My name is Ada"]
    assert all(t["brain"] == "demo" for t in view["turns"])
    assert set(view["turns"][0]["mood"]) == set(view["emotions"])  # one point per emotion per turn
    assert view["relationship"]["interactions"] == 3
    assert view["relationship"]["label"] in {"stranger", "acquaintance"}
    assert {"kind": "name", "value": "Ada"} in [{k: f[k] for k in ("kind", "value")} for f in view["facts"]]
    assert client.get("/v1/sessions/nobody/persona", headers=OPERATOR).status_code == 404


def test_recalled_memories_are_recorded_per_turn(client: TestClient) -> None:
    talk(client, "console-s2", {"id": "console-user-2"}, "My name is Ada", "what's my name?")
    view = client.get("/v1/sessions/console-s2/persona", headers=OPERATOR).json()
    assert view["brain"] == "rules"
    assert view["turns"][-1]["recalled"] == ["name: Ada"]
    assert "Ada" in view["turns"][-1]["output_text"]


def test_a_persona_or_brain_this_server_lacks_falls_back_to_the_default(client: TestClient) -> None:
    [reply] = talk(client, "console-s3", {"id": "u3", "persona": "nobody", "brain": "llm"}, "hello there")
    assert not reply["fallback"]
    view = client.get("/v1/sessions/console-s3/persona", headers=OPERATOR).json()
    assert (view["persona_id"], view["brain"]) == ("default", "rules")


def test_in_development_without_a_key_the_operator_surface_opens_to_this_machine_only() -> None:
    app = create_app(settings(app_env="development"))
    with TestClient(app, base_url="http://127.0.0.1:8000", client=("127.0.0.1", 50000)) as local:
        assert local.get("/console/options").json()["operator_key_required"] is False
        assert local.get("/v1/sessions").status_code == 200
        assert local.get("/v1/sessions", headers={"Host": "localhost:8000"}).status_code == 200
        assert local.get("/v1/sessions", headers={"Host": "[::1]:8000"}).status_code == 200
        relayed = {"X-Forwarded-For": "203.0.113.9"}  # a tunnel to localhost is not this machine
        assert local.get("/v1/sessions", headers=relayed).status_code == 403
        rebound = {"Host": "attacker.example:8000"}  # another site's page, through DNS rebinding
        assert local.get("/v1/sessions", headers=rebound).status_code == 403
    with TestClient(app, client=("192.0.2.7", 50000)) as remote:
        assert remote.get("/console/options").json()["operator_key_required"] is True
        assert remote.get("/v1/sessions").status_code == 403
    with TestClient(create_app(settings(app_env="test")), client=("127.0.0.1", 50000)) as other_env:
        assert other_env.get("/v1/sessions").status_code == 403
