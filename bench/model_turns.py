"""The model-backed half of the benchmark: many Soul Machines sessions on a slow loopback model.

Each session sends its next turn as soon as the last was answered, so the number of sessions is the
number of turns the stack must hold at once. What one worker process can hold is what this shows:
turns per second against what the model allows (sessions / model time), the turn latency over the
model's own time, answers that were not the model's, model calls in flight (counted by the model),
and worker memory per turn in flight (RSS while loaded minus RSS idle, over the turns each process
held).
"""

import asyncio
import json
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import psutil
import websockets

from bench.cpu import WORKERS, CpuPerTurn, Processes, cpu_seconds
from bench.stats import Latencies
from tests.support.fake_llm import Pace, said_by_model
from tests.support.scene import conversation_request, state_event
from tests.support.stack import Managed, Stack, free_port, wait_for

MODEL_PACE = Pace(first_token=0.3, tokens=20, gap=0.03)  # the model: ~0.9 s a call
# Long enough that the model's answer (it echoes the text) has its 20 pieces, so a call takes its
# full time; the model time the targets use is the one the model measured (`model_call_seconds`).
ASK = "tell me about the sea, the sky and the stars, and the long road home, please"


@dataclass
class ModelResults:
    sessions: int
    model_seconds: float  # the median call, first byte asked to last piece sent, as the model saw it
    turns_per_second: float
    latencies: Latencies
    not_the_models: int  # answers that were not the model's words: rules stand-ins and fallbacks
    max_model_in_flight: int
    rss_per_turn_bytes: float
    cpu: CpuPerTurn  # by process over the loaded period, and the ceiling it implies


def start_model(stack: Stack, pace: Pace) -> Managed:
    """The fake model as a process of its own, so its CPU is not the client's."""
    port = free_port()
    argv = [sys.executable, "-m", "tests.support.fake_llm", "--port", str(port)]
    argv += ["--first-token", str(pace.first_token), "--tokens", str(pace.tokens), "--gap", str(pace.gap)]
    model = stack.spawn("model", argv, stack.base_env())
    model.url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(f"{model.url}/v1/models"), 20, "the fake model")
    return model


async def _session(url: str, stop_at: float, out: list[float], not_the_models: list[int]) -> None:
    async with websockets.connect(url, max_queue=None, open_timeout=30) as ws:
        await ws.send(state_event(f"model-{uuid.uuid4().hex[:12]}"))
        turn = 0
        while time.perf_counter() < stop_at:
            sent = time.perf_counter()
            await ws.send(conversation_request(f"{ASK} (turn {turn})"))
            frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
            out.append((time.perf_counter() - sent) * 1000)
            not_the_models[0] += not _the_models(frame["body"])
            turn += 1


def _the_models(body: dict[str, Any]) -> bool:
    """Is this the model's answer? Anything else is a stand-in (the rules brain, after the model
    missed its first-word deadline) or a fallback."""
    return not body.get("fallback") and said_by_model(str(body.get("output", {}).get("text", "")))


async def _rss(processes: list[psutil.Process]) -> int:
    return sum(p.memory_info().rss for p in processes)


async def measure_model(
    api: Managed, model: Managed, processes: Processes, sessions: int, seconds: float
) -> ModelResults:
    """`processes` by group (WORKERS among them): their CPU over the load is reported per turn."""
    workers = processes[WORKERS]
    url = api.url.replace("http", "ws", 1) + "/ws"
    async with httpx.AsyncClient(base_url=model.url) as http:
        warm: list[float] = []
        await asyncio.gather(*(_session(url, time.perf_counter() + 2, warm, [0]) for _ in range(20)))
        idle = await _rss(workers)
        await http.post("/stats/reset")
        out: list[float] = []
        not_the_models = [0]
        peak = idle
        cpu, before = CpuPerTurn(processes), cpu_seconds(processes)
        start = time.perf_counter()
        load = asyncio.gather(*(_session(url, start + seconds, out, not_the_models) for _ in range(sessions)))
        while not load.done():
            await asyncio.sleep(0.5)
            peak = max(peak, await _rss(workers))
        await load
        elapsed = time.perf_counter() - start
        cpu.add(before, len(out))
        stats = (await http.get("/stats")).json()
    return ModelResults(
        sessions=sessions,
        model_seconds=model_call_seconds(stats["records"]),
        turns_per_second=len(out) / elapsed,
        latencies=Latencies(out),
        not_the_models=not_the_models[0],
        max_model_in_flight=stats["max_in_flight"],
        rss_per_turn_bytes=(peak - idle) / max(1, stats["max_in_flight"]),
        cpu=cpu,
    )


def model_call_seconds(records: list[dict[str, Any]]) -> float:
    """The model's own time per call: the median of the calls it finished."""
    return statistics.median(r["finished"] - r["started"] for r in records if r["finished"] is not None)


def model_report(r: ModelResults, workers: int) -> list[tuple[str, float, str, float]]:
    model_ms = r.model_seconds * 1000
    print(
        f"-- model-backed: {r.sessions} sessions on {workers} worker processes, model {model_ms:.0f} ms a call (median)"
    )
    print(f"   persona /ws turn      {r.latencies.summary()}")
    print(
        f"   throughput            {r.turns_per_second:8.1f} turns/s (model allows {r.sessions / r.model_seconds:.0f})"
    )
    print(f"   model calls in flight {r.max_model_in_flight} at most; answers not the model's {r.not_the_models}")
    print(f"   worker RSS per turn in flight {r.rss_per_turn_bytes / 1024:.1f} KB")
    print(f"   CPU per turn (ms): {r.cpu.summary()}")
    print(f"   {r.cpu.ceilings()}")
    return [
        (
            "model: throughput >= 0.8 x sessions / model time",
            r.turns_per_second * r.model_seconds / r.sessions,
            ">=",
            0.8,
        ),
        ("model: p99 <= model time + 100 ms", r.latencies.pct(99), "<=", model_ms + 100),
        ("model: answers not the model's (fallbacks, stand-ins) == 0", float(r.not_the_models), "<=", 0.0),
        ("model: worker RSS per turn in flight <= 200 KB", r.rss_per_turn_bytes / 1024, "<=", 200.0),
        ("model: model calls in flight >= 150", float(r.max_model_in_flight), ">=", 150.0),
    ]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
