"""A Soul Machines scene, as far as the orchestration server can tell: a real WebSocket client."""

import asyncio
import json
from typing import Any

import websockets


def conversation_request(text: str, kind: str | None = None, variables: dict[str, Any] | None = None) -> str:
    return json.dumps(
        {
            "category": "scene",
            "kind": "event",
            "name": "conversationRequest",
            "body": {
                "personaId": "1",
                "input": {"text": text},
                "optionalArgs": {"kind": kind} if kind else {},
                "variables": variables or {"Turn_Id": "t", "FacePresent": None, "is_speaking": False},
            },
        }
    )


def state_event(session_id: str, user_info: str = "") -> str:
    session = {"sessionId": session_id, "state": "offered", "userInfo": user_info, "meta": {"sceneId": 1}}
    return json.dumps({"category": "scene", "kind": "event", "name": "state", "body": {"session": session}})


class Scene:
    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, base_url: str, session_id: str | None = None, **kwargs: Any) -> "Scene":
        ws = await websockets.connect(base_url.replace("http", "ws", 1) + "/ws", **kwargs)
        scene = cls(ws)
        if session_id is not None:
            await ws.send(state_event(session_id))
        return scene

    async def send_request(self, text: str, kind: str | None = None, variables: dict[str, Any] | None = None) -> None:
        await self.ws.send(conversation_request(text, kind, variables))

    async def response(self, wait: float = 10) -> dict[str, Any]:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), wait))
        assert frame["name"] == "conversationResponse", frame
        assert frame["kind"] == "request"
        assert frame["transaction"] is None
        return frame["body"]

    async def say(self, text: str, kind: str | None = None, wait: float = 10) -> dict[str, Any]:
        await self.send_request(text, kind)
        return await self.response(wait)

    async def nothing_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.ws.recv(), seconds)
        except TimeoutError:
            return True
        return False

    async def close(self) -> None:
        await self.ws.close()
