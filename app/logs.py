"""Logging set-up: one line per event, with the context fields (session, turn, job) appended."""

import logging
import sys

CONTEXT_FIELDS = ("session_id", "turn_id", "job_id", "client", "instance_id")


class ContextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{f}={getattr(record, f)}" for f in CONTEXT_FIELDS if getattr(record, f, None))
        return f"{line} [{context}]" if context else line


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ContextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
