"""Start and stop real processes on loopback: redis-server, the API under uvicorn, workers.

Used by the integration tests and the benchmark. Every process is started here and stopped
here by its own pid; each writes its log to a file the caller can read.
"""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pymongo.errors
import redis

ROOT = Path(__file__).resolve().parents[2]
# Settings a developer's shell might carry that must not leak into a spawned stack.
_SCRUBBED = ("REDIS_URL", "MONGO_URL", "EMBEDDED_WORKER", "SM_SHARED_SECRET", "SM_ALLOWED_CIDRS", "HOST", "PORT")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def eventually(predicate: Callable[[], bool], within: float = 10.0, what: str = "the condition") -> None:
    """Wait on the event loop until `predicate()` holds (a bounded wait, for tests)."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.01)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Managed:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    url: str = ""

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


@dataclass
class Stack:
    """The processes of one test or benchmark run; `stop()` ends them all, newest first."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="persona-stack-")))
    processes: list[Managed] = field(default_factory=list)
    _store: Managed | None = None

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Managed:
        log_path = self.workdir / f"{name}-{len(self.processes)}.log"
        with log_path.open("wb") as log_file:
            popen = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        managed = Managed(name, popen, log_path)
        self.processes.append(managed)
        return managed

    def base_env(self, **settings: str) -> dict[str, str]:
        """The environment of a spawned process. Processes of a real stack (REDIS_URL given) share
        one MongoDB, as in production: MONGO_URL if set (the suite runs unchanged against a real
        server), else this stack's wire-protocol test server. `MONGO_URL=""` opts out."""
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        env.update({"LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}, **settings)
        if "REDIS_URL" in settings and "MONGO_URL" not in settings:
            env["MONGO_URL"] = os.environ.get("MONGO_URL") or self.shared_store().url
        return env

    def shared_store(self) -> Managed:
        """This stack's MongoDB stand-in, started on first use."""
        if self._store is None:
            self._store = self.mongo()
        return self._store

    def redis(self, port: int | None = None) -> Managed:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        port = port or free_port()
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        managed = self.spawn("redis", argv, dict(os.environ))
        managed.url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(managed.url)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_for(answers, 10, "redis-server")
        return managed

    def mongo(self, port: int | None = None) -> Managed:
        """The wire-protocol test server over one mongomock store, shared by every process it serves."""
        port = port or free_port()
        argv = [sys.executable, "-m", "tests.support.mongo_wire", "--port", str(port)]
        managed = self.spawn("mongo", argv, dict(os.environ))
        managed.url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(managed.url, serverSelectionTimeoutMS=500)

        def answers() -> bool:
            if managed.popen.poll() is not None:
                raise RuntimeError(f"mongo_wire exited early:\n{managed.log()}")
            try:
                return bool(client.admin.command("ping")["ok"])
            except pymongo.errors.PyMongoError:
                return False

        try:
            wait_for(answers, 10, "mongo_wire to answer ping")
        finally:
            client.close()
        return managed

    def api(self, redis_url: str | None, **settings: str) -> Managed:
        """The API under uvicorn, on a free port; with no redis_url it runs the embedded default."""
        port = free_port()
        settings = {"HOST": "127.0.0.1", "PORT": str(port), "ACCESS_LOG": "false"} | settings
        env = self.base_env(**({"REDIS_URL": redis_url} if redis_url else {}), **settings)
        managed = self.spawn("api", [sys.executable, "-m", "app"], env)
        managed.url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            if managed.popen.poll() is not None:
                raise RuntimeError(f"api exited early:\n{managed.log()}")
            try:
                return httpx.get(f"{managed.url}/v1/meta/ping", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, 20, "the API to answer /v1/meta/ping")
        return managed

    def workers(self, redis_url: str, processes: int = 1, **settings: str) -> Managed:
        env = self.base_env(REDIS_URL=redis_url, **settings)
        managed = self.spawn("workers", [sys.executable, "-m", "worker", "--processes", str(processes)], env)
        client = redis.Redis.from_url(redis_url)
        queue = settings.get("QUEUE_NAME", "turns")

        def registered() -> bool:
            if managed.popen.poll() is not None:
                raise RuntimeError(f"workers exited early:\n{managed.log()}")
            names = client.smembers(f"rq:workers:{queue}")
            return len(names) >= processes

        wait_for(registered, 30, f"{processes} RQ worker(s) to register")
        return managed

    def scheduler(self, redis_url: str, **settings: str) -> Managed:
        env = self.base_env(REDIS_URL=redis_url, **settings)
        return self.spawn("scheduler", [sys.executable, "-m", "worker.scheduler"], env)

    def stop(self) -> None:
        for managed in reversed(self.processes):
            managed.stop()
        self.processes.clear()
        self._store = None
