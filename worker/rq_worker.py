"""The RQ worker classes: SimpleWorker, so jobs run in the worker process itself.

Forking per job (RQ's default Worker) would redo the Mongo and loop set-up for every turn;
measured here, a fork costs more than the whole turn.
"""

from rq.timeouts import TimerDeathPenalty
from rq.worker import SimpleWorker


class PersonaWorker(SimpleWorker):
    """A worker process's RQ loop (`python -m worker`)."""


class ThreadWorker(PersonaWorker):
    """The embedded worker: runs in a thread of the API process, where signals cannot be set."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        """The API process (uvicorn) owns signal handling; it stops us through `stop()`."""
