"""The other doors with real clients against real uvicorn + worker + Redis.

For each door: welcome, a normal turn, a memory round trip, a card, bad frames, auth refusal and
a deadline miss (an API whose queue no worker serves). And one user through two doors.
"""

import asyncio
import json
from typing import Any

import httpx
import openai
import pytest
import redis.asyncio as aioredis
import websockets

from app.bus.replies import speak
from app.turns import Reply
from tests.support.stack import Managed, Stack

KEY = "door-key-0123456789abcdef0123456789"
UNSERVED = {"QUEUE_NAME": "nobody-works-here", "REPLY_DEADLINE_SECONDS": "0.5"}
SKILL = {"projectId": "project-1", "deploymentEnvironment": "preview"}


def ws_url(api: Managed, path: str) -> str:
    return api.url.replace("http", "ws", 1) + path


async def next_frame(ws: websockets.ClientConnection, wait: float = 10) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), wait))


async def closed_with(ws: websockets.ClientConnection) -> int | None:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    return closed.value.rcvd.code if closed.value.rcvd else None


@pytest.fixture
def served(stack: Stack, redis_url: str) -> Managed:
    stack.workers(redis_url, processes=1)
    return stack.api(redis_url)


# ---- Soul Machines Skills: REST ------------------------------------------------------------


def test_skills_rest_skill(served: Managed, stack: Stack, redis_url: str) -> None:
    client = httpx.Client(base_url=served.url, timeout=15)

    def execute(text: str, memory: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        response = client.post(
            "/skills/execute", json={**SKILL, "sessionId": "s-1", "text": text, "memory": memory or []}
        )
        assert response.status_code == 200, response.text
        return response.json()

    assert client.post("/skills/init", json={**SKILL, "config": {}}).status_code == 204
    assert client.post("/skills/session", json={**SKILL, "sessionId": "s-1"}).json() == {}
    assert "What should I call you?" in execute("")["output"]["text"]
    identity = [{"name": "userIdentity", "value": {"preferredName": "Sam", "id": "skills-user-1"}, "scope": "PUBLIC"}]
    assert "Sam" in execute("what's my name?", identity)["output"]["text"]  # learned from the platform
    learned = execute("I live in Porto", identity)
    assert {"name": "userLocation", "value": {"country": None, "city": "Porto"}, "scope": "PUBLIC"} in learned["memory"]
    card = execute("show card")
    assert card["output"]["text"].endswith("@showcards(cat)")
    assert card["output"]["variables"]["public"]["cat"]["type"] == "image"
    assert card["endConversation"] is False
    assert "intent" not in card  # unset fields are omitted
    unknown = execute("why is the sky blue?")
    assert unknown["intent"] == {"name": "NO_MATCH"}
    bad = client.post("/skills/execute", json={**SKILL, "sessionId": "s-1"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_request"
    assert client.post("/skills/delete/project-1").status_code == 204

    locked = stack.api(redis_url, SKILLS_API_KEY=KEY)
    body = {**SKILL, "sessionId": "s-2", "text": "hi", "memory": []}
    assert httpx.post(f"{locked.url}/skills/execute", json=body).status_code == 401
    opened = httpx.post(
        f"{locked.url}/skills/execute", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=15
    )
    assert opened.status_code == 200
    missed = httpx.post(f"{stack.api(redis_url, **UNSERVED).url}/skills/execute", json=body, timeout=15).json()
    assert missed == {"intent": {"name": "NO_MATCH"}, "endConversation": False}


def test_one_user_through_rest_and_skills(served: Managed) -> None:
    client = httpx.Client(base_url=served.url, timeout=15)
    tokens = client.post("/v1/auth/guest").json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    job = client.post("/v1/messages/submit", json={"text": "my name is Dana"}, headers=headers).json()["job_id"]
    for _ in range(200):
        if client.get(f"/v1/jobs/{job}", headers=headers).json()["status"] == "succeeded":
            break
        asyncio.run(asyncio.sleep(0.05))
    proof = client.post("/v1/auth/identity-token", headers=headers).json()["identity_token"]
    identity = [{"name": "userIdentity", "value": {"identityToken": proof}, "scope": "PUBLIC"}]
    body = {**SKILL, "sessionId": "skills-dana", "text": "what's my name?", "memory": identity}
    answer = client.post("/skills/execute", json=body).json()
    assert "Dana" in answer["output"]["text"]  # what REST taught, the Skills door knows


# ---- Soul Machines Skills: async socket ----------------------------------------------------


async def test_skills_async_socket(served: Managed, stack: Stack, redis_url: str) -> None:
    async with websockets.connect(ws_url(served, "/skills/ws")) as ws:
        await ws.send(
            json.dumps({"name": "sessionStart", "payload": {"projectId": "p", "sessionId": "ws-1", "config": {}}})
        )
        await ws.send(json.dumps({"name": "conversation", "payload": {"text": "", "variables": {"kind": "init"}}}))
        welcome = await next_frame(ws)
        assert welcome["name"] == "skillConversation"
        assert "What should I call you?" in welcome["payload"]["text"]
        await ws.send(json.dumps({"name": "conversation", "payload": {"text": "my name is Noor"}}))
        assert "Noor" in (await next_frame(ws))["payload"]["text"]
        await ws.send(json.dumps({"name": "conversation", "payload": {"text": "show card"}}))
        card = await next_frame(ws)
        assert card["payload"]["variables"]["public"]["cat"]["type"] == "image"
        await ws.send("{not json")
        assert (await next_frame(ws)) == {"name": "error", "payload": {"message": "malformed JSON"}}
        await ws.send(json.dumps({"name": "conversation", "payload": {"text": 5}}))
        assert (await next_frame(ws))["name"] == "error"
        await ws.send(json.dumps({"name": "conversation", "payload": {"text": "what's my name?"}}))
        assert "Noor" in (await next_frame(ws))["payload"]["text"]  # the socket survived bad frames
        assert await speak(
            aioredis.Redis.from_url(redis_url), Reply(session_id="skills:ws-1", persona_id="default", text="Hello?")
        )
        assert (await next_frame(ws)) == {"name": "skillConversation", "payload": {"text": "Hello?"}}

    locked = stack.api(redis_url, SKILLS_API_KEY=KEY)
    async with websockets.connect(ws_url(locked, "/skills/ws")) as ws:
        assert await closed_with(ws) == 1008
    unserved = stack.api(redis_url, **UNSERVED)
    async with websockets.connect(ws_url(unserved, "/skills/ws")) as ws:
        await ws.send(json.dumps({"name": "conversation", "payload": {"text": "hello", "sessionId": "ws-2"}}))
        assert (await next_frame(ws))["payload"]["intent"] == {"name": "NO_MATCH"}


# ---- Hume EVI: socket ----------------------------------------------------------------------


def hume_frame(text: str | None, session: str, scores: dict[str, float] | None = None) -> str:
    messages = [{"type": "assistant_message", "message": {"role": "assistant", "content": "earlier"}}]
    if text is not None:
        prosody = {"prosody": {"scores": scores or {}}}
        user = {"role": "user", "content": text}
        messages.append({"type": "user_message", "message": user, "models": prosody, "time": {"begin": 0, "end": 900}})
    return json.dumps({"messages": messages, "custom_session_id": session})


async def hume_say(ws: websockets.ClientConnection, frame: str) -> list[dict[str, Any]]:
    await ws.send(frame)
    frames = [await next_frame(ws)]
    while frames[-1]["type"] != "assistant_end":
        frames.append(await next_frame(ws))
    return frames


def spoken_in(frames: list[dict[str, Any]]) -> str:
    return " ".join(f["text"] for f in frames if f["type"] == "assistant_input")


async def test_hume_socket(served: Managed, stack: Stack, redis_url: str) -> None:
    async with websockets.connect(ws_url(served, "/llm")) as ws:
        welcome = await hume_say(ws, hume_frame(None, "hume-1"))
        assert "What should I call you?" in spoken_in(welcome)
        told = await hume_say(ws, hume_frame("my name is Ivy {joyful, calm}", "hume-1", {"Joy": 0.9}))
        assert spoken_in(told) == "Nice to meet you, Ivy! What would you like to talk about?"
        assert told[:2] == [  # a phrase at a time, so the voice has something to say
            {"type": "assistant_input", "text": "Nice to meet you,", "custom_session_id": "hume-1"},
            {"type": "assistant_input", "text": "Ivy!", "custom_session_id": "hume-1"},
        ]
        card = await hume_say(ws, hume_frame("show card", "hume-1"))
        assert spoken_in(card) == "Here is a cat"  # card markers are not read aloud
        await ws.send("[1, 2")
        assert (await next_frame(ws))["type"] == "error"
        await ws.send(json.dumps({"messages": "nope"}))
        assert (await next_frame(ws))["type"] == "error"
    async with websockets.connect(ws_url(served, "/llm")) as ws:  # a new socket, the same custom session
        assert "Ivy" in spoken_in(await hume_say(ws, hume_frame("what's my name?", "hume-1")))

    locked = stack.api(redis_url, CLM_API_KEY=KEY)
    async with websockets.connect(ws_url(locked, "/llm")) as ws:
        assert await closed_with(ws) == 1008
    async with websockets.connect(ws_url(locked, "/llm"), additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
        assert (await hume_say(ws, hume_frame("hello", "hume-3")))[-1] == {"type": "assistant_end"}
    unserved = stack.api(redis_url, **UNSERVED)
    async with websockets.connect(ws_url(unserved, "/llm")) as ws:
        assert await hume_say(ws, hume_frame("hello", "hume-4")) == [{"type": "assistant_end"}]


# ---- OpenAI-compatible chat completions (Hume's SSE mode) -----------------------------------


def test_chat_completions_with_the_official_openai_client(served: Managed, stack: Stack, redis_url: str) -> None:
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="any-key-is-fine-here", max_retries=0)
    session = {"custom_session_id": "clm-1"}
    welcome = client.chat.completions.create(
        model="persona", messages=[{"role": "system", "content": "hi"}], extra_query=session
    )
    assert "What should I call you?" in (welcome.choices[0].message.content or "")
    told = client.chat.completions.create(
        model="persona", messages=[{"role": "user", "content": "my name is Max"}], extra_query=session
    )
    assert told.object == "chat.completion"
    assert told.system_fingerprint == "clm-1"
    assert "Max" in (told.choices[0].message.content or "")
    chunks = list(
        client.chat.completions.create(
            model="persona", messages=[{"role": "user", "content": "what's my name?"}], extra_query=session, stream=True
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert {c.system_fingerprint for c in chunks} == {"clm-1"}
    assert chunks[-1].choices[0].finish_reason == "stop"
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "Max" in streamed
    # Pieces as the brain gives them: the rules brain answers whole (a model, word by word:
    # tests/integration/test_streaming.py).
    assert len([c for c in chunks if c.choices[0].delta.content]) == 1
    card = client.chat.completions.create(model="persona", messages=[{"role": "user", "content": "show card"}])
    assert card.choices[0].message.content == "Here is a cat"
    bare = openai.OpenAI(base_url=served.url, api_key="x", max_retries=0)  # a client appending /chat/completions
    assert (
        bare.chat.completions.create(model="p", messages=[{"role": "user", "content": "hello"}])
        .choices[0]
        .message.content
    )
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="persona", messages=[])

    locked = stack.api(redis_url, CLM_API_KEY=KEY)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{locked.url}/v1", api_key="wrong", max_retries=0).chat.completions.create(
            model="p", messages=[{"role": "user", "content": "hi"}]
        )
    keyed = openai.OpenAI(base_url=f"{locked.url}/v1", api_key=KEY, max_retries=0)
    assert keyed.chat.completions.create(model="p", messages=[{"role": "user", "content": "hi"}]).choices
    unserved = openai.OpenAI(base_url=f"{stack.api(redis_url, **UNSERVED).url}/v1", api_key="x", max_retries=0)
    missed = unserved.chat.completions.create(model="p", messages=[{"role": "user", "content": "hello"}])
    assert missed.choices[0].message.content == ""  # the fallback text (empty by default), on time
