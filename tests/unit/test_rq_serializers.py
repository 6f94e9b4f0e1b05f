"""The remembering serializer resolver answers exactly as RQ's own."""

import pytest
import rq.job
import rq.queue
import rq.serializers
from rq.serializers import JSONSerializer, PickleSerializer

from app.bus import rq_serializers


def test_it_answers_as_rq_does_and_is_installed_once() -> None:
    rq_serializers.remember_resolved_serializers()
    rq_serializers.remember_resolved_serializers()
    assert rq.job.resolve_serializer is rq_serializers.resolve_serializer
    assert rq.queue.resolve_serializer is rq_serializers.resolve_serializer
    for given in (None, JSONSerializer, "rq.serializers.JSONSerializer", PickleSerializer):
        assert rq_serializers.resolve_serializer(given) is rq.serializers.resolve_serializer(given)


def test_a_serializer_without_dumps_and_loads_is_still_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(NotImplementedError):
            rq_serializers.resolve_serializer(object)
