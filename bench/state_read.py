"""CPU and latency of a turn's state read: one `$in` query (`StateStore.read_turn`) against the
four `find_one`s it replaced, through motor against the wire-protocol test store in a process of
its own, so the client's CPU (this process) and the store's (its pid) are told apart.

    .venv/bin/python -m bench.state_read
"""

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import psutil
from motor.motor_asyncio import AsyncIOMotorClient

from app.catalog import load_catalog
from app.persona.memory import Exchange, UserMemory
from app.persona.relationship import Relationship
from app.settings import Settings
from app.store.mood import MoodChange
from app.store.state import StateStore, user_key
from bench.stats import Latencies

PROFILE = load_catalog(Settings().personas_file, "lite", "default").get("default")
SESSIONS = 10  # turns whose reads run at once
ROUNDS = 300
Read = Callable[[int], Awaitable[object]]


async def seed(state: StateStore) -> None:
    """Each session's four documents, as a few turns leave them."""
    for i in range(SESSIONS):
        key = user_key("default", f"u{i}")
        await state.relationship.update(key, Relationship, lambda r: r.model_copy(update={"interactions": 3}), f"t{i}")
        await state.user_memory.update(key, UserMemory, lambda m: m, f"t{i}")
        exchange = Exchange(turn_id=f"t{i}", user_text="hi there", reply_text="hello you", at=1.0)
        await state.session_memory.append(f"s{i}", exchange, ["music"], 6, user_id=f"u{i}")
        await state.mood.add("default", MoodChange(op_id=f"t{i}", at=1.0, deltas={"joy": 0.01}))


def readers(state: StateStore) -> dict[str, Read]:
    async def four(i: int) -> object:
        key = user_key("default", f"u{i}")
        return await asyncio.gather(
            state.mood.read(PROFILE),
            state.relationship.read(key, Relationship),
            state.session_memory.read(f"s{i}"),
            state.user_memory.read(key, UserMemory),
        )

    async def one(i: int) -> object:
        return await state.read_turn(PROFILE, f"u{i}", f"s{i}")

    return {"four find_one": four, "one $in": one}


async def measure(name: str, read: Read, store: psutil.Process) -> None:
    await asyncio.gather(*(read(i) for i in range(SESSIONS)))  # warm
    client_before, store_before = time.process_time(), sum(store.cpu_times()[:2])
    for _ in range(ROUNDS):
        await asyncio.gather(*(read(i) for i in range(SESSIONS)))
    client_cpu, store_cpu = time.process_time() - client_before, sum(store.cpu_times()[:2]) - store_before
    idle = Latencies([])
    for r in range(ROUNDS):
        started = time.perf_counter()
        await read(r % SESSIONS)
        idle.samples_ms.append(1000 * (time.perf_counter() - started))
    turns = ROUNDS * SESSIONS
    print(
        f"{name:14} client {1000 * client_cpu / turns:.3f} ms/turn  store {1000 * store_cpu / turns:.3f} ms/turn"
        f"  one read alone p50 {idle.pct(50):.3f} ms"
    )


async def compare(url: str, store: psutil.Process) -> None:
    client: AsyncIOMotorClient = AsyncIOMotorClient(url)
    state = StateStore(client["bench_state_read"])
    await seed(state)
    for _ in range(2):  # interleaved, twice: the spread between runs shows
        for name, read in readers(state).items():
            await measure(name, read, store)
    client.close()


def main() -> None:
    argv = [sys.executable, "-m", "tests.support.mongo_wire", "--port", "0"]
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = re.search(r":(\d+)", server.stdout.readline())
        assert port, "mongo_wire did not say where it listens"
        asyncio.run(compare(f"mongodb://127.0.0.1:{port[1]}/?directConnection=true", psutil.Process(server.pid)))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
