"""The streaming half of the benchmark: time to the first word at each door, against the model.

One stack (redis-server, the shared store, worker processes, one API process) on the fake
streaming model (`tests/support/fake_llm.py` as a process of its own). Side by side, at 1 and at
N concurrent sessions (N in conversation, each sending its next turn when answered, as a fleet's
sessions do; and N sending in the same instant, the worst case): the time from sending a turn to
its first word at the client through `/v1/chat/completions` (the official `openai` client,
streaming), Hume's `/llm` (a websockets client, first `assistant_input`) and REST
(`POST /v1/messages/submit`, then the job's SSE events, first `progress` delta), against the same
model called directly with the `openai` client. Every door's turn opens a session of its own, so
no turn waits in its lane for the one before to settle. Also: the gap between first and last word
at the client against the model's own, model calls per turn, and barge-in: from the client
closing a completions stream to the model's connection closing.
"""

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import httpx
import httpx2
import openai
import websockets

from app.channels.streaming import Phrases
from app.llm.reader import StreamReader
from bench.cpu import CpuPerTurn, Processes, cpu_seconds
from bench.model_turns import ASK, MODEL_PACE
from bench.stats import Latencies
from tests.support.fake_llm import said_by_model
from tests.support.scene import conversation_request, state_event
from tests.support.stack import Managed

Check = tuple[str, float, str, float]
STORY = f"{ASK}."
TURNS_IN_CONVERSATION = 3  # per session and round, after its first


@dataclass
class Timing:
    first_ms: float  # send -> first word
    span_ms: float  # first word -> last word
    phrase_ms: float = 0.0  # send -> the first whole phrase (what /llm can speak first)
    phrase_span_ms: float = 0.0  # the first whole phrase -> last word
    by_model: bool = True  # False: the model's first word came too late and the rules brain answered


Door = Callable[[str, int], Awaitable[Timing]]  # (the door's url, the session's number) -> its timing


class Heard:
    """A reply's words as a client receives them, from the moment its turn was sent."""

    def __init__(self) -> None:
        self.sent = time.perf_counter()
        self.first: float | None = None
        self.last: float | None = None
        self.text = ""

    def add(self, words: str) -> None:
        self.last = time.perf_counter()
        self.first = self.first or self.last
        self.text += words

    def timing(self) -> Timing:
        """No words at all (the deadline passed with nothing said) counts as a turn the model missed."""
        if self.first is None or self.last is None:
            return Timing((time.perf_counter() - self.sent) * 1000, 0.0, by_model=False)
        by_model = said_by_model(self.text)
        return Timing((self.first - self.sent) * 1000, (self.last - self.first) * 1000, by_model=by_model)


def direct(client: openai.AsyncOpenAI) -> Door:
    """The model called directly; its words are what the persona's reader would speak (the data
    after them is not words), its first phrase what a voice could say first."""

    async def one(_: str, i: int) -> Timing:
        return await _direct(client)

    return one


async def _direct(client: openai.AsyncOpenAI) -> Timing:
    heard = Heard()
    stream = await client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": STORY}], stream=True
    )
    reader, phrases = StreamReader(), Phrases()
    phrase = None
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content and (words := reader.feed(chunk.choices[0].delta.content)):
            heard.add(words)
            if phrases.add(words) and phrase is None:
                phrase = heard.last
    timing = heard.timing()
    last = heard.last or heard.sent
    timing.phrase_ms = ((phrase or last) - heard.sent) * 1000
    timing.phrase_span_ms = (last - (phrase or last)) * 1000
    return timing


async def _openai_words(stream: openai.AsyncStream, heard: Heard) -> Timing:
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            heard.add(chunk.choices[0].delta.content)
    return heard.timing()


KEEPALIVE_SECONDS = 2.0  # idle client connections close before uvicorn's keep-alive (5 s) does


def openai_client(base_url: str) -> openai.AsyncOpenAI:
    """The official client on its aiohttp transport, as the worker's brain uses it: on its default
    httpx2 one a streamed call costs this process twice the CPU, which the stack under test, on
    the same 2 cores, would lose. Idle connections are dropped before uvicorn's keep-alive closes
    them, so a round after the other doors' does not reuse one the server is closing (a
    ReadError, nobody's latency)."""
    limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=100, keepalive_expiry=KEEPALIVE_SECONDS)
    http_client = openai.DefaultAioHttpClient(limits=limits)
    return openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0, http_client=http_client)


def completions(client: openai.AsyncOpenAI) -> Door:
    async def one(_: str, i: int) -> Timing:
        heard = Heard()
        stream = await client.chat.completions.create(
            model="persona",
            messages=[{"role": "user", "content": STORY}],
            stream=True,
            extra_query={"custom_session_id": f"bench-sse-{i}-{uuid.uuid4().hex[:8]}"},
        )
        return await _openai_words(stream, heard)

    return one


async def hume(api_url: str, i: int) -> Timing:
    url = api_url.replace("http", "ws", 1) + "/llm"
    async with websockets.connect(url, open_timeout=30) as ws:
        chat = {"messages": [{"type": "user_message", "message": {"role": "user", "content": STORY}}]}
        heard = Heard()
        await ws.send(json.dumps({**chat, "custom_session_id": f"bench-evi-{i}-{uuid.uuid4().hex[:8]}"}))
        while (frame := json.loads(await asyncio.wait_for(ws.recv(), 30)))["type"] != "assistant_end":
            heard.add(frame["text"])
    return heard.timing()


async def soul_machines(api_url: str, i: int) -> Timing:
    """Soul Machines gets one whole conversationResponse: its latency, for the record."""
    async with websockets.connect(api_url.replace("http", "ws", 1) + "/ws", open_timeout=30) as ws:
        await ws.send(state_event(f"bench-sm-{i}-{uuid.uuid4().hex[:8]}"))
        heard = Heard()
        await ws.send(conversation_request(STORY))
        heard.add(json.loads(await asyncio.wait_for(ws.recv(), 30))["body"]["output"]["text"])
    return heard.timing()


def rest(http: aiohttp.ClientSession, tokens: list[str]) -> Door:
    """An SSE client on aiohttp: httpx cost this process over three times the CPU per turn."""

    async def one(_: str, i: int) -> Timing:
        headers = {"Authorization": f"Bearer {tokens[i]}"}
        heard = Heard()
        submit = {"text": STORY, "conversation": f"bench-{uuid.uuid4().hex[:8]}"}
        async with http.post("/v1/messages/submit", json=submit, headers=headers) as submitted:
            job = await submitted.json()
        async with http.get(f"/v1/jobs/{job['job_id']}/events", headers=headers) as events:
            event = ""
            async for raw in events.content:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "progress" and (delta := json.loads(line[5:]).get("delta")):
                    heard.add(delta)
                elif line.startswith("data:") and event == "done":
                    if not heard.text:  # over before this stream opened: the result is all it hears
                        heard.add((json.loads(line[5:]).get("result") or {}).get("text", ""))
                    break
        return heard.timing()

    return one


async def at_once(door: Door, url: str, sessions: int) -> tuple[list[Timing], int]:
    """Every session sends its turn in the same instant: the worst case, a burst. The timings
    counted, and how many turns ran."""
    return list(await asyncio.gather(*(door(url, i) for i in range(sessions)))), sessions


async def in_conversation(door: Door, url: str, sessions: int) -> tuple[list[Timing], int]:
    """Sessions in conversation: each starts at its own moment within one turn's time and sends its
    next turn when the last is answered, so about `sessions` turns are in flight throughout. Each
    session's first turn (the ramp, fewer in flight) is not counted."""

    async def talk(i: int) -> list[Timing]:
        await asyncio.sleep(i * MODEL_PACE.total / sessions)
        return [await door(url, i) for _ in range(TURNS_IN_CONVERSATION + 1)][1:]

    timings = [t for talked in await asyncio.gather(*(talk(i) for i in range(sessions))) for t in talked]
    return timings, sessions * (TURNS_IN_CONVERSATION + 1)


Arrival = Callable[[Door, str, int], Awaitable[tuple[list[Timing], int]]]


async def side_by_side(
    doors: dict[str, Door],
    url: dict[str, str],
    sessions: int,
    rounds: int,
    processes: Processes,
    arrival: Arrival = at_once,
) -> tuple[dict[str, tuple[Latencies, Latencies]], int, dict[str, CpuPerTurn]]:
    """Each door `rounds` times with `sessions` arriving as `arrival` says, doors interleaved round
    by round: first word and first-to-last word per door, how many turns the rules brain answered,
    and the CPU each door's turns cost by process."""
    cpu = {name: CpuPerTurn(processes) for name in doors}
    rules_answered = 0
    firsts: dict[str, list[float]] = {name: [] for name in doors}
    spans: dict[str, list[float]] = {name: [] for name in doors}
    phrases: list[float] = []
    phrase_spans: list[float] = []
    for _ in range(rounds):
        for name, door in doors.items():
            before = cpu_seconds(processes)
            timings, ran = await arrival(door, url[name], sessions)
            cpu[name].add(before, ran)
            rules_answered += sum(not t.by_model for t in timings)
            firsts[name] += [t.first_ms for t in timings]
            spans[name] += [t.span_ms for t in timings]
            if name == "direct":
                phrases += [t.phrase_ms for t in timings]
                phrase_spans += [t.phrase_span_ms for t in timings]
    results = {name: (Latencies(firsts[name]), Latencies(spans[name])) for name in doors}
    results["direct phrase"] = (Latencies(phrases), Latencies(phrase_spans))
    return results, rules_answered, cpu


async def barge_in(api_url: str, model_url: str, trials: int) -> Latencies:
    """Client closes a completions stream after its first word; how soon the model's call closes."""
    client = openai.AsyncOpenAI(base_url=f"{api_url}/v1", api_key="unused", max_retries=0)
    out: list[float] = []
    async with httpx.AsyncClient(base_url=model_url) as http:
        for i in range(trials):
            await http.post("/stats/reset")
            stream = await client.chat.completions.create(
                model="persona",
                messages=[{"role": "user", "content": STORY}],
                stream=True,
                extra_query={"custom_session_id": f"bench-barge-{i}-{uuid.uuid4().hex[:8]}"},
            )
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    break
            closed_at = time.time()
            await stream.close()
            for _ in range(200):
                records = (await http.get("/stats")).json()["records"]
                if records and records[-1]["closed"]:
                    out.append((records[-1]["closed"] - closed_at) * 1000)
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)  # the session's lane moves on before the next trial
    return Latencies(out)


async def measure_streaming(
    api: Managed, model: Managed, processes: Processes, concurrency: list[int], rounds: int, trials: int
) -> list[Check]:
    connector = aiohttp.TCPConnector(limit=1000, keepalive_timeout=KEEPALIVE_SECONDS)
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(api.url, connector=connector, timeout=timeout) as api_http,
        openai_client(model.url) as model_client,
        openai_client(api.url) as api_client,
    ):
        tokens = []
        for _ in range(max(*concurrency, 2)):
            async with api_http.post("/v1/auth/guest") as guest:
                tokens.append((await guest.json())["access_token"])
        doors = {
            "direct": direct(model_client),
            "completions": completions(api_client),
            "/llm": hume,
            "REST SSE": rest(api_http, tokens),
            "SM /ws": soul_machines,
        }
        url = {"direct": model.url, "completions": api.url, "/llm": api.url, "REST SSE": api.url, "SM /ws": api.url}
        return await _measure(doors, url, model, api, processes, concurrency, rounds, trials)


async def _measure(
    doors: dict[str, Door],
    url: dict[str, str],
    model: Managed,
    api: Managed,
    processes: Processes,
    concurrency: list[int],
    rounds: int,
    trials: int,
) -> list[Check]:
    async with httpx.AsyncClient(base_url=model.url) as http:
        await side_by_side(doors, url, 2, 1, processes)  # warm: connections, imports, first-use caches
        await http.post("/stats/reset")
        rules_answered = 0
        checks: list[Check] = []
        turns = direct_calls = 0
        for sessions in concurrency:
            for arrival in (at_once,) if sessions == 1 else (at_once, in_conversation):
                results, late, cpu = await side_by_side(doors, url, sessions, rounds, processes, arrival)
                rules_answered += late
                turns += sum(cpu[name].turns for name in doors if name != "direct")
                direct_calls += cpu["direct"].turns
                checks += _report(results, cpu, sessions, rounds, arrival)
        stats = (await http.get("/stats")).json()
    model_calls = stats["calls"] - direct_calls
    print(f"-- model calls per turn through the doors: {model_calls / turns:.3f} ({model_calls} calls, {turns} turns)")
    print(f"   turns without the model's words (none by LLM_FIRST_WORD_SECONDS: rules or nothing): {rules_answered}")
    closing = await barge_in(api.url, model.url, trials)
    print(f"-- barge-in: client closes the stream -> model connection closed: {closing.summary()}")
    return [
        *checks,
        ("model calls per turn <= 1 (never retried)", model_calls / turns, "<=", 1.0),
        ("turns without the model's words (late first word) == 0", float(rules_answered), "<=", 0.0),
        ("barge-in: close -> model closed p99 <= 100 ms", closing.pct(99), "<=", 100.0),
    ]


def _report(
    results: dict[str, tuple[Latencies, Latencies]],
    cpu: dict[str, CpuPerTurn],
    sessions: int,
    rounds: int,
    arrival: Arrival,
) -> list[Check]:
    """Prints one concurrency's figures; its checks against the model called directly."""
    how = "at once" if arrival is at_once else f"in conversation, {TURNS_IN_CONVERSATION} turns each counted"
    print(f"-- first word, {sessions} session(s) {how}, {rounds} rounds (send -> first word at the client)")
    for name, (first, span) in results.items():
        print(f"   {name:13s} {first.summary()}   first->last word p50 {span.pct(50):7.1f} ms")
    print("   (/llm speaks by phrase: it is compared with the model's first whole phrase;")
    print("    SM /ws is the whole conversationResponse, reported, not a first word)")
    print("   CPU per turn by process (ms; direct: the model and this client only):")
    for name, spent in cpu.items():
        print(f"   {name:13s} {spent.summary()}")
    print(f"   through the doors, {_busiest(cpu)}")
    checks: list[Check] = []
    for name, (first, span) in results.items():
        if name.startswith("direct") or name == "SM /ws":
            continue
        base_first, base_span = results["direct phrase" if name == "/llm" else "direct"]
        at = f"{name} @{sessions}" + ("" if arrival is at_once else " in conversation")
        spread = abs(span.pct(50) - base_span.pct(50)) / max(base_span.pct(50), 1.0) * 100
        checks += [
            (f"{at}: first word p50 - direct p50 <= 15 ms", first.pct(50) - base_first.pct(50), "<=", 15.0),
            (f"{at}: first word p99 - direct p99 <= 40 ms", first.pct(99) - base_first.pct(99), "<=", 40.0),
            (f"{at}: first->last word within 10 % of the model's", spread, "<=", 10.0),
        ]
    return checks


def _busiest(cpu: dict[str, CpuPerTurn]) -> str:
    """The ceiling of the door whose turns cost the most CPU."""
    name, spent = min(((n, c) for n, c in cpu.items() if n != "direct"), key=lambda item: item[1].ceiling())
    return f"{name}: {spent.ceilings()}"
