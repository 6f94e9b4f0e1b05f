"""The app behind a TestClient, typed: TestClient knows its app only as some ASGI callable."""

from typing import Any

from anyio.from_thread import BlockingPortal
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from app.services import Services


def services(client: TestClient) -> Services:
    """The running app's services (set up by its lifespan, so the client must be open)."""
    assert isinstance(client.app, FastAPI)
    return client.app.state.services


def portal(client: TestClient) -> BlockingPortal:
    """The open client's event loop, to run the app's coroutines on."""
    assert client.portal is not None, "the client is not open"
    return client.portal


def until(ws: WebSocketTestSession, predicate: Any, limit: int = 10) -> dict[str, Any]:
    """The first of the next `limit` frames on a test socket that `predicate` accepts."""
    for _ in range(limit):
        frame = ws.receive_json()
        if predicate(frame):
            return frame
    raise AssertionError("the expected answer never came")
