"""Operators: any session's record and history, including Soul Machines sessions."""

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query

from app.api.errors import ApiError
from app.api.v1.messages import Conversation, conversation_page
from app.auth.deps import require_operator, services
from app.services import Services

router = APIRouter(prefix="/sessions", tags=["operators"], dependencies=[Depends(require_operator)])


def _session(doc: dict[str, Any]) -> dict[str, Any]:
    doc["session_id"] = doc.pop("_id")
    return doc


@router.get("")
async def list_sessions(
    channel: str | None = Query(None, max_length=32),
    user_id: str | None = Query(None, max_length=128),
    since: datetime | None = Query(None),
    until: datetime | None = Query(None),
    limit: int = Query(50, ge=1, le=500),
    svc: Services = Depends(services),
) -> dict[str, list[dict[str, Any]]]:
    docs = await svc.sessions.search(channel, user_id, since, until, limit)
    return {"sessions": [_session(doc) for doc in docs]}


@router.get("/{session_id}/history", response_model=Conversation)
async def session_history(
    session_id: str,
    cursor: str | None = Query(None, max_length=64),
    limit: int = Query(50, ge=1, le=200),
    svc: Services = Depends(services),
) -> Conversation:
    entries = await svc.history.for_session(session_id, limit=limit, before=cursor)
    if not entries and cursor is None and await svc.sessions.get(session_id) is None:
        raise ApiError(404, "not_found", "no such session")
    return conversation_page(entries, limit)
