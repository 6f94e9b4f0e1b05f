"""Chat over HTTP: submit a message as a queued job; read or delete your conversation."""

import logging

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse
from pydantic import AliasChoices, BaseModel, Field, field_validator
from pymongo.errors import PyMongoError

from app.api.v1.synthetic_soul import SoulConversation, soul_conversation
from app.auth.deps import current_principal, limit_by_user, services
from app.auth.tokens import Principal
from app.logs import short
from app.services import Services
from app.store.history import HistoryEntry
from app.store.state import user_key
from app.turns import Turn

router = APIRouter(prefix="/messages", tags=["messages"])
CHANNEL = "rest"
# A user's most recently active sessions whose turns in flight a deletion waits for.
FORGET_WAITS_FOR_SESSIONS = 200

log = logging.getLogger(__name__)


class SubmitRequest(BaseModel):
    """Ours (`text`) or the Synthetic Soul API's shape (`{"message": ..., "type": "dm"}`)."""

    text: str = Field(min_length=1, max_length=4000, validation_alias=AliasChoices("text", "message"))
    type: str | None = Field(None, max_length=32, description="Synthetic Soul's message type (dm); accepted as is")
    conversation: str = Field("default", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="your conversation's name")
    persona_id: str | None = Field(None, max_length=64)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is blank")
        return value.strip()


class Submitted(BaseModel):
    job_id: str
    status: str
    session_id: str


class Message(BaseModel):
    turn_id: str
    session_id: str
    channel: str
    kind: str
    input_text: str
    output_text: str
    output_cards: dict[str, object]
    fallback: bool
    crisis: bool  # crisis language: the safety answer was given
    interrupted: bool  # the listener barged in: output_text is the part that reached them
    status: str
    at: float


class Conversation(BaseModel):
    messages: list[Message]
    next_cursor: str | None
    conversation: SoulConversation  # the same page as Synthetic Soul clients read it


def conversation_page(entries: list[HistoryEntry], limit: int) -> Conversation:
    """A page of history as the API shows it; a full page points at the one before it."""
    keep = set(Message.model_fields) - {"at"}
    messages = [Message(at=e.started_at, **e.model_dump(include=keep)) for e in entries]
    return Conversation(
        messages=messages,
        next_cursor=entries[0].turn_id if len(entries) == limit else None,
        conversation=soul_conversation(entries),
    )


def session_for(principal: Principal, conversation: str) -> str:
    """A user's REST sessions are theirs by construction: the id embeds their user id."""
    return f"{CHANNEL}:{principal.user_id}:{conversation}"


@router.post("/submit", status_code=202, response_model=Submitted)
async def submit(
    body: SubmitRequest, principal: Principal = Depends(current_principal), svc: Services = Depends(services)
) -> JSONResponse:
    await limit_by_user(principal, svc)
    persona_id = svc.catalog.resolve(body.persona_id)
    session_id = session_for(principal, body.conversation)
    turn = Turn(
        session_id=session_id,
        user_id=principal.user_id,
        persona_id=persona_id,
        channel=CHANNEL,
        text=body.text,
        reply_to=svc.instance_id,
        tracked=True,
        stream=True,  # its words reach GET /v1/jobs/{id}/events as progress events while they come
    )
    await svc.queue.enqueue(turn, owner=principal.user_id, record_ttl=svc.settings.job_record_ttl_seconds)
    # After the enqueue, so the turn does not wait on it: the session's record (for GET
    # /v1/sessions and retention) is what the door knows of it, which the next submit refreshes.
    try:
        await svc.sessions.record(session_id, channel=CHANNEL, user_id=principal.user_id, persona_id=persona_id)
    except PyMongoError as exc:
        log.warning("session record not stored (%s); the turn goes on", short(exc),
                    extra={"session_id": session_id, "turn_id": turn.turn_id})  # fmt: skip
    body_out = Submitted(job_id=turn.turn_id, status="queued", session_id=session_id)
    return JSONResponse(body_out.model_dump(), status_code=202, headers={"Location": f"/v1/jobs/{turn.turn_id}"})


@router.get("/conversation", response_model=Conversation)
async def conversation(
    cursor: str | None = Query(None, max_length=64, description="next_cursor of the previous page"),
    limit: int = Query(50, ge=1, le=200),
    principal: Principal = Depends(current_principal),
    svc: Services = Depends(services),
) -> Conversation:
    """Your turns through every door (REST, Soul Machines, ...), oldest first, paged backwards."""
    entries = await svc.history.for_user(principal.user_id, limit=limit, before=cursor)
    return conversation_page(entries, limit)


@router.delete("/conversation", status_code=204)
async def forget_conversation(
    principal: Principal = Depends(current_principal), svc: Services = Depends(services)
) -> Response:
    """Delete your history everywhere, and what the persona learned from it.

    Turns of yours already queued or running (through any door) are waited for first, up to the
    job timeout, so what they write is deleted too rather than written after the deletion."""
    recent = await svc.sessions.search(
        channel=None, user_id=principal.user_id, since=None, until=None, limit=FORGET_WAITS_FOR_SESSIONS
    )
    if not await svc.queue.drained([s["_id"] for s in recent], within=svc.settings.job_timeout_seconds + 5):
        log.warning("conversation deleted while a turn was still running", extra={"user_id": principal.user_id})
    sessions = await svc.history.delete_for_user(principal.user_id)
    for session_id in sessions:
        await svc.state.session_memory.delete(session_id)
    for persona_id in svc.catalog.ids:
        await svc.state.user_memory.delete(user_key(persona_id, principal.user_id))
        await svc.state.relationship.delete(user_key(persona_id, principal.user_id))
    return Response(status_code=204)
