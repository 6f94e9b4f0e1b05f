"""Reading a model's streamed answer: the words to speak as they come, then the data after them.

The prompt asks for the reply as plain text, then DATA_MARKER and one JSON object (card,
emotions, facts, relationship). Models do not always comply, so the reader accepts:
- text, then the marker and JSON (optionally fenced, optionally closed by DATA_END);
- text, then a fenced JSON block with no marker;
- plain text only (most small local models): all of it is the reply, no data;
- one JSON object only, fenced or not (the shape older prompts asked for): its "reply" is
  spoken when the answer is complete, and the rest is its data.
Nothing that might be the start of a marker or a fence is spoken before the reader knows.
Pure: no I/O, no clock.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any

DATA_MARKER = "<persona-data>"
DATA_END = "</persona-data>"
FENCE = "```"
_OPENERS = (DATA_MARKER, FENCE)
_FENCED = re.compile(r"^\s*```[a-zA-Z]*\s*(.*?)\s*(?:```\s*)?$", re.S)


@dataclass
class ReadAnswer:
    text: str  # the reply, as spoken
    data: dict[str, Any] | None  # what came after it, when it was a JSON object
    problem: str | None = None  # why the data (or the whole answer) could not be read


@dataclass
class StreamReader:
    """Feed it the model's pieces; it returns what may be spoken now. Everything it returns,
    joined with the rest `finish` returns, is exactly the reply text it reads."""

    _buffer: str = ""
    _spoken: int = 0  # characters of the buffer already handed out as speech
    _data_at: int | None = None  # where the data begins in the buffer, once seen
    _json_only: bool | None = None  # decided by the first non-blank character
    _pieces: list[str] = field(default_factory=list)

    def feed(self, piece: str) -> str:
        self._buffer += piece
        if self._json_only is None:
            start = self._buffer.lstrip()
            if not start:
                return ""
            if len(start) < len(FENCE) and FENCE.startswith(start):
                return ""  # a fence or not: the next piece tells
            self._json_only = start.startswith(("{", FENCE))
        if self._json_only or self._data_at is not None:
            return ""
        for opener in _OPENERS:
            at = self._buffer.find(opener, self._spoken)
            if at >= 0 and (self._data_at is None or at < self._data_at):
                self._data_at = at
        if self._spoken == 0:  # the reply starts at its first word
            self._spoken = len(self._buffer) - len(self._buffer.lstrip())
        end = self._data_at if self._data_at is not None else len(self._buffer) - _held_back(self._buffer)
        end = self._spoken + len(self._buffer[self._spoken : end].rstrip())  # spaces wait for a next word
        said = self._buffer[self._spoken : end]
        self._spoken = max(self._spoken, end)
        return said

    def finish(self) -> tuple[str, ReadAnswer]:
        """At the end of the stream: the rest to speak, and the whole answer read."""
        if self._json_only:
            data, problem = _json_object(self._buffer)
            reply = data.get("reply") if data else None
            if not isinstance(reply, str) or not reply.strip():
                return "", ReadAnswer("", None, problem or "a JSON answer without a reply")
            data = {k: v for k, v in data.items() if k != "reply"} if data else None
            return reply.strip(), ReadAnswer(reply.strip(), data)
        if self._data_at is None:
            rest = self._buffer[self._spoken :].rstrip()
            self._spoken = len(self._buffer)
            return rest, ReadAnswer(self._buffer.strip(), None)
        text = self._buffer[: self._data_at].strip()
        tail = self._buffer[self._data_at :]
        tail = tail.removeprefix(DATA_MARKER).split(DATA_END, 1)[0]
        data, problem = _json_object(tail)
        return "", ReadAnswer(text, data, problem)


def _held_back(buffer: str) -> int:
    """How many trailing characters might begin a marker or fence (not to be spoken yet)."""
    longest = 0
    for opener in _OPENERS:
        for size in range(min(len(opener) - 1, len(buffer)), 0, -1):
            if buffer.endswith(opener[:size]):
                longest = max(longest, size)
                break
    return longest


def _json_object(text: str) -> tuple[dict[str, Any] | None, str | None]:
    match = _FENCED.match(text)
    body = (match.group(1) if match else text).strip()
    if not body:
        return None, None
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        return None, "the data after the reply is not a JSON object"
    try:
        value = json.loads(body[start : end + 1])
    except ValueError as exc:
        return None, f"the data after the reply is not valid JSON ({str(exc)[:80]})"
    if not isinstance(value, dict):
        return None, "the data after the reply is not a JSON object"
    return value, None
