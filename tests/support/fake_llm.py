"""A small OpenAI-compatible chat-completions server for tests, served by uvicorn on loopback.

It answers with the JSON object the LLM brain asks for. Markers in the user's text make it
misbehave: [garbage] (not JSON), [slow] (sleeps past any sensible timeout), [500] (server
error), [flaky] (garbage on the first call for that text, then a good answer). Memory questions
are answered only from what the system prompt tells it, which shows the prompt carries memory.
"""

import asyncio
import json
import re
import threading
import time
from collections import Counter
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support.stack import free_port, wait_for


class FakeLlm:
    def __init__(self) -> None:
        self.calls = 0
        self.requests: list[dict[str, Any]] = []
        self._seen: Counter[str] = Counter()
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._complete)
        self.app.get("/v1/models")(self._models)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> "FakeLlm":
        self._thread.start()
        wait_for(lambda: self._server.started, 10, "the fake LLM server")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(5)

    async def _models(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "tests"}]}

    async def _complete(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.calls += 1
        self.requests.append(body)
        text = body["messages"][-1]["content"]
        system = body["messages"][0]["content"]
        self._seen[text] += 1
        if "[500]" in text:
            return JSONResponse({"error": {"message": "boom"}}, status_code=500)
        if "[slow]" in text:
            await asyncio.sleep(5)
        if "[garbage]" in text or ("[flaky]" in text and self._seen[text] == 1):
            return self._completion(body, "this is not json")
        return self._completion(body, json.dumps(self._answer(text, system)))

    def _answer(self, text: str, system: str) -> dict[str, Any]:
        answer: dict[str, Any] = {"reply": f"(model) {text}", "emotions": {"joy": 0.2}, "relationship": 0.3}
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
                "id": f"chatcmpl-{self.calls}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake-model"),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )
