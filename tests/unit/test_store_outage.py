"""MongoDB failing or slow under the embedded stack: the socket gets a fallback at once, not at
the deadline; nothing of the failed turn is written; readiness says so; service resumes after;
a slow store holds up no turn.

The failure is injected into the store's collections here (no MongoDB server runs on these
machines to break for real).
"""

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pymongo.errors import ServerSelectionTimeoutError

from app.main import create_app
from app.settings import Settings
from app.store.mongo import HISTORY
from app.store.sessions import SessionStore
from tests.support.scene import conversation_request, state_event
from tests.support.served import portal, services


class Outage:
    """Makes every collection call raise while `down` is set, as an unreachable server would."""

    def __init__(self) -> None:
        self.down = False


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Outage]]:
    outage = Outage()
    settings = Settings(_env_file=None, persona_brain="demo", reply_deadline_seconds=10)
    with TestClient(create_app(settings)) as client:
        db = services(client).db
        collection_class = type(db[HISTORY])
        for name in ("find_one", "insert_one", "update_one", "command"):
            original = getattr(collection_class, name, None)
            if original is None:
                continue

            def failing(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
                if outage.down:
                    raise ServerSelectionTimeoutError("injected: MongoDB unreachable")
                return _original(self, *args, **kwargs)

            monkeypatch.setattr(collection_class, name, failing)
        original_command = type(db).command

        async def command(self: Any, *args: Any, **kwargs: Any) -> Any:
            if outage.down:
                raise ServerSelectionTimeoutError("injected: MongoDB unreachable")
            return await original_command(self, *args, **kwargs)

        monkeypatch.setattr(type(db), "command", command)
        yield client, outage


def say(ws: Any, text: str) -> dict[str, Any]:
    ws.send_text(conversation_request(text))
    return ws.receive_json()["body"]


def test_a_store_outage_fails_soft_and_recovers(
    stack: tuple[TestClient, Outage], caplog: pytest.LogCaptureFixture
) -> None:
    client, outage = stack
    history = services(client).history
    with client.websocket_connect("/ws") as ws:
        ws.send_text(state_event("s"))
        assert say(ws, "before")["output"]["text"] == "Echo: before"
        outage.down = True
        started = time.monotonic()
        during = say(ws, "during")
        assert during["fallback"] is True
        assert time.monotonic() - started < 5  # at once, well before the 10 s deadline
        assert any("turn failed" in r.getMessage() for r in caplog.records)
        assert client.get("/v1/meta/ready").json()["mongo"] is False
        assert client.get("/v1/meta/ready").json()["ready"] is False
        outage.down = False
        assert say(ws, "after")["output"]["text"] == "Echo: after"
    texts = [e.input_text for e in portal(client).call(history.for_session, "s")]
    assert texts == ["before", "after"]  # the failed turn left nothing half-written
    assert client.get("/v1/meta/ready").json()["ready"] is True


def test_a_slow_store_neither_holds_up_turns_nor_piles_up_scene_state(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded: list[str] = []
    release = threading.Event()  # the store answers the first scene-state write only when told to

    async def slow_record(self: Any, session_id: str, **fields: Any) -> None:
        await asyncio.to_thread(release.wait, 10)  # a MongoDB answering slowly
        recorded.append(fields["scene_state"])

    monkeypatch.setattr(SessionStore, "record", slow_record)
    settings = Settings(_env_file=None, persona_brain="demo", ws_frames_per_second=1000)
    with TestClient(create_app(settings)) as client, client.websocket_connect("/ws") as ws:
        for i in range(30):
            session = {"sessionId": "slow", "state": f"state-{i}"}
            ws.send_json({"category": "scene", "kind": "event", "name": "state", "body": {"session": session}})
        assert say(ws, "hello")["output"]["text"] == "Echo: hello"  # answered while the first write hangs
        assert recorded == []
        release.set()
        deadline = time.monotonic() + 5
        while recorded[-1:] != ["state-29"] and time.monotonic() < deadline:
            time.sleep(0.05)
    assert recorded[-1] == "state-29"  # the latest state lands, in the end
    assert len(recorded) <= 2  # the ones that came while the first write hung collapsed into it
