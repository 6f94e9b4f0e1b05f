"""RQ resolves its serializer in every Job, Queue and registry it builds, through an isinstance
check against a runtime Protocol, which Python 3.11 answers by recomputing the protocol's members
each time: about 30 us a call, several calls a turn, in the API and in every worker. The answer
depends only on the serializer given, so it is remembered here, in each RQ module that resolves
one; RQ itself decides every first answer (and raises for a bad serializer, uncached).
"""

import functools
import importlib
from typing import Any

import rq.serializers

_RQ_MODULES = ("rq.job", "rq.queue", "rq.registry", "rq.results", "rq.worker.base", "rq.scheduler", "rq.cron")
_resolve = rq.serializers.resolve_serializer


@functools.cache
def _remembered(serializer: Any) -> Any:
    return _resolve(serializer)


def resolve_serializer(serializer: Any = None) -> Any:
    try:
        return _remembered(serializer)
    except TypeError:  # unhashable: let RQ decide every time
        return _resolve(serializer)


def remember_resolved_serializers() -> None:
    """Install the remembering resolver in RQ's modules (idempotent); call once at start-up."""
    for name in _RQ_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "resolve_serializer", None) is _resolve:
            module.resolve_serializer = resolve_serializer  # type: ignore[attr-defined]
