"""Benchmark of the Soul Machines turn path on loopback: `python -m bench.run`.

Starts its own redis-server, the API under uvicorn (no embedded worker) and N worker processes,
then measures, in one run on one machine:
  - turn latency (request sent -> conversationResponse received): one session turn by turn, and
    many sessions at a steady pace (each waits for its reply, then for its next slot);
  - turns per second at saturation (sessions send their next turn as soon as answered);
  - API memory per idle connection and the number of pub/sub connections, with many sockets open;
  - CPU per turn of each process taking part, turn by turn, which shows where the difference goes;
and two references measured the same way: (a) a raw RQ round trip (enqueue a no-op job, a stock
SimpleWorker runs it, the job publishes, a subscriber receives) with the same number of workers,
and (b) the same frames answered directly on the socket with no queue.
MongoDB (`--store`): `shared` (default) puts every process on one store, MONGO_URL if set, else
the wire-protocol test server; `per-process` gives each its own in-memory mongomock.
Then the model-backed half (bench/model_turns.py): `--model-sessions` sessions on a slow fake model,
and the streaming half (bench/streaming.py): time to the first word at each door against the model
called directly, at each `--stream-sessions` concurrency, and barge-in.
Never part of the test suite.
"""

import argparse
import asyncio
import json
import sys
import time
import uuid
from dataclasses import dataclass

import psutil
import redis
import websockets
from rq import Queue

from app.services import API_CLIENT_NAME_PREFIX
from bench.cpu import WORKERS, CpuPerTurn, Processes, cpu_seconds, with_children
from bench.door_limits import limit_cost
from bench.engine_cost import engine_cost
from bench.model_turns import MODEL_PACE, measure_model, model_report, start_model
from bench.noop import noop
from bench.stats import Latencies
from bench.streaming import measure_streaming
from tests.support.scene import conversation_request, state_event
from tests.support.stack import Managed, Stack, free_port, wait_for

NOOP_QUEUE = "bench-noop"
NOOP_CHANNEL = "bench:noop-done"


def ws_url(base: str) -> str:
    return base.replace("http", "ws", 1) + "/ws"


async def _session(url: str, turns: int, interval: float, stop_at: float | None, out: list[float]) -> int:
    """One scene: bind a session, then send turns, each after the previous reply (and pacing)."""
    done = 0
    async with websockets.connect(url, max_queue=None) as ws:
        await ws.send(state_event(f"bench-{uuid.uuid4().hex[:12]}"))
        next_at = time.perf_counter()
        while done < turns and (stop_at is None or time.perf_counter() < stop_at):
            sent = time.perf_counter()
            await ws.send(conversation_request(f"turn {done}"))
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            out.append((time.perf_counter() - sent) * 1000)
            if frame["body"].get("fallback"):
                raise RuntimeError(f"fallback during the benchmark: {frame}")
            done += 1
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    return done


async def ws_sequential(url: str, turns: int) -> Latencies:
    out: list[float] = []
    await _session(url, turns, 0.0, None, out)
    return Latencies(out)


async def ws_paced(url: str, sessions: int, turns: int, interval: float) -> Latencies:
    out: list[float] = []

    async def staggered(i: int) -> int:
        await asyncio.sleep(interval * i / sessions)  # spread sessions over the interval
        return await _session(url, turns, interval, None, out)

    await asyncio.gather(*(staggered(i) for i in range(sessions)))
    return Latencies(out)


async def ws_saturation(url: str, sessions: int, seconds: float) -> tuple[float, Latencies]:
    out: list[float] = []
    start = time.perf_counter()
    counts = await asyncio.gather(*(_session(url, 10**9, 0.0, start + seconds, out) for _ in range(sessions)))
    return sum(counts) / (time.perf_counter() - start), Latencies(out)


def rq_sequential(client: redis.Redis, turns: int) -> Latencies:
    queue = Queue(NOOP_QUEUE, connection=client)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(NOOP_CHANNEL)
    out = []
    for i in range(turns):
        sent = time.perf_counter()
        queue.enqueue(noop, NOOP_CHANNEL, str(i))
        while pubsub.get_message(timeout=10) is None:
            pass
        out.append((time.perf_counter() - sent) * 1000)
    pubsub.close()
    return Latencies(out)


def rq_saturation(client: redis.Redis, inflight: int, seconds: float) -> tuple[float, int]:
    """Jobs per second, and how many were received."""
    queue = Queue(NOOP_QUEUE, connection=client)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(NOOP_CHANNEL)
    start = time.perf_counter()
    for i in range(inflight):
        queue.enqueue(noop, NOOP_CHANNEL, str(i))
    received = 0
    while time.perf_counter() < start + seconds:
        if pubsub.get_message(timeout=10) is not None:
            received += 1
            queue.enqueue(noop, NOOP_CHANNEL, str(received))
    elapsed = time.perf_counter() - start
    while pubsub.get_message(timeout=1) is not None:  # drain what is still in flight
        pass
    pubsub.close()
    return received / elapsed, received


async def idle_connections(api: Managed, client: redis.Redis, count: int) -> tuple[float, int]:
    process = psutil.Process(api.pid)
    before = process.memory_info().rss
    sockets = []
    for i in range(count):
        ws = await websockets.connect(ws_url(api.url), max_queue=None)
        await ws.send(state_event(f"idle-{i}-{uuid.uuid4().hex[:8]}"))
        sockets.append(ws)
    await asyncio.sleep(2.0)  # let every state event be handled
    after = process.memory_info().rss
    subscribers = sum(
        1 for c in client.client_list() if c["name"].startswith(API_CLIENT_NAME_PREFIX) and int(c["sub"]) > 0
    )
    await asyncio.gather(*(ws.close() for ws in sockets))
    return (after - before) / count, subscribers


def start_persona(stack: Stack, workers: int, settings: dict[str, str]) -> tuple[Managed, Managed, Managed]:
    """(redis-server, N worker processes, one API process without an embedded worker), quiet."""
    redis_server = stack.redis()
    quiet = {"LOG_LEVEL": "WARNING", **settings}
    worker_group = stack.workers(redis_server.url, processes=workers, **quiet)
    # One benchmark session sends hundreds of turns a second, and every session comes from one
    # address, which the abuse limits (WS_FRAMES_PER_SECOND, CONNECTIONS_PER_IP,
    # TURNS_PER_IP_PER_MINUTE) rightly refuse; raised, not switched off: each turn still pays for
    # its limiter hit, so the benchmark measures the turn path as a user's turn takes it.
    limits = {"WS_FRAMES_PER_SECOND": "100000", "CONNECTIONS_PER_IP": "100000", "TURNS_PER_IP_PER_MINUTE": "100000000"}
    api = stack.api(redis_server.url, EMBEDDED_WORKER="false", **limits, **quiet)
    return redis_server, worker_group, api


def start_noop_workers(stack: Stack, redis_url: str, count: int) -> list[Managed]:
    rq = str(__import__("pathlib").Path(sys.executable).with_name("rq"))
    argv = [rq, "worker", "--worker-class", "rq.worker.SimpleWorker", "--url", redis_url, "--quiet", NOOP_QUEUE]
    workers = [stack.spawn("noop-worker", argv, stack.base_env()) for _ in range(count)]
    client = redis.Redis.from_url(redis_url)
    wait_for(lambda: len(client.smembers(f"rq:workers:{NOOP_QUEUE}")) >= count, 30, "noop workers")
    return workers


@dataclass
class Results:
    ours_seq: Latencies
    rq_seq: Latencies
    direct_seq: Latencies
    ours_cpu: CpuPerTurn
    rq_cpu: CpuPerTurn
    paced: Latencies
    ours_tps: float
    rq_tps: float
    direct_tps: float
    ours_sat_cpu: CpuPerTurn  # CPU per turn at saturation, and the ceiling it implies
    rq_sat_cpu: CpuPerTurn
    per_conn_bytes: float
    subscribers: int
    limit_cost: Latencies  # one limiter hit, what the door limits add to each turn


async def measure(
    args: argparse.Namespace,
    api: Managed,
    direct: Managed,
    client: redis.Redis,
    redis_url: str,
    ours_processes: Processes,
    rq_processes: Processes,
) -> Results:
    """Each comparison runs in interleaved rounds, so machine noise falls on both sides alike."""
    ours_url, direct_url = ws_url(api.url), ws_url(direct.url)
    await ws_sequential(ours_url, 50)  # warm-up
    rq_sequential(client, 50)
    await ws_sequential(direct_url, 50)

    per_round = max(1, args.sequential_turns // args.rounds)
    ours_seq, rq_seq, direct_seq = Latencies([]), Latencies([]), Latencies([])
    ours_cpu, rq_cpu = CpuPerTurn(ours_processes), CpuPerTurn(rq_processes)
    for _ in range(args.rounds):
        before = cpu_seconds(ours_processes)
        ours_seq.samples_ms += (await ws_sequential(ours_url, per_round)).samples_ms
        ours_cpu.add(before, per_round)
        before = cpu_seconds(rq_processes)
        rq_seq.samples_ms += rq_sequential(client, per_round).samples_ms
        rq_cpu.add(before, per_round)
        direct_seq.samples_ms += (await ws_sequential(direct_url, per_round)).samples_ms

    paced = await ws_paced(ours_url, args.paced_sessions, args.paced_turns, args.paced_interval)

    slice_seconds = args.saturation_seconds / args.rounds
    ours_tps = rq_tps = direct_tps = 0.0
    ours_sat_cpu, rq_sat_cpu = CpuPerTurn(ours_processes), CpuPerTurn(rq_processes)
    for _ in range(args.rounds):
        before = cpu_seconds(ours_processes)
        tps, answered = await ws_saturation(ours_url, args.saturation_sessions, slice_seconds)
        ours_sat_cpu.add(before, len(answered.samples_ms))
        ours_tps += tps / args.rounds
        before = cpu_seconds(rq_processes)
        tps, received = rq_saturation(client, args.saturation_sessions, slice_seconds)
        rq_sat_cpu.add(before, received)
        rq_tps += tps / args.rounds
        direct_tps += (await ws_saturation(direct_url, args.saturation_sessions, slice_seconds))[0] / args.rounds

    per_conn, subscribers = await idle_connections(api, client, args.idle)
    limits = await limit_cost(redis_url)
    return Results(
        ours_seq,
        rq_seq,
        direct_seq,
        ours_cpu,
        rq_cpu,
        paced,
        ours_tps,
        rq_tps,
        direct_tps,
        ours_sat_cpu,
        rq_sat_cpu,
        per_conn,
        subscribers,
        limits,
    )


Check = tuple[str, float, str, float]  # name, measured, "<=" or ">=", limit


def report(args: argparse.Namespace, r: Results) -> list[Check]:
    print("-- latency, one session turn by turn (request sent -> reply received)")
    print(f"   persona /ws turn      {r.ours_seq.summary()}")
    print(f"   (a) raw RQ round trip {r.rq_seq.summary()}")
    print(f"   (b) direct on socket  {r.direct_seq.summary()}")
    print("-- CPU per turn in the runs above, by process (ms, all cores)")
    print(f"   persona /ws turn      {r.ours_cpu.summary()}")
    print(f"   (a) raw RQ round trip {r.rq_cpu.summary()}")
    total_rate = args.paced_sessions / args.paced_interval
    print(f"-- latency, {args.paced_sessions} concurrent sessions, {total_rate:.0f} turns/s in total")
    print(f"   persona /ws turn      {r.paced.summary()}")
    print(f"-- saturation, {args.saturation_sessions} sessions without pause")
    print(f"   persona /ws           {r.ours_tps:8.0f} turns/s")
    print(f"   (a) raw RQ no-op      {r.rq_tps:8.0f} jobs/s")
    print(f"   (b) direct on socket  {r.direct_tps:8.0f} turns/s")
    print(f"   CPU per turn at saturation (ms): persona {r.ours_sat_cpu.summary()}")
    print(f"                                    raw RQ  {r.rq_sat_cpu.summary()}")
    print(f"   persona: {r.ours_sat_cpu.ceilings()}")
    print(f"-- {args.idle} idle sessions on one API process")
    print(
        f"   API memory per idle connection {r.per_conn_bytes / 1024:.1f} KB; API pub/sub connections {r.subscribers}"
    )
    print(
        f"   vs direct socket (b): p50 x{r.ours_seq.pct(50) / r.direct_seq.pct(50):.1f}, "
        f"throughput x{r.ours_tps / r.direct_tps:.3f}"
    )
    print(f"-- rules engine CPU per turn, on the worker's event loop: {engine_cost().summary()}")
    limits_share = r.limit_cost.pct(50) / r.ours_seq.pct(50)
    print(f"-- door limits per turn (one limiter hit): {r.limit_cost.summary()}")
    print(f"   = {100 * limits_share:.1f} % of the turn-by-turn p50")
    return [
        ("rules: p50 <= 1.25 x raw RQ p50 (turn by turn)", r.ours_seq.pct(50) / r.rq_seq.pct(50), "<=", 1.25),
        (f"rules: p99 <= 30 ms at {args.paced_sessions} sessions", r.paced.pct(99), "<=", 30.0),
        ("rules: throughput >= 1.0 x raw RQ no-op", r.ours_tps / r.rq_tps, ">=", 1.0),
        ("memory per idle connection <= 50 KB", r.per_conn_bytes / 1024, "<=", 50.0),
        ("door limits <= 3 % of the turn-by-turn p50", 100 * limits_share, "<=", 3.0),
        ("one pub/sub connection per API process", float(r.subscribers), "<=", 1.0),
    ]


def verdict(checks: list[Check]) -> int:
    print("-- targets")
    failed = 0
    for name, value, op, limit in checks:
        ok = value <= limit if op == "<=" else value >= limit
        failed += not ok
        print(f"   {'PASS' if ok else 'FAIL'}  {name}: {value:.2f} (limit {limit})")
    return 1 if failed else 0


def stack_processes(
    stack: Stack,
    args: argparse.Namespace,
    redis_server: Managed,
    workers: Managed,
    api: Managed,
    model: Managed | None = None,
) -> Processes:
    """The processes of a persona stack by role, for CPU per turn (the client is this process)."""
    processes = {
        "API": [psutil.Process(api.pid)],
        WORKERS: with_children(workers.pid),  # `python -m worker --processes N` forks N
        "Redis": [psutil.Process(redis_server.pid)],
        "client": [psutil.Process()],
    }
    if model is not None:
        processes["model"] = [psutil.Process(model.pid)]
    if args.store == "shared":
        processes["store"] = [psutil.Process(stack.shared_store().pid)]
    return processes


def store_settings(store: str) -> dict[str, str]:
    """`shared`: every process on the stack's one store (MONGO_URL, or the wire-protocol test
    server); `per-process`: each process on its own in-memory mongomock (no store cost at all)."""
    return {} if store == "shared" else {"MONGO_URL": ""}


async def rules_half(args: argparse.Namespace) -> list[Check]:
    stack = Stack()
    try:
        redis_server, workers, api = start_persona(stack, args.workers, store_settings(args.store))
        client = redis.Redis.from_url(redis_server.url)
        port = free_port()
        argv = [sys.executable, "-m", "uvicorn", "bench.direct_app:app", "--port", str(port), "--log-level", "warning"]
        direct = stack.spawn("direct", [*argv, "--ws-per-message-deflate", "false"], stack.base_env())
        direct.url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _accepts(port), 20, "the direct reference app")
        noop_workers = start_noop_workers(stack, redis_server.url, args.workers)
        print(f"-- rules brain: {args.workers} worker processes, 1 API process, {args.rounds} interleaved rounds")
        ours_processes = stack_processes(stack, args, redis_server, workers, api)
        rq_processes = {
            WORKERS: [p for w in noop_workers for p in with_children(w.pid)],
            "Redis": ours_processes["Redis"],
            "client": ours_processes["client"],
        }
        return report(args, await measure(args, api, direct, client, redis_server.url, ours_processes, rq_processes))
    finally:
        stack.stop()


async def model_half(args: argparse.Namespace) -> list[Check]:
    stack = Stack()
    try:
        model = start_model(stack, MODEL_PACE)
        brain = {"PERSONA_BRAIN": "llm", "LLM_BASE_URL": f"{model.url}/v1", **store_settings(args.store)}
        redis_server, workers, api = start_persona(stack, args.workers, brain)
        processes = stack_processes(stack, args, redis_server, workers, api, model)
        results = await measure_model(api, model, processes, args.model_sessions, args.model_seconds)
        return model_report(results, args.workers)
    finally:
        stack.stop()


async def streaming_half(args: argparse.Namespace) -> list[Check]:
    stack = Stack()
    try:
        model = start_model(stack, MODEL_PACE)
        brain = {"PERSONA_BRAIN": "llm", "LLM_BASE_URL": f"{model.url}/v1", **store_settings(args.store)}
        raised = {
            "RATE_LIMIT_IP_PER_MINUTE": "100000000",
            "RATE_LIMIT_USER_PER_MINUTE": "100000000",
            "GUESTS_PER_IP_PER_HOUR": "100000",
        }
        redis_server, workers, api = start_persona(stack, args.workers, {**brain, **raised})
        processes = stack_processes(stack, args, redis_server, workers, api, model)
        print(f"-- streaming: {args.workers} worker processes, model first word 300 ms, then 20 pieces 30 ms apart")
        return await measure_streaming(
            api, model, processes, args.stream_sessions, args.stream_rounds, args.barge_in_trials
        )
    finally:
        stack.stop()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--store", choices=["shared", "per-process"], default="shared")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per comparison")
    parser.add_argument("--sequential-turns", type=int, default=500)
    parser.add_argument("--paced-sessions", type=int, default=50)
    parser.add_argument("--paced-turns", type=int, default=30, help="turns per paced session")
    parser.add_argument("--paced-interval", type=float, default=0.5, help="seconds between a session's turns")
    parser.add_argument("--saturation-sessions", type=int, default=50)
    parser.add_argument("--saturation-seconds", type=float, default=15.0, help="per side, over all rounds")
    parser.add_argument("--idle", type=int, default=1000, help="idle connections to hold open")
    parser.add_argument("--model-sessions", type=int, default=200, help="sessions on the slow model (0: skip)")
    parser.add_argument("--model-seconds", type=float, default=20.0)
    parser.add_argument("--skip-rules", action="store_true")
    parser.add_argument(
        "--stream-sessions", type=int, nargs="*", default=[1, 50], help="concurrency levels (none: skip)"
    )
    parser.add_argument("--stream-rounds", type=int, default=5, help="rounds per door at each concurrency")
    parser.add_argument("--barge-in-trials", type=int, default=30)
    args = parser.parse_args()
    print(f"persona bench: store {args.store}, {args.workers} worker processes")
    checks = [] if args.skip_rules else await rules_half(args)
    if args.model_sessions:
        checks += await model_half(args)
    if args.stream_sessions:
        checks += await streaming_half(args)
    return verdict(checks)


def _accepts(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
