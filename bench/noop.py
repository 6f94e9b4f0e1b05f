"""Reference (a): the no-op job a stock RQ SimpleWorker runs; it publishes what it was given."""

from rq import get_current_job


def noop(channel: str, payload: str) -> None:
    job = get_current_job()
    assert job is not None
    job.connection.publish(channel, payload)
