"""Streamed turns through the real stack: words reach each door while the model still talks, a
listener who leaves or speaks over the persona cancels the model call, and history holds what
was delivered. Real clients: the official openai client, a websockets Hume client, an SSE client."""

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import websockets

from tests.support.fake_llm import FakeLlm, Pace
from tests.support.scene import Scene, state_event
from tests.support.stack import Managed, Stack, eventually

# First word after 0.3 s, then 30 pieces 0.06 s apart: about 2 s a call, inside LLM_TURN_SECONDS.
TALKING = Pace(first_token=0.3, tokens=30, gap=0.06)
STORY = "tell me about the sea and the sky and the stars and the long road home"
REPLY = f"(model) {STORY}"


@pytest.fixture
def model() -> Iterator[FakeLlm]:
    server = FakeLlm(TALKING).start()
    yield server
    server.stop()


def streaming_stack(stack: Stack, redis_url: str, model: FakeLlm) -> Managed:
    brain = {"PERSONA_BRAIN": "llm", "LLM_BASE_URL": model.base_url}
    stack.workers(redis_url, processes=1, **brain)
    return stack.api(redis_url, **brain)


async def history(api: Managed, session_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=api.url) as http:
        return (await http.get(f"/v1/sessions/{session_id}/history")).json()["messages"]


def client_of(api: Managed) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{api.url}/v1", api_key="unused", max_retries=0)


async def ask_for_story(client: openai.AsyncOpenAI, session: str) -> openai.AsyncStream[Any]:
    return await client.chat.completions.create(
        model="persona",
        messages=[{"role": "user", "content": STORY}],
        stream=True,
        extra_query={"custom_session_id": session},
    )


async def closed_by_client(model: FakeLlm, calls_before: int) -> None:
    await eventually(lambda: any(r.closed for r in model.stats.records[calls_before:]), 5, "the model call closed")


@pytest.mark.timeout(120)
async def test_chat_completions_stream_the_words_as_the_model_speaks(
    stack: Stack, redis_url: str, model: FakeLlm
) -> None:
    api = streaming_stack(stack, redis_url, model)
    before = model.calls
    stream = await ask_for_story(client_of(api), "sse-words")
    arrivals: list[tuple[float, str]] = []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append((time.time(), chunk.choices[0].delta.content))
    record = model.stats.records[-1]
    assert model.calls == before + 1  # one model call for the turn
    assert "".join(words for _, words in arrivals) == REPLY
    assert len(arrivals) >= 5
    assert record.finished is not None
    assert arrivals[0][0] < record.finished - 0.5  # the first words came while the model still talked
    [entry] = await history(api, "hume:sse-words")
    assert entry["output_text"] == REPLY
    assert entry["interrupted"] is False


@pytest.mark.timeout(120)
async def test_closing_the_stream_cancels_the_model_and_history_keeps_what_was_delivered(
    stack: Stack, redis_url: str, model: FakeLlm
) -> None:
    api = streaming_stack(stack, redis_url, model)
    client = client_of(api)
    before = model.calls
    stream = await ask_for_story(client, "sse-barge")
    heard = ""
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            heard += chunk.choices[0].delta.content
            if len(heard) > 10:
                break
    await stream.close()  # the listener barges in
    await closed_by_client(model, before)
    assert model.stats.records[before].finished is None  # cut off, not run to its end
    entries: list[dict[str, Any]] = []
    for _ in range(50):
        entries = await history(api, "hume:sse-barge")
        if entries:
            break
        await asyncio.sleep(0.1)
    [entry] = entries
    assert entry["interrupted"] is True
    assert heard.startswith(entry["output_text"])  # what was delivered, not the whole answer
    assert 0 < len(entry["output_text"]) < len(REPLY)
    # The session's next turn runs at once: answered in about one model call, not two.
    started = time.time()
    answer = await client.chat.completions.create(
        model="persona",
        messages=[{"role": "user", "content": "and then?"}],
        extra_query={"custom_session_id": "sse-barge"},
    )
    assert answer.choices[0].message.content == "(model) and then?"
    assert time.time() - started < TALKING.total + 1.5


@pytest.mark.timeout(120)
async def test_hume_socket_speaks_phrase_by_phrase_and_a_new_user_message_barges_in(
    stack: Stack, redis_url: str, model: FakeLlm
) -> None:
    api = streaming_stack(stack, redis_url, model)
    url = api.url.replace("http", "ws", 1) + "/llm"
    story = "tell me a story. about the sea, the sky and the stars. and the long road home, please"
    async with websockets.connect(url) as ws:
        chat: list[dict[str, Any]] = [{"type": "user_message", "message": {"role": "user", "content": story}}]
        await ws.send(json.dumps({"messages": chat, "custom_session_id": "evi-phrases"}))
        inputs: list[tuple[float, str]] = []
        while (frame := json.loads(await asyncio.wait_for(ws.recv(), 10)))["type"] != "assistant_end":
            assert frame["type"] == "assistant_input"
            inputs.append((time.time(), frame["text"]))
        record = model.stats.records[-1]
        assert len(inputs) >= 3  # a phrase at a time
        assert " ".join(text for _, text in inputs) == f"(model) {story}"
        assert record.finished is not None
        assert inputs[0][0] < record.finished - 0.5

        before = model.calls
        chat += [{"type": "assistant_message", "message": {"role": "assistant", "content": f"(model) {story}"}}]
        chat += [{"type": "user_message", "message": {"role": "user", "content": story + " again"}}]
        await ws.send(json.dumps({"messages": chat, "custom_session_id": "evi-phrases"}))
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["type"] == "assistant_input"
        heard = first["text"]
        chat += [{"type": "assistant_message", "message": {"role": "assistant", "content": heard}}]
        chat += [{"type": "user_message", "message": {"role": "user", "content": "wait, stop"}}]
        await ws.send(json.dumps({"messages": chat, "custom_session_id": "evi-phrases"}))  # spoken over it
        await closed_by_client(model, before)
        said: list[str] = []
        while (frame := json.loads(await asyncio.wait_for(ws.recv(), 10)))["type"] != "assistant_end":
            said.append(frame["text"])
        assert " ".join(said) == "(model) wait, stop"  # the new turn's answer; the cut one sent no more
    entries = await history(api, "hume:evi-phrases")
    assert [e["input_text"] for e in entries] == [story, story + " again", "wait, stop"]
    assert [e["interrupted"] for e in entries] == [False, True, False]
    assert heard.startswith(entries[1]["output_text"].strip())
    assert len(entries[1]["output_text"]) < len(f"(model) {story} again")


async def job_events(
    http: httpx.AsyncClient, job_id: str, headers: dict[str, str]
) -> tuple[list[tuple[float, str]], dict[str, Any]]:
    """A REST job's progress deltas (when each came, its words) and its done event, over SSE."""
    words: list[tuple[float, str]] = []
    async with http.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers) as events:
        event = ""
        async for line in events.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "progress":
                words.append((time.time(), json.loads(line[5:])["delta"]))
            elif line.startswith("data:") and event == "done":
                return words, json.loads(line[5:])
    raise AssertionError("the events stream ended without a done event")


async def submit_story(http: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    token = (await http.post("/v1/auth/guest")).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    return (await http.post("/v1/messages/submit", json={"text": STORY}, headers=headers)).json()["job_id"], headers


@pytest.mark.timeout(120)
async def test_rest_job_events_carry_the_words_as_progress(stack: Stack, redis_url: str, model: FakeLlm) -> None:
    api = streaming_stack(stack, redis_url, model)
    async with httpx.AsyncClient(base_url=api.url, timeout=15) as http:
        job_id, headers = await submit_story(http)
        words, done = await job_events(http, job_id, headers)
    record = model.stats.records[-1]
    assert done["result"]["text"] == REPLY
    assert "".join(delta for _, delta in words) == REPLY
    assert record.finished is not None
    assert words[0][0] < record.finished - 0.5


@pytest.mark.timeout(120)
async def test_a_late_listener_gets_the_words_said_before_it_came_then_the_rest_once(
    stack: Stack, redis_url: str, model: FakeLlm
) -> None:
    """Under load an events request can reach the API after the first words went out (pub/sub
    keeps nothing): the job's record holds the words so far, and the stream starts from them."""
    api = streaming_stack(stack, redis_url, model)
    async with httpx.AsyncClient(base_url=api.url, timeout=15) as http:
        job_id, headers = await submit_story(http)
        said = ""
        async with asyncio.timeout(10):  # the model's first words are out, nobody listening yet
            while not said:
                await asyncio.sleep(0.02)
                said = (await http.get(f"/v1/jobs/{job_id}", headers=headers)).json()["words"]
        words, done = await job_events(http, job_id, headers)
    assert words[0][1].startswith(said)  # the words so far come first, in one piece
    assert "".join(delta for _, delta in words) == REPLY  # then the rest, each word once
    assert done["result"]["text"] == REPLY


@pytest.mark.timeout(120)
async def test_soul_machines_still_gets_one_whole_conversation_response(
    stack: Stack, redis_url: str, model: FakeLlm
) -> None:
    api = streaming_stack(stack, redis_url, model)
    scene = await Scene.open(api.url, "sm-whole")
    answer = await scene.say(STORY)
    assert answer["output"]["text"] == REPLY
    assert await scene.nothing_within(0.5)  # no second frame for the same request
    await scene.close()


@pytest.mark.timeout(120)
async def test_a_scene_that_asks_for_words_gets_them_before_its_one_response(
    stack: Stack, redis_url: str, model: FakeLlm
) -> None:
    """The console asks (userInfo "stream": true); the platform never does, and gets one frame."""
    api = streaming_stack(stack, redis_url, model)
    scene = await Scene.open(api.url)
    await scene.ws.send(state_event("sm-words", json.dumps({"id": "viewer", "stream": True})))
    await scene.send_request(STORY)
    words: list[tuple[float, str]] = []
    while (frame := json.loads(await asyncio.wait_for(scene.ws.recv(), 10)))["name"] == "conversationWords":
        words.append((time.time(), frame["body"]["output"]["text"]))
    record = model.stats.records[-1]
    assert frame["name"] == "conversationResponse"
    assert frame["body"]["output"]["text"] == REPLY
    assert "".join(text for _, text in words) == REPLY
    assert record.finished is not None
    assert words[0][0] < record.finished - 0.5
    await scene.close()
