"""A loopback OpenAI-compatible chat-completions server that answers at a model's pace.

Used by the tests and the benchmark (`python -m tests.support.fake_llm --port N` runs it as a
process of its own). A call waits `first_token` seconds, then sends `tokens` pieces `gap` seconds
apart: streamed as `chat.completion.chunk` events when the request says `stream: true`, else as
one `chat.completion` once the last piece is "generated". It counts calls in flight and notes when
each call's client went away, so a test can see concurrency and cancellation from the model's side.

The content is what the LLM brain asks for: the reply as text, then `<persona-data>` and a JSON
object. Markers in the user's text change the answer: [plain] (text only, as most small models
answer), [fenced] (text, then the data in a ```json fence), [json] (one JSON object with a
"reply", the older shape), [badcard] (a `javascript:` link), [badfact] (a "fact" the user never
said), [slow] (the first piece after 5 s), [silent] (a stream with no text), [500] (a server
error), [nostream] (one chat.completion although a stream was asked for), [drop] (the connection
dropped after half the pieces). Memory questions are
answered only from what the system prompt tells it, which shows the prompt carries memory.
"""

import argparse
import asyncio
import itertools
import json
import re
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.stack import free_port, wait_for


@dataclass
class Pace:
    """How a call unfolds: the first piece after `first_token` s, then one every `gap` s."""

    first_token: float = 0.0
    tokens: int = 1
    gap: float = 0.0

    @property
    def total(self) -> float:
        return self.first_token + max(0, self.tokens - 1) * self.gap


@dataclass
class CallRecord:
    started: float
    first_piece: float | None = None
    finished: float | None = None  # the last piece sent
    closed: float | None = None  # the client went away before the last piece
    stream: bool = False


@dataclass
class Stats:
    calls: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    records: list[CallRecord] = field(default_factory=list)


MODEL_MARK = "(model) "  # how every reply this model writes begins


def said_by_model(text: str) -> bool:
    """Are these words this model's? (A persona's rules brain standing in never says the mark.)"""
    return text.startswith(MODEL_MARK)


def split_pieces(content: str, count: int) -> list[str]:
    """`content` cut into `count` pieces on word boundaries (a model's tokens, roughly), fewer only
    when it has fewer words."""
    words = re.findall(r"\S+\s*", content) or [content]
    pieces = max(1, min(count, len(words)))
    bounds = [round(i * len(words) / pieces) for i in range(pieces + 1)]
    return ["".join(words[start:end]) for start, end in itertools.pairwise(bounds)]


class FakeLlm:
    def __init__(self, pace: Pace | None = None, port: int | None = None) -> None:
        self.pace = pace or Pace()
        self.stats = Stats()
        self.requests: list[dict[str, Any]] = []
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._complete, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/stats", self._stats, methods=["GET"]),
                Route("/stats/reset", self._reset, methods=["POST"]),
            ]
        )
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", backlog=4096)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def calls(self) -> int:
        return self.stats.calls

    def start(self) -> "FakeLlm":
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_for(lambda: self._server.started, 10, "the fake LLM server")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)

    def serve(self) -> None:
        """Run in this process's main thread (the `python -m` entry point)."""
        self._server.run()

    async def _models(self, request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "tests"}]})

    async def _stats(self, request: Request) -> JSONResponse:
        return JSONResponse(asdict(self.stats))

    async def _reset(self, request: Request) -> Response:
        self.stats = Stats()
        return Response(status_code=204)

    async def _complete(self, request: Request) -> Response:
        body = await request.json()
        self.stats.calls += 1
        self.requests.append(body)
        text = body["messages"][-1]["content"]
        system = body["messages"][0]["content"]
        if "[500]" in text:
            return JSONResponse({"error": {"message": "boom"}}, status_code=500)
        content = _content(text, self._answer(text, system))
        pace = Pace(5.0, 1, 0.0) if "[slow]" in text else Pace(0.0, 8, 0.01) if "[drop]" in text else self.pace
        record = CallRecord(started=time.time(), stream=bool(body.get("stream")) and "[nostream]" not in text)
        self.stats.records.append(record)
        pieces = split_pieces(content, pace.tokens) if content else []
        if record.stream:
            drop_at = len(pieces) // 2 if "[drop]" in text else None
            chunks = self._chunks(body, pieces, pace, record, drop_at)
            return StreamingResponse(chunks, media_type="text/event-stream")
        async for _ in self._unfold(pieces, pace, record):
            pass
        return self._completion(body, content)

    async def _unfold(self, pieces: list[str], pace: Pace, record: CallRecord) -> AsyncIterator[str]:
        """The pieces at the model's pace; counts the call in flight and notes an early close."""
        self.stats.in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
        try:
            await asyncio.sleep(pace.first_token)
            for index, piece in enumerate(pieces):
                if index:
                    await asyncio.sleep(pace.gap)
                if record.first_piece is None:
                    record.first_piece = time.time()
                yield piece
            record.finished = time.time()
        finally:
            self.stats.in_flight -= 1
            if record.finished is None:
                record.closed = time.time()

    async def _chunks(
        self, body: dict[str, Any], pieces: list[str], pace: Pace, record: CallRecord, drop_at: int | None
    ) -> AsyncIterator[str]:
        """The stream's events; with `drop_at`, the connection is cut before that piece."""
        created = int(time.time())

        def chunk(delta: dict[str, str], finish: str | None = None) -> str:
            frame = {
                "id": f"chatcmpl-{self.stats.calls}",
                "object": "chat.completion.chunk",
                "created": created,
                "model": body.get("model", "fake-model"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(frame)}\n\n"

        yield chunk({"role": "assistant", "content": ""})
        sent = 0
        async for piece in self._unfold(pieces, pace, record):
            if sent == drop_at:
                raise ConnectionAbortedError("[drop]: the model's connection goes mid-stream")
            yield chunk({"content": piece})
            sent += 1
        yield chunk({}, "stop")
        yield "data: [DONE]\n\n"

    def _answer(self, text: str, system: str) -> dict[str, Any]:
        answer: dict[str, Any] = {"reply": f"{MODEL_MARK}{text}", "emotions": {"joy": 0.2}, "relationship": 0.3}
        if "[badcard]" in text:
            answer["card"] = {"kind": "externalLink", "data": {"url": "javascript:alert(1)", "title": "click"}}
        if "[badfact]" in text:
            answer["facts"] = [{"kind": "name", "value": "Overwritten"}]
        if match := re.search(r"my name is (\w+)", text, re.I):
            answer["facts"] = [{"kind": "name", "value": match.group(1)}]
            answer["reply"] = f"Lovely to meet you, {match.group(1)}."
        if re.search(r"what'?s my name", text, re.I):
            known = re.search(r"What you know about them: ([^.]*)\.", system)
            name = re.search(r"\bname (\w+)", known.group(1)) if known else None
            answer["reply"] = f"Your name is {name.group(1)}." if name else "I don't know yet."
        if "picture" in text:
            answer["card"] = {"kind": "image", "data": {"url": "https://example.org/a.png", "alt": "a picture"}}
        return answer

    def _completion(self, body: dict[str, Any], content: str) -> JSONResponse:
        return JSONResponse(
            {
                "id": f"chatcmpl-{self.stats.calls}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake-model"),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )


def _content(text: str, answer: dict[str, Any]) -> str:
    """The answer as the model writes it, in the form the markers in the user's text ask for."""
    reply, data = answer["reply"], {k: v for k, v in answer.items() if k != "reply"}
    if "[silent]" in text:
        return ""
    if "[plain]" in text:
        return reply
    if "[json]" in text:
        return json.dumps(answer)
    if "[fenced]" in text:
        return f"{reply}\n```json\n{json.dumps(data)}\n```"
    return f"{reply}\n<persona-data>{json.dumps(data)}</persona-data>"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.fake_llm", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--first-token", type=float, default=0.3, help="seconds to the first piece")
    parser.add_argument("--tokens", type=int, default=20, help="pieces per answer")
    parser.add_argument("--gap", type=float, default=0.03, help="seconds between pieces")
    args = parser.parse_args(argv)
    server = FakeLlm(Pace(args.first_token, args.tokens, args.gap), port=args.port)
    print(f"listening {server.base_url}", flush=True)
    sys.stdout.flush()
    server.serve()


if __name__ == "__main__":
    main()
