"""OpenAI-compatible chat completions: Hume EVI's SSE mode, and any "custom LLM" client.

POST /v1/chat/completions (and /chat/completions, where a client appends the path to a bare base
URL). The last user message is the turn; its prosody scores (Hume) are the appraisal; the
messages before it are the conversation as the client heard it (app/persona/memory.py
reconciles it with the persona's own). With `stream: true` the answer comes as
`chat.completion.chunk` server-sent events, a chunk per piece of the reply as the worker
produces it, ending in `[DONE]`; closing the stream early interrupts the turn (barge-in).
Otherwise as one `chat.completion`. `?custom_session_id=` keeps a session (and its memory)
across calls, and is echoed in `system_fingerprint`. Auth: Bearer CLM_API_KEY.
"""

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from app.api.errors import ApiError
from app.auth.deps import limit_turns_by_ip, services
from app.auth.identity import ID_PATTERN, resolve_user
from app.channels import access
from app.channels.ask import ask, ask_stream
from app.channels.hume.turns import CHANNEL, clean_text, prosody_of, session_of, transcript_of
from app.channels.speech import spoken, spoken_piece
from app.services import Services
from app.turns import Turn

# The turn limit is the router's own, so every path it is mounted at (/chat/completions and
# /v1/chat/completions) has the same.
router = APIRouter(tags=["custom language model"], dependencies=[Depends(limit_turns_by_ip("clm"))])


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str = Field(max_length=32)
    content: str | list[dict[str, Any]] | None = None
    models: dict[str, Any] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field("persona", max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=1000)
    stream: bool = False


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if isinstance(content, list):  # OpenAI content parts
        return " ".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
    return content or ""


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: ChatRequest,
    request: Request,
    custom_session_id: str | None = Query(None, pattern=ID_PATTERN),
    identity_token: str | None = Query(None, max_length=2000),
    svc: Services = Depends(services),
) -> StreamingResponse | dict[str, Any]:
    refusal = access.bearer_refusal(request.headers.get("authorization"), svc.settings.clm_api_key, "chat completions")
    if refusal:
        raise ApiError(401, "unauthorized", refusal, {"WWW-Authenticate": "Bearer"})
    session_key = custom_session_id or f"request-{uuid.uuid4().hex[:12]}"
    last = max((i for i, m in enumerate(body.messages) if m.role == "user"), default=None)
    user = body.messages[last] if last is not None else None
    text = clean_text(_text(user.content)) if user else ""
    prosody = prosody_of({"models": user.models}) if user else {}
    earlier = body.messages[:last] if last is not None else body.messages
    turn = Turn(
        session_id=session_of(session_key),
        user_id=resolve_user(
            "clm", custom_session_id, identity_token, svc.secrets.jwt_secret, f"clm-session:{session_key}"
        ),
        persona_id=svc.settings.persona_id,
        channel=CHANNEL,
        kind="text" if text else "init",
        text=text,
        variables={"prosody": prosody} if prosody else {},
        reply_to=svc.instance_id,
        deadline_at=time.time() + svc.settings.reply_deadline_seconds,
        stream=body.stream,
        transcript=transcript_of((m.role, clean_text(_text(m.content))) for m in earlier),
    )
    completion_id, created = f"chatcmpl-{turn.turn_id}", int(time.time())

    async def answer() -> str:
        reply = await ask(svc, turn)
        return spoken(reply.text) if reply is not None else svc.settings.fallback_text

    if not body.stream:
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": body.model,
            "system_fingerprint": session_key,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": await answer()}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }

    def chunk(delta: dict[str, str], finish: str | None = None) -> str:
        frame = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.model,
            "system_fingerprint": session_key,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(frame)}\n\n"

    async def stream() -> AsyncIterator[str]:
        yield chunk({"role": "assistant"})  # at once: the client knows we are on it
        async for piece in ask_stream(svc, turn):
            if words := spoken_piece(piece):
                yield chunk({"content": words})
        yield chunk({}, "stop")
        yield "data: [DONE]\n\n"

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
