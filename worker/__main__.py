"""`python -m worker [--processes N] [--burst]`: N worker processes on the turn and thoughts queues.

Each process keeps one event loop and one Mongo client for its life and runs up to
WORKER_CONCURRENCY turns at once. Scale with more processes here, more containers
(`docker compose up --scale worker=N`), or more hosts on the same Redis. SIGTERM/SIGINT ask
every process for a warm shutdown: the turns in flight finish first, nothing new starts.
"""

import argparse
import multiprocessing
import os
import signal
import sys

from app import logs
from app.settings import get_settings
from worker.process import preflight, serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__)
    parser.add_argument("--processes", type=int, default=None, help="worker processes (default WORKER_PROCESSES)")
    parser.add_argument("--burst", action="store_true", help="exit once the queues are empty")
    args = parser.parse_args(argv)
    settings = get_settings()
    logs.configure(settings.log_level, settings.log_format)
    preflight(settings)
    count = args.processes or settings.worker_processes
    if count == 1:
        serve(args.burst)
        return
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=serve, args=(args.burst,), name=f"worker-{i}") for i in range(count)]
    for child in children:
        child.start()

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.pid and child.is_alive():
                os.kill(child.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        child.join()
    sys.exit(max((child.exitcode or 0) for child in children))


if __name__ == "__main__":
    main()
