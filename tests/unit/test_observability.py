"""What operators read: one line per turn with its outcome and times, one line for a Redis that is not there."""

import asyncio
import json
import logging
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from app.bus.limits import RateLimiter
from app.logs import ContextFormatter, JsonFormatter
from app.observability.metrics import QueueCollector
from app.observability.turns import TurnWatch
from app.settings import Settings
from app.store.history import HistoryEntry
from app.turns import Reply, Turn
from tests.conftest import make_turn
from tests.unit.test_api import bearer, client, guest, say  # noqa: F401  (client is a fixture)
from worker import scheduler

ROOT = Path(__file__).resolve().parents[2]


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def turn_lines() -> Iterator[list[logging.LogRecord]]:
    """The worker's per-turn records (the app's lifespan replaces the root's handlers, so caplog's
    own handler on the root would see nothing)."""
    handler = Kept()
    logger = logging.getLogger("worker.turns")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


def ended(turn_lines: list[logging.LogRecord], outcome: str) -> logging.LogRecord:
    [record] = [r for r in turn_lines if r.getMessage() == f"turn {outcome}"]
    return record


def test_a_turn_through_the_queue_is_one_line_with_door_brain_and_times(
    client: TestClient,  # noqa: F811
    turn_lines: list[logging.LogRecord],
) -> None:
    record = say(client, bearer(guest(client)), "hello there")
    deadline = time.monotonic() + 5
    while not turn_lines and time.monotonic() < deadline:  # the line follows the job record
        time.sleep(0.01)
    line = ended(turn_lines, "answered")
    fields = vars(line)  # what the line carries besides its message (logging's extra)
    assert line.levelno == logging.INFO
    assert (fields["turn_id"], fields["outcome"]) == (record["job_id"], "answered")
    assert (fields["door"], fields["brain"]) == ("rest", "rules")
    assert 0 <= fields["queue_wait_ms"] <= fields["total_ms"] < 10_000
    assert fields["session_id"].startswith("rest:")
    text = ContextFormatter("%(message)s").format(line)
    assert "door=rest" in text
    assert "brain=rules" in text
    assert "total_ms=" in text
    shipped = json.loads(JsonFormatter().format(line))
    assert isinstance(shipped["total_ms"], int)
    assert shipped["outcome"] == "answered"


def entry_of(turn: Turn, **fields: Any) -> HistoryEntry:
    now = time.time()
    return HistoryEntry(
        **turn.model_dump(include={"turn_id", "session_id", "user_id", "persona_id", "channel", "kind"}),
        input_text=turn.text,
        enqueued_at=turn.enqueued_at,
        started_at=now,
        finished_at=now,
        **fields,
    )


@pytest.mark.parametrize(
    ("fallback", "interrupted", "outcome"),
    [(True, False, "fallback"), (False, True, "interrupted"), (None, False, "expired")],
)
def test_a_fallback_an_interrupted_or_an_expired_turn_says_so(
    fallback: bool | None, interrupted: bool, outcome: str, turn_lines: list[logging.LogRecord]
) -> None:
    turn = make_turn(enqueued_at=time.time() - 0.25)
    reply = None if fallback is None or interrupted else Reply.to(turn, "sorry", fallback=fallback)
    watch = TurnWatch(turn, "rules")
    watch.answered(reply, None if fallback is None else entry_of(turn, brain="llm", interrupted=interrupted))
    watch.close()
    fields = vars(ended(turn_lines, outcome))
    assert fields["brain"] == ("rules" if fallback is None else "llm")
    assert fields["queue_wait_ms"] >= 250
    assert (fields["first_word_ms"] is None) == (outcome != "fallback")


def test_a_turn_another_brain_answered_is_a_stand_in_named_by_that_brain(turn_lines: list[logging.LogRecord]) -> None:
    def counted() -> float:
        return REGISTRY.get_sample_value("persona_turns_total", {"door": "rest", "outcome": "stand_in"}) or 0.0

    before = counted()
    turn = make_turn(channel="rest")
    watch = TurnWatch(turn, "llm")  # the brain asked; the model missed its first word, rules answered
    watch.answered(Reply.to(turn, "Tell me more."), entry_of(turn, brain="rules"))
    watch.close()
    fields = vars(ended(turn_lines, "stand_in"))
    assert fields["brain"] == "rules"
    assert counted() == before + 1


def test_a_turn_closed_without_an_answer_failed(turn_lines: list[logging.LogRecord]) -> None:
    def counted() -> float:
        return REGISTRY.get_sample_value("persona_turns_total", {"door": "soulmachines", "outcome": "failed"}) or 0.0

    before = counted()
    watch = TurnWatch(make_turn(channel="soulmachines"), "rules")
    watch.close()
    fields = vars(ended(turn_lines, "failed"))
    assert (fields["door"], fields["brain"]) == ("soulmachines", "rules")
    assert counted() == before + 1


async def test_a_streamed_turns_first_word_is_when_its_first_words_went_out(
    turn_lines: list[logging.LogRecord],
) -> None:
    turn = make_turn(enqueued_at=time.time())
    watch = TurnWatch(turn, "llm")
    heard: list[str] = []

    async def sink(words: str, offset: int) -> None:
        heard.append(words)

    noted = watch.words_out(sink)
    assert noted is not None
    assert watch.words_out(None) is None  # a whole reply: nothing to wrap
    await asyncio.sleep(0.05)
    await noted("Hello", 0)
    await asyncio.sleep(0.2)
    await noted(" there", 5)
    watch.answered(Reply.to(turn, "Hello there"), entry_of(turn, brain="llm"))
    watch.close()
    fields = vars(ended(turn_lines, "answered"))
    assert heard == ["Hello", " there"]
    assert 50 <= fields["first_word_ms"] < fields["total_ms"]
    assert fields["total_ms"] - fields["first_word_ms"] >= 200


@pytest.mark.parametrize("entry", [["-m", "worker", "--processes", "2"], ["-m", "app"], ["-m", "worker.scheduler"]])
def test_an_unreachable_redis_is_one_line_naming_its_host(entry: list[str]) -> None:
    env = {"REDIS_URL": "redis://operator:hunter2@127.0.0.1:1/0", "PATH": "/usr/bin:/bin", "PORT": "1"}
    done = subprocess.run(
        [sys.executable, *entry], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "ERROR" in line
    assert "Redis at 127.0.0.1:1 is unreachable" in line
    assert "REDIS_URL" in line
    assert "hunter2" not in done.stderr
    assert "Traceback" not in done.stderr


def test_the_scheduler_says_what_it_enqueues(caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    stop.set()
    settings = Settings(_env_file=None, thought_interval_seconds=45)
    with caplog.at_level(logging.INFO, logger="worker.scheduler"):
        scheduler.run(fakeredis.FakeRedis(), settings, stop)
    assert "the thinking of personas default, sage, spark on queue thoughts every 45 s" in caplog.text


async def test_rate_limit_refusals_are_counted_by_limit() -> None:
    def refused() -> float:
        return REGISTRY.get_sample_value("persona_rate_limited_total", {"scope": "turns"}) or 0.0

    before = refused()
    limiter = RateLimiter(fakeredis.FakeAsyncRedis())
    waits = [await limiter.hit("turns", "192.0.2.1", 2, 60) for _ in range(4)]
    assert waits[:2] == [None, None]
    assert all(wait is not None for wait in waits[2:])
    assert refused() == before + 2


def test_the_grafana_dashboard_charts_only_metrics_we_export() -> None:
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    charted = {
        re.sub(r"_(bucket|total)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"persona_[a-z_]+", target["expr"])
    }
    queues = QueueCollector(fakeredis.FakeRedis(), ["turns"]).collect()
    exported = {family.name for family in REGISTRY.collect()} | {family.name for family in queues}
    assert charted <= exported
    assert {"persona_turns", "persona_turn_seconds", "persona_queue_jobs", "persona_sockets_open"} <= charted
