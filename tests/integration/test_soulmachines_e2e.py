"""The whole path with real processes: scene socket -> uvicorn -> Redis/RQ -> worker processes -> back."""

import asyncio
import base64
import json
import os
import socket

import pytest
import redis
import redis.asyncio as aioredis
import websockets
from rq.job import Job
from rq.serializers import JSONSerializer

from app.bus.connections import decoded
from app.bus.replies import publish_reply, speak
from app.services import API_CLIENT_NAME_PREFIX
from app.turns import Reply, Turn
from tests.support.scene import Scene
from tests.support.stack import Stack, wait_for

DEMO = {"PERSONA_BRAIN": "demo"}  # the seed example's behaviours, which these tests check
FAST_DEADLINE = {"REPLY_DEADLINE_SECONDS": "1.0", **DEMO}


async def test_welcome_echo_fallback_and_card(stack: Stack, redis_url: str) -> None:
    redis.Redis.from_url(redis_url).script_flush()  # as a fresh Redis: no script cached yet
    workers = stack.workers(redis_url, processes=2, **DEMO)
    api = stack.api(redis_url)
    scene = await Scene.open(api.url, "sess-basic")
    welcome = await scene.say("", kind="init")
    assert welcome["output"]["text"] == "Hi there!"
    assert welcome["fallback"] is False
    assert welcome["personaId"] == "1"
    echo = await scene.say("hello world")
    assert echo["output"]["text"] == "Echo: hello world"
    assert echo["input"]["text"] == "hello world"
    why = await scene.say("why is the sky blue")
    assert why["output"]["text"] == "I do not know how to answer that"
    assert why["fallback"] is True
    card = await scene.say("show card")
    assert card["output"]["text"] == "Here is a cat @showcards(cat)"
    cat = card["variables"]["public-cat"]
    assert cat["component"] == cat["type"] == "image"
    assert cat["data"]["alt"] == "A cute kitten"
    await scene.close()
    assert "not confirmed by Redis" not in workers.log()  # the workers loaded their script first


async def test_ten_rapid_turns_of_one_session_stay_in_order(stack: Stack, redis_url: str) -> None:
    stack.workers(redis_url, processes=3, **DEMO)
    api = stack.api(redis_url)
    scene = await Scene.open(api.url, "sess-order")
    for i in range(10):
        await scene.send_request(f"turn {i}")
    texts = [(await scene.response())["output"]["text"] for _ in range(10)]
    assert texts == [f"Echo: turn {i}" for i in range(10)]
    await scene.close()


async def test_two_sessions_in_parallel_get_their_own_replies(stack: Stack, redis_url: str) -> None:
    stack.workers(redis_url, processes=2, **DEMO)
    api = stack.api(redis_url)
    alice, bob = await Scene.open(api.url, "sess-alice"), await Scene.open(api.url, "sess-bob")
    for i in range(5):
        await alice.send_request(f"alice {i}")
        await bob.send_request(f"bob {i}")
    alice_texts = [(await alice.response())["output"]["text"] for _ in range(5)]
    bob_texts = [(await bob.response())["output"]["text"] for _ in range(5)]
    assert alice_texts == [f"Echo: alice {i}" for i in range(5)]
    assert bob_texts == [f"Echo: bob {i}" for i in range(5)]
    await alice.close()
    await bob.close()


def queued_turn(client: redis.Redis, queue: str = "turns") -> Turn:
    """The Turn inside the oldest job on the RQ queue, as a worker would read it."""
    oldest = client.lindex(f"rq:queue:{queue}", 0)
    assert oldest is not None, f"nothing on the {queue} queue"
    job_id = decoded(oldest)
    return Turn.model_validate_json(Job.fetch(job_id, connection=client, serializer=JSONSerializer).args[0])


async def test_deadline_fallback_without_workers_and_late_reply_is_dropped(stack: Stack, redis_url: str) -> None:
    api = stack.api(redis_url, **FAST_DEADLINE)
    scene = await Scene.open(api.url, "sess-late")
    body = await scene.say("anyone there?", wait=5)
    assert body["fallback"] is True
    assert body["output"]["text"] == ""
    assert body["input"]["text"] == "anyone there?"

    client = redis.Redis.from_url(redis_url)
    turn = queued_turn(client)
    late = Reply(session_id=turn.session_id, turn_id=turn.turn_id, persona_id="default", text="too late")
    assert await publish_reply(aioredis.Redis.from_url(redis_url), turn.reply_to, late) == 1
    assert await scene.nothing_within(1.0)
    wait_for(lambda: "late reply dropped" in api.log(), 5, "the API to log the dropped reply")

    # A worker that starts now finds the turn expired: it records it and says nothing.
    stack.workers(redis_url, processes=1, **FAST_DEADLINE)
    assert await scene.nothing_within(1.5)
    body = await scene.say("and now?")
    assert body["output"]["text"] == "Echo: and now?"
    assert body["fallback"] is False
    await scene.close()


async def test_spontaneous_speech_reaches_the_session_unprompted(stack: Stack, redis_url: str) -> None:
    stack.workers(redis_url, processes=1, **DEMO)
    api = stack.api(redis_url)
    scene = await Scene.open(api.url, "sess-spont")
    await scene.say("", kind="init")
    client = aioredis.Redis.from_url(redis_url)
    nudge = Reply(session_id="sess-spont", persona_id="default", text="Are you still there?")
    assert await speak(client, nudge)
    body = await scene.response()
    assert body["output"]["text"] == "Are you still there?"
    assert body["fallback"] is False
    assert not await speak(client, nudge.model_copy(update={"session_id": "nobody-here"}))
    await scene.close()


async def test_bad_frames_are_survived_and_the_next_turn_is_answered(stack: Stack, redis_url: str) -> None:
    stack.workers(redis_url, processes=1, **DEMO)
    api = stack.api(redis_url, WS_MAX_FRAME_BYTES="4096")
    scene = await Scene.open(api.url, "sess-bad")
    await scene.ws.send("{not json")
    await scene.ws.send(json.dumps([1, 2, 3]))
    await scene.ws.send(json.dumps({"category": "scene", "kind": "event", "name": "somethingNew", "body": {}}))
    await scene.ws.send(json.dumps({"category": "scene", "kind": "event", "name": "state", "body": {"persona": {}}}))
    await scene.ws.send(json.dumps({"kind": "event", "name": "state", "body": {"session": {"sessionId": ""}}}))
    await scene.ws.send(b"\x00\x01binary")
    await scene.ws.send("x" * 10_000)  # over the 4096-byte limit, under uvicorn's
    bad_request = {"category": "scene", "kind": "event", "name": "conversationRequest", "body": {"input": 5}}
    await scene.ws.send(json.dumps(bad_request))
    answer = await scene.response()  # an invalid request still gets its one answer
    assert answer["fallback"] is True
    body = await scene.say("still here")
    assert body["output"]["text"] == "Echo: still here"
    log = api.log()
    for expected in ("malformed frame ignored", "over the 4096 byte limit", "binary frame ignored"):
        assert expected in log
    assert "sess-bad" in log  # logged with the session id
    await scene.close()


def raw_socket_sending(port: int, payload: bytes) -> int:
    """A hand-made client: upgrade to /ws, send one masked TEXT frame holding `payload`; the close code."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1024)
        assert head.startswith(b"HTTP/1.1 101"), head
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)  # FIN + TEXT, short length
        frame = sock.recv(1024)
        assert frame[0] == 0x88, frame  # the server's CLOSE frame
        return int.from_bytes(frame[2:4], "big")


async def test_invalid_utf8_text_closes_that_socket_with_1007_and_nobody_else(stack: Stack, redis_url: str) -> None:
    stack.workers(redis_url, processes=1, **DEMO)
    api = stack.api(redis_url)
    bystander = await Scene.open(api.url, "sess-bystander")
    port = int(api.url.rsplit(":", 1)[1])
    invalid = b'{"category":"scene","name":"\xff\xfe"}'
    assert await asyncio.to_thread(raw_socket_sending, port, invalid) == 1007  # invalid frame payload data
    assert (await bystander.say("still here"))["output"]["text"] == "Echo: still here"
    assert api.popen.poll() is None
    await bystander.close()


async def test_two_api_processes_three_workers_route_every_reply(stack: Stack, redis_url: str) -> None:
    stack.workers(redis_url, processes=3, **DEMO)
    api_a, api_b = stack.api(redis_url), stack.api(redis_url)
    scenes = [await Scene.open(api.url, f"sess-{n}-{i}") for i in range(3) for n, api in (("a", api_a), ("b", api_b))]
    for round_no in range(4):
        for index, scene in enumerate(scenes):
            await scene.send_request(f"{index}:{round_no}")
    for index, scene in enumerate(scenes):
        texts = [(await scene.response())["output"]["text"] for _ in range(4)]
        assert texts == [f"Echo: {index}:{r}" for r in range(4)]
    client = redis.Redis.from_url(redis_url)
    api_subscribers = [
        c for c in client.client_list() if c["name"].startswith(API_CLIENT_NAME_PREFIX) and int(c["sub"]) > 0
    ]
    assert len(api_subscribers) == 2  # one per API process, however many sockets
    assert len({c["name"] for c in api_subscribers}) == 2
    for scene in scenes:
        await scene.close()


async def refused_code(scene: Scene) -> int | None:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(scene.ws.recv(), 5)
    return closed.value.rcvd.code if closed.value.rcvd else None


async def test_access_control_refuses_strangers(stack: Stack, redis_url: str) -> None:
    api = stack.api(redis_url, SM_SHARED_SECRET="correct-horse-battery", SM_COOKIE_NAME="orch")
    stranger = await Scene.open(api.url)
    assert await refused_code(stranger) == 1008
    friend = await Scene.open(api.url, "sess-friend", additional_headers={"Cookie": "orch=correct-horse-battery"})
    assert await friend.nothing_within(0.3)  # open, and quiet until asked
    await friend.close()
    assert "correct-horse-battery" not in api.log()

    walled = stack.api(redis_url, SM_ALLOWED_CIDRS="10.0.0.0/8")
    outsider = await Scene.open(walled.url)
    assert await refused_code(outsider) == 1008
    assert "client address not allowed" in walled.log()
