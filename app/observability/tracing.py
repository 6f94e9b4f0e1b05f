"""OpenTelemetry traces: one trace per turn, from the door through the queue into the worker.

Off unless configured: with OTEL_EXPORTER_OTLP_ENDPOINT set, spans go to that collector over
OTLP/HTTP (batched); with TRACE_FILE set, each span is also written to that file as a JSON
line as it ends (for tests and debugging). The door's enqueue injects the trace context into
the Turn (`Turn.trace`, W3C traceparent); the worker extracts it, so its spans (store read,
brain, model call, record, publish, settle) join the door's trace in another process, and its
reply carries the context back (`Reply.trace`) for the API's `send` span.

OpenTelemetry keeps its tracer provider process-wide; `install` sets it once at start. Until
then (and when nothing is configured) `traced` awaits its call directly: no span, no cost.
"""

import logging
import os
from collections.abc import Awaitable, Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import Token
from pathlib import Path
from typing import Any, TypeVar

from fastapi.telemetry import TelemetryConfig
from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

from app.turns import Turn

log = logging.getLogger(__name__)
T = TypeVar("T")
tracer = trace.get_tracer("persona")
_enabled = False


def _socket(scope: MutableMapping[str, Any]) -> bool:
    return bool(scope["type"] == "websocket")


# FastAPI's own spans (it traces through the global provider once one is installed): an HTTP
# door's request span is its turn's root. A socket's connection span is left out, else every
# turn of a socket would be one trace for hours; each socket turn's door span is its own root.
# Its spans per dependency and serialisation are left out too: a turn's trace stays readable.
FASTAPI_TELEMETRY: TelemetryConfig = {"exclude": _socket, "operation_spans": False}


def install(provider: TracerProvider) -> None:
    """Make `provider` this process's tracer provider and turn spans on."""
    global _enabled
    trace.set_tracer_provider(provider)
    _enabled = True


def configure(service: str, otlp_endpoint: str | None, trace_file: Path | None) -> None:
    """At a process's start: export spans where configured, or leave tracing off."""
    if not otlp_endpoint and not trace_file:
        return
    name = os.environ.get("OTEL_SERVICE_NAME") or service  # given attributes would outrank the variable
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    if otlp_endpoint:
        # Imported only when used: it brings protobuf with it.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = f"{otlp_endpoint.rstrip('/')}/v1/traces"  # the variable names the collector, not the path
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    if trace_file:
        out = trace_file.open("a", encoding="utf-8")  # open for the process's life, like its log
        lines = ConsoleSpanExporter(out=out, formatter=lambda span: span.to_json(indent=None) + "\n")
        provider.add_span_processor(SimpleSpanProcessor(lines))
    install(provider)
    log.info("traces of %s exported to %s", name, ", ".join(str(t) for t in (otlp_endpoint, trace_file) if t))


@contextmanager
def enqueue_span(turn: Turn) -> Iterator[dict[str, str]]:
    """The door's span of a turn and its child around the enqueue; yields the enqueue's context,
    to carry in `Turn.trace` (empty when tracing is off)."""
    carrier: dict[str, str] = {}
    if not _enabled:
        yield carrier
        return
    attributes = {"persona.session_id": turn.session_id, "persona.turn_id": turn.turn_id}
    with (
        tracer.start_as_current_span(f"door {turn.channel}", attributes=attributes),
        tracer.start_as_current_span("enqueue", kind=trace.SpanKind.PRODUCER),
    ):
        propagate.inject(carrier)
        yield carrier


class WorkerSpan:
    """The worker's span of one turn, a child of the door's, current until `end`."""

    def __init__(self, turn: Turn) -> None:
        self._span: trace.Span | None = None
        self._token: Token[Context] | None = None
        if not _enabled:
            return
        parent = propagate.extract(turn.trace)
        self._span = tracer.start_span(f"worker {turn.channel}", context=parent, kind=trace.SpanKind.CONSUMER)
        self._span.set_attributes({"persona.session_id": turn.session_id, "persona.turn_id": turn.turn_id})
        self._token = context.attach(trace.set_span_in_context(self._span, parent))

    def end(self, outcome: str, brain: str) -> None:
        if self._span is None:
            return
        self._span.set_attributes({"persona.outcome": outcome, "persona.brain": brain})
        if outcome == "failed":
            self._span.set_status(trace.StatusCode.ERROR)
        self._span.end()
        if self._token is not None:
            context.detach(self._token)


def carried() -> dict[str, str]:
    """The current trace context, for a message to another process (empty when tracing is off)."""
    carrier: dict[str, str] = {}
    if _enabled:
        propagate.inject(carrier)
    return carrier


@contextmanager
def continued(name: str, carrier: dict[str, str]) -> Iterator[None]:
    """A span continuing the trace another process carried (none when tracing is off, or when
    nothing was carried: an unprompted line is no turn's)."""
    if not _enabled or not carrier:
        yield
        return
    with tracer.start_as_current_span(name, context=propagate.extract(carrier), kind=trace.SpanKind.CONSUMER):
        yield


async def traced(name: str, call: Awaitable[T]) -> T:
    """Await `call` inside a child span of the current one (when tracing is on)."""
    if not _enabled:
        return await call
    with tracer.start_as_current_span(name):
        return await call
