"""One trace per turn: the door's spans and the worker's, joined through the context in the Turn."""

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.observability import tracing
from tests.unit.test_api import bearer, client, guest, say  # noqa: F401  (client is a fixture)


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    monkeypatch.setattr(tracing, "_enabled", True)  # restored (off) after the test
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # OpenTelemetry takes one provider per process
        provider = TracerProvider()
        tracing.install(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


def finished(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = [span for span in exporter.get_finished_spans() if span.name == name]
        if found:
            [span] = found
            return span
        time.sleep(0.01)
    raise AssertionError(f"no span {name}: {[s.name for s in exporter.get_finished_spans()]}")


def test_a_turn_is_one_trace_from_the_door_through_the_worker(
    client: TestClient,  # noqa: F811
    spans: InMemorySpanExporter,
) -> None:
    record = say(client, bearer(guest(client)), "my name is Noor")
    door, enqueue, worker = (finished(spans, name) for name in ("door rest", "enqueue", "worker rest"))
    assert door.context is not None
    trace_id = door.context.trace_id
    request = finished(spans, "POST /v1/messages/submit")  # FastAPI's span of the request is the root
    assert request.parent is None
    assert door.parent is not None
    assert door.parent.span_id == request.context.span_id
    assert enqueue.parent is not None
    assert enqueue.parent.span_id == door.context.span_id
    assert worker.parent is not None
    assert worker.parent.span_id == enqueue.context.span_id
    assert worker.attributes is not None
    assert worker.attributes["persona.turn_id"] == record["job_id"]
    assert worker.attributes["persona.outcome"] == "answered"
    for name in ("store read", "brain rules", "record", "publish", "settle"):
        child = finished(spans, name)
        assert child.context is not None
        assert child.context.trace_id == trace_id
        assert child.parent is not None
        assert child.parent.span_id == worker.context.span_id


def test_with_tracing_off_the_turn_carries_no_context() -> None:
    from tests.conftest import make_turn

    with tracing.enqueue_span(make_turn()) as carried:
        assert carried == {}
