"""Logging set-up: one line per event, with the context fields (session, turn, job) appended."""

import json
import logging
import re
import sys

# A turn's end (app/observability/turns.py) adds door, brain, outcome and its times in ms.
CONTEXT_FIELDS = (
    "session_id",
    "turn_id",
    "job_id",
    "client",
    "instance_id",
    "door",
    "brain",
    "outcome",
    "queue_wait_ms",
    "first_word_ms",
    "total_ms",
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def escape(text: str) -> str:
    """Control characters as escapes: a value from a client (an id, a text) cannot start a new,
    forged log line."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


class ContextFormatter(logging.Formatter):
    """One line per event: the message and every context value escaped; only a traceback, which
    we write ourselves, spans lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{f}={escape(str(getattr(record, f)))}" for f in CONTEXT_FIELDS if _present(record, f))
        return f"{line} [{context}]" if context else line


def _present(record: logging.LogRecord, name: str) -> bool:
    value = getattr(record, name, None)
    return value is not None and value != ""  # 0 ms is a value


class WithoutQueryStrings(logging.Filter):
    """uvicorn's access log prints each request's full path; query strings carry SSE tickets and
    Hume's `custom_session_id` (a user's identity), which stay out of logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?…", *args[3:])
        return True


class JsonFormatter(logging.Formatter):
    """LOG_FORMAT=json: one JSON object per line for log shippers, context fields as keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= {f: _json_value(getattr(record, f)) for f in CONTEXT_FIELDS if _present(record, f)}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)  # json escapes control characters itself


def _json_value(value: object) -> object:
    """Numbers stay numbers (a shipper can sum `total_ms`); anything else is its text."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


class OneLineClientErrors(logging.Filter):
    """uvicorn logs a client's invalid UTF-8 text frame with a full traceback, though it already
    closed the socket correctly (1007): a client's mistake is one line, not a page per frame."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.getMessage().startswith("Invalid UTF-8 sequence received from client"):
            record.exc_info = None
            record.exc_text = None
        return True


def configure(level: str, log_format: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    text = ContextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(JsonFormatter() if log_format == "json" else text)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, OneLineClientErrors) for f in errors.filters):
        errors.addFilter(OneLineClientErrors())
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, WithoutQueryStrings) for f in access.filters):
        access.addFilter(WithoutQueryStrings())


def short(exc: BaseException) -> str:
    """An error's first line, bounded: enough for a log line, never a page of driver text."""
    return (str(exc) or type(exc).__name__).splitlines()[0][:200]
