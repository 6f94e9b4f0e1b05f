"""Soak: many Soul Machines sessions at a steady turn rate for minutes: `python -m bench.soak`.

Starts its own redis-server, one API process and N worker processes on loopback; every session
binds, then sends a turn every --interval seconds. Each window reports turns, latency
percentiles, fallbacks and errors, the memory of every process and of Redis. At the end: totals
and each process's memory growth from the first window to the last. Never part of the tests.
"""

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from dataclasses import dataclass, field

import psutil
import redis
import websockets

from bench.run import Latencies, start_persona, ws_url
from tests.support.scene import conversation_request, state_event
from tests.support.stack import Stack


@dataclass
class Window:
    latencies: list[float] = field(default_factory=list)
    fallbacks: int = 0
    errors: int = 0
    kinds: list[str] = field(default_factory=list)

    def error(self, exc: BaseException) -> None:
        self.errors += 1
        self.kinds.append(type(exc).__name__)


async def session(
    url: str, interval: float, stop_at: float, windows: list[Window], started: float, width: float
) -> None:
    try:
        async with websockets.connect(url, max_queue=None, open_timeout=30) as ws:
            await ws.send(state_event(f"soak-{uuid.uuid4().hex[:12]}"))
            await asyncio.sleep(random.uniform(0, interval))  # spread the sessions over the interval
            turn = 0
            while time.monotonic() < stop_at:
                sent = time.monotonic()
                window = windows[min(len(windows) - 1, int((sent - started) / width))]
                await ws.send(conversation_request(f"turn {turn}"))
                try:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
                    window.latencies.append((time.monotonic() - sent) * 1000)
                    window.fallbacks += bool(frame["body"].get("fallback"))
                except (TimeoutError, websockets.ConnectionClosed, ValueError, KeyError) as exc:
                    window.error(exc)
                turn += 1
                await asyncio.sleep(max(0.0, sent + interval - time.monotonic()))
    except (OSError, websockets.WebSocketException) as exc:
        windows[-1].error(exc)


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between a session's turns")
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--window", type=float, default=30.0, help="seconds per report line")
    args = parser.parse_args()

    stack = Stack()
    try:
        redis_server, workers, api = start_persona(stack, args.workers, {})
        client = redis.Redis.from_url(redis_server.url)
        worker_pids = [
            c.pid for c in psutil.Process(workers.pid).children() if "worker" in " ".join(c.cmdline()) or True
        ]
        worker_pids = [pid for pid in worker_pids if rss_mb(pid) > 30]  # the workers, not the resource tracker
        duration = args.minutes * 60
        count = max(1, int(duration / args.window))
        windows = [Window() for _ in range(count)]
        rate = args.sessions / args.interval
        print(f"soak: {args.sessions} sessions, {rate:.0f} turns/s, {args.workers} workers, {args.minutes:g} min")
        print(f"{'t(s)':>5} {'turns':>6} {'p50':>7} {'p95':>7} {'p99':>7} {'fallb':>5} {'err':>4} "
              f"{'api MB':>7} {'workers MB':>14} {'redis MB':>8}")  # fmt: skip
        started = time.monotonic()
        stop_at = started + duration
        tasks = [asyncio.create_task(session(ws_url(api.url), args.interval, stop_at, windows, started, args.window))
                 for _ in range(args.sessions)]  # fmt: skip
        memory: list[tuple[float, list[float], float]] = []
        for index in range(count):
            await asyncio.sleep(max(0.0, started + (index + 1) * args.window - time.monotonic()))
            window = windows[index]
            snapshot = (
                rss_mb(api.pid),
                [rss_mb(pid) for pid in worker_pids],
                client.info("memory")["used_memory"] / 2**20,
            )
            memory.append(snapshot)
            lat = Latencies(window.latencies or [0.0])
            print(f"{(index + 1) * args.window:5.0f} {len(window.latencies):6d} {lat.pct(50):7.2f} {lat.pct(95):7.2f} "
                  f"{lat.pct(99):7.2f} {window.fallbacks:5d} {window.errors:4d} {snapshot[0]:7.1f} "
                  f"{' '.join(f'{m:6.1f}' for m in snapshot[1]):>14} {snapshot[2]:8.1f}")  # fmt: skip
        await asyncio.gather(*tasks)
        every = [ms for w in windows for ms in w.latencies]
        total = Latencies(every or [0.0])
        errors, fallbacks = sum(w.errors for w in windows), sum(w.fallbacks for w in windows)
        first, last = memory[1] if len(memory) > 2 else memory[0], memory[-1]  # after the warm-up window
        kinds = sorted({kind for w in windows for kind in w.kinds})
        print(f"total: {len(every)} turns, {total.summary()}, fallbacks {fallbacks}, errors {errors} {kinds or ''}")
        print(f"memory growth from window 2 to the end: api {last[0] - first[0]:+.1f} MB, workers "
              f"{', '.join(f'{b - a:+.1f} MB' for a, b in zip(first[1], last[1], strict=True))}, "
              f"redis {last[2] - first[2]:+.1f} MB")  # fmt: skip
        return 1 if errors else 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
