"""The LLM brain: ONE streamed chat-completions call per turn, spoken as it comes.

Any OpenAI-compatible server (Ollama, vLLM, OpenAI) through the official `openai` client. The
reply's words are handed to `say` as the model produces them (app/llm/reader.py holds back what
might be the data after them); the data is checked when the stream ends (app/llm/answer.py).

Two deadlines, both counted from when the turn reached its door and both inside its reply
deadline: the first word (LLM_FIRST_WORD_SECONDS) and the whole turn (LLM_TURN_SECONDS). No
word by the first: the call is cancelled and the rules brain answers, flagged. The turn's end
mid-stream: the call is cancelled and what was said stands, flagged. A failed or empty call is
never retried (a retry would outlast the deadline); the rules brain answers instead. A barge-in
cancels the task running this, which closes the model's stream.
"""

import asyncio
import json
import logging
import time

import aiohttp
import httpx2
import openai

from app.llm.answer import to_output
from app.llm.prompt import build_messages
from app.llm.reader import ReadAnswer, StreamReader
from app.logs import short
from app.observability.metrics import timed_model_call
from app.persona.brains import Brain, BrainContext, BrainOutput
from app.persona.brains.base import BrainHealth, Say
from app.turns import Turn

log = logging.getLogger(__name__)
# What a misbehaving server or the client library can raise while a stream is read: the client's
# own errors, its HTTP layer's (httpx2) and its transport's (aiohttp; app/brains.py), bad data.
TRANSPORT_ERRORS = (openai.OpenAIError, httpx2.HTTPError, aiohttp.ClientError)
MODEL_ERRORS = (*TRANSPORT_ERRORS, ValueError, TypeError, AttributeError, KeyError, IndexError)


def _content(line: str) -> str | None:
    """The text of one server-sent line of a chat-completions stream, if it carries any.

    The stream is read as lines of the raw response (the client's `with_streaming_response`):
    a model call yields dozens of chunks, and building the SDK's object for each was a quarter
    of a worker's CPU per turn (docs/architecture.md). An error event raises."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if not data or data == "[DONE]":
        return None
    chunk = json.loads(data)
    if not isinstance(chunk, dict):
        return None
    if "error" in chunk:
        raise ValueError(f"the model's stream said: {str(chunk['error'])[:160]}")
    choices = chunk.get("choices")
    delta = choices[0].get("delta") if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else None


FIRST_WORD_WEIGHT = 0.1  # of the newest call in the model's typical time to its first word


def _loop_time(epoch: float) -> float:
    return asyncio.get_running_loop().time() + (epoch - time.time())


class LlmBrain:
    name = "llm"

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        model: str,
        temperature: float,
        fallback: Brain,
        first_word_seconds: float,
        turn_seconds: float,
    ) -> None:
        self._client = client
        self._model = model
        self._temperature = temperature
        self._fallback = fallback
        self._first_word_seconds = first_word_seconds
        self._turn_seconds = turn_seconds
        # From asking to the first word, over the calls that spoke: a turn left less time than
        # this before its first-word deadline is not sent (it could only be cancelled, after its
        # prompt cost tokens and the process CPU). Capped at half the deadline, so a turn that did
        # not wait is always sent, and a model that got faster is heard again.
        self.first_word_typical = 0.0

    def deadlines(self, turn: Turn) -> tuple[float, float]:
        """The first word's and the turn's deadlines (epoch seconds), inside the door's."""
        door = turn.deadline_at if turn.deadline_at is not None else float("inf")
        return (
            min(turn.enqueued_at + self._first_word_seconds, door),
            min(turn.enqueued_at + self._turn_seconds, door),
        )

    async def respond(self, ctx: BrainContext, say: Say) -> BrainOutput:
        left = self.deadlines(ctx.turn)[0] - time.time()
        if left < min(self.first_word_typical, self._first_word_seconds / 2):
            left_ms, typical_ms = max(0.0, left) * 1000, self.first_word_typical * 1000
            reason = f"not asked: {left_ms:.0f} ms left to LLM_FIRST_WORD_SECONDS, the model needs ~{typical_ms:.0f} ms"
            return await self._stand_in(ctx, say, reason)
        spoken: list[str] = []

        async def speak(words: str) -> None:
            if words:
                spoken.append(words)
                await say(words)

        problem: str | None = None
        try:
            read = await timed_model_call(self._read(ctx, speak))
        except TimeoutError:
            problem = "no word within LLM_FIRST_WORD_SECONDS" if not spoken else "cut at LLM_TURN_SECONDS"
            read = ReadAnswer("".join(spoken), None, problem)
        except MODEL_ERRORS as exc:
            problem = f"{type(exc).__name__}: {short(exc)}"
            read = ReadAnswer("".join(spoken), None, problem)
        if not spoken:
            return await self._stand_in(ctx, say, problem or read.problem or "the model's answer had no text")
        output, refused = to_output(read.text, read.data, ctx)
        notes = [note for note in (read.problem, *refused) if note]
        if notes:
            log.warning("llm answer taken in part: %s", "; ".join(notes), extra={"turn_id": ctx.turn.turn_id})
        return output.model_copy(update={"flagged": f"llm: {'; '.join(notes)}"}) if problem else output

    async def _stand_in(self, ctx: BrainContext, say: Say, reason: str) -> BrainOutput:
        """The offline brain's answer, flagged: the model had nothing to say in time."""
        log.warning("llm gave nothing to say: %s", reason, extra={"turn_id": ctx.turn.turn_id})
        output = self._fallback.respond(ctx)
        await say(output.text)
        flag = f"llm failed, {self._fallback.name} answered ({reason})"
        return output.model_copy(update={"flagged": flag, "answered_by": self._fallback.name})

    def _heard_after(self, seconds: float) -> None:
        typical = self.first_word_typical
        self.first_word_typical = seconds if not typical else typical + FIRST_WORD_WEIGHT * (seconds - typical)

    async def _read(self, ctx: BrainContext, speak: Say) -> ReadAnswer:
        first_word_at, turn_end_at = self.deadlines(ctx.turn)
        reader = StreamReader()
        asked = time.monotonic()
        async with asyncio.timeout_at(_loop_time(first_word_at)) as window:
            request = self._client.chat.completions.with_streaming_response.create(
                model=self._model,
                messages=[],  # replaced by extra_body's, the same JSON on the wire
                temperature=self._temperature,
                stream=True,
                # The client's request transform walks every message against its TypedDicts,
                # ~0.24 ms of CPU each (3 ms for a full prompt of 14), against 0.03 ms to encode
                # them all (docs/architecture.md); its documented extra_body goes out as it is.
                extra_body={"messages": build_messages(ctx)},
            )
            async with request as response:  # leaving early (a deadline, a barge-in) closes the model's connection
                heard = False
                async for line in response.iter_lines():
                    piece = _content(line)
                    if not piece:
                        continue
                    if not heard:  # the model is talking: the rest of the turn is its own
                        heard = True
                        self._heard_after(time.monotonic() - asked)
                        window.reschedule(_loop_time(turn_end_at))
                    await speak(reader.feed(piece))
            rest, read = reader.finish()
            await speak(rest)
        return read

    async def health(self) -> BrainHealth:
        try:
            await self._client.models.list()
            reachable = True
        except TRANSPORT_ERRORS:
            reachable = False
        return BrainHealth(brain=self.name, provider=str(self._client.base_url), model=self._model, reachable=reachable)

    async def aclose(self) -> None:
        await self._client.close()
