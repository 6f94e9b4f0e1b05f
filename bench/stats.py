"""What the benchmark reports a latency sample as."""

from dataclasses import dataclass


@dataclass
class Latencies:
    samples_ms: list[float]

    def pct(self, q: float) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def summary(self) -> str:
        return (
            f"p50 {self.pct(50):6.2f} ms  p95 {self.pct(95):6.2f} ms  p99 {self.pct(99):6.2f} ms"
            f"  (n={len(self.samples_ms)})"
        )
