"""Operators: any session's record and history, including Soul Machines sessions."""

import asyncio
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from app.api.errors import ApiError
from app.api.v1.agents import ThoughtOut, as_of_now, mood_summary
from app.api.v1.messages import Conversation, conversation_page
from app.auth.deps import require_operator, services
from app.services import Services
from app.store.history import HistoryEntry

router = APIRouter(prefix="/sessions", tags=["operators"], dependencies=[Depends(require_operator)])


class RelationshipOut(BaseModel):
    label: str
    affinity: float
    trust: float
    familiarity: float
    interactions: int
    last_seen: float | None
    summary: str
    feelings: dict[str, float]  # what the persona feels talking to this user


class FactOut(BaseModel):
    kind: str
    value: str
    importance: float


class TurnInsight(BaseModel):
    """One turn as the console charts it: what was said, how the persona felt after, what it recalled."""

    turn_id: str
    kind: str
    input_text: str
    output_text: str
    fallback: bool
    flagged: str | None
    crisis: bool
    brain: str | None
    mood: dict[str, float]
    recalled: list[str]
    queued_ms: float  # enqueued -> a worker started it
    processing_ms: float  # started -> history saved
    at: float


class SessionPersona(BaseModel):
    session_id: str
    persona_id: str
    persona_name: str
    user_id: str
    brain: str
    emotions: dict[str, float]
    baseline: dict[str, float]
    mood: str
    relationship: RelationshipOut
    facts: list[FactOut]
    turns: list[TurnInsight]
    thought: ThoughtOut | None


def _insight(entry: HistoryEntry) -> TurnInsight:
    return TurnInsight(
        **entry.model_dump(include={"turn_id", "kind", "input_text", "output_text", "fallback", "flagged", "crisis"}),
        brain=entry.brain,
        mood=entry.mood,
        recalled=entry.recalled,
        queued_ms=round((entry.started_at - entry.enqueued_at) * 1000, 2),
        processing_ms=round((entry.finished_at - entry.started_at) * 1000, 2),
        at=entry.finished_at,
    )


def _session(doc: dict[str, Any]) -> dict[str, Any]:
    doc["session_id"] = doc.pop("_id")
    return doc


@router.get("")
async def list_sessions(
    channel: str | None = Query(None, max_length=32),
    user_id: str | None = Query(None, max_length=128),
    since: datetime | None = Query(None),
    until: datetime | None = Query(None),
    crisis: bool = Query(False, description="only sessions with a turn that spoke of a crisis"),
    limit: int = Query(50, ge=1, le=500),
    svc: Services = Depends(services),
) -> dict[str, list[dict[str, Any]]]:
    among = await svc.history.crisis_sessions() if crisis else None
    docs = await svc.sessions.search(channel, user_id, since, until, limit, among)
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


@router.get("/{session_id}/persona", response_model=SessionPersona)
async def session_persona(
    session_id: str, turns: int = Query(100, ge=1, le=200), svc: Services = Depends(services)
) -> SessionPersona:
    """What the persona feels, knows and remembers in this session: the console's side panel."""
    session = await svc.sessions.get(session_id)
    if session is None:
        raise ApiError(404, "not_found", "no such session")
    profile = svc.catalog.get(session.get("persona_id") or svc.catalog.default_id)
    state, entries, thoughts = await asyncio.gather(
        svc.state.read_turn(profile, session["user_id"], session_id),  # what a turn reads, in one query
        svc.history.for_session(session_id, limit=turns),
        svc.thoughts.latest(profile.persona_id, 1),
    )
    emotion, relationship, memory = as_of_now(state.mood), state.relationship.value, state.user_memory.value
    user_info = session.get("user_info")
    chosen = user_info.get("brain") if isinstance(user_info, dict) else None
    return SessionPersona(
        session_id=session_id,
        persona_id=profile.persona_id,
        persona_name=profile.name,
        user_id=session["user_id"],
        brain=chosen if chosen in svc.brains.names else svc.brains.default_name,
        emotions=emotion.shown(),
        baseline=profile.baseline,
        mood=mood_summary(emotion, profile.baseline),
        relationship=RelationshipOut(label=relationship.label, **relationship.model_dump()),
        facts=[FactOut(kind=f.kind, value=f.value, importance=f.importance) for f in memory.facts],
        turns=[_insight(entry) for entry in entries],
        thought=ThoughtOut.of(thoughts[0]) if thoughts else None,
    )
