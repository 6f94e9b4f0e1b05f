"""CPU time by process group, per turn, and the throughput ceiling it implies on this machine.

The ceiling is arithmetic, not a measurement: N cores give N x 1000 ms of CPU a second, so turns
that cost C ms of CPU across all processes cannot exceed N x 1000 / C a second. Without the
workers' share it is what the rest of the stack (API, Redis, store, model, the benchmark's own
clients) would allow even with a worker that cost nothing: when that is below a target, no
change in the worker can meet the target on this machine.
"""

import os
from dataclasses import dataclass, field

import psutil

Processes = dict[str, list[psutil.Process]]  # a label, and the processes it covers
WORKERS = "workers"
CORES = os.cpu_count() or 1


def cpu_seconds(processes: Processes) -> dict[str, float]:
    def spent(process: psutil.Process) -> float:
        times = process.cpu_times()
        return times.user + times.system

    return {label: sum(spent(p) for p in group) for label, group in processes.items()}


def with_children(pid: int) -> list[psutil.Process]:
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


@dataclass
class CpuPerTurn:
    """CPU time by process group while one side of a comparison ran, per turn."""

    processes: Processes
    seconds: dict[str, float] = field(default_factory=dict)
    turns: int = 0

    def add(self, before: dict[str, float], turns: int) -> None:
        after = cpu_seconds(self.processes)
        for label in after:
            self.seconds[label] = self.seconds.get(label, 0.0) + after[label] - before[label]
        self.turns += turns

    def per_turn_ms(self) -> dict[str, float]:
        return {label: spent / max(1, self.turns) * 1000 for label, spent in self.seconds.items()}

    def summary(self) -> str:
        per_turn = self.per_turn_ms()
        parts = "  ".join(f"{label} {ms:5.2f}" for label, ms in per_turn.items())
        return f"{parts}  = {sum(per_turn.values()):5.2f} ms"

    def ceiling(self, without_workers: bool = False) -> float:
        """Turns per second this machine's cores allow at this CPU per turn."""
        per_turn = self.per_turn_ms()
        spent = sum(ms for label, ms in per_turn.items() if not (without_workers and label == WORKERS))
        return CORES * 1000 / spent if spent > 0 else float("inf")

    def ceilings(self) -> str:
        return (
            f"at this CPU per turn {CORES} cores allow {self.ceiling():.0f} turns/s; "
            f"with workers that cost nothing, {self.ceiling(without_workers=True):.0f}"
        )
