"""Queued REST jobs: status, a single-use ticket for EventSource, and the event stream.

Events are pushed from Redis pub/sub through the API process's one subscription (no polling
loop per connection); a stream sends keep-alive comments and ends after SSE_MAX_SECONDS.
Someone else's job is a 404, exactly like a job that does not exist.
"""

import asyncio
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sse_starlette import EventSourceResponse, ServerSentEvent

from app.api.errors import ApiError
from app.auth.deps import current_principal, principal_from_token, services
from app.auth.tokens import Principal
from app.bus import jobs, keys
from app.services import Services

router = APIRouter(prefix="/jobs", tags=["jobs"])
EVENT_BUFFER = 32


class Ticket(BaseModel):
    ticket: str
    expires_in: int


async def _owned(svc: Services, job_id: str, user_id: str) -> jobs.JobRecord:
    record = await jobs.get(svc.redis.async_client, job_id)
    if record is None or record.owner != user_id:
        raise ApiError(404, "not_found", "no such job")
    return record


@router.get("/{job_id}", response_model=jobs.JobRecord)
async def get_job(
    job_id: str, principal: Principal = Depends(current_principal), svc: Services = Depends(services)
) -> jobs.JobRecord:
    return await _owned(svc, job_id, principal.user_id)


@router.post("/{job_id}/ticket", response_model=Ticket)
async def ticket(
    job_id: str, principal: Principal = Depends(current_principal), svc: Services = Depends(services)
) -> Ticket:
    """For browsers' EventSource, which cannot send headers: use once, within 30 seconds."""
    await _owned(svc, job_id, principal.user_id)
    issued = await jobs.issue_ticket(svc.redis.async_client, job_id, principal.user_id)
    return Ticket(ticket=issued, expires_in=jobs.TICKET_TTL_SECONDS)


@router.get("/{job_id}/events", response_class=EventSourceResponse)
async def events(
    job_id: str,
    request: Request,
    ticket: str | None = Query(None, max_length=64, description="a ticket from POST /v1/jobs/{id}/ticket"),
    access_token: str | None = Query(
        None, max_length=4096, description="the Synthetic Soul API's way: the access token itself (prefer a ticket)"
    ),
    svc: Services = Depends(services),
) -> EventSourceResponse:
    """`status`, `progress` and `done` events. Authorization header, or for EventSource `?ticket=`
    (single use) or `?access_token=` (as Synthetic Soul clients send it). Query strings stay out
    of the access log (app/logs.py)."""
    if request.headers.get("authorization"):
        user_id = (await current_principal(request, svc)).user_id
    elif access_token:
        user_id = (await principal_from_token(svc, access_token)).user_id
    elif ticket:
        redeemed = await jobs.redeem_ticket(svc.redis.async_client, ticket, job_id)
        if redeemed is None:
            raise ApiError(401, "unauthorized", "ticket invalid, used or expired")
        user_id = redeemed
    else:
        raise ApiError(401, "unauthorized", "missing bearer token or ticket", {"WWW-Authenticate": "Bearer"})

    channel = keys.job_events(job_id)
    inbox: asyncio.Queue[bytes] = asyncio.Queue(EVENT_BUFFER)

    def deliver(raw: bytes) -> None:
        if not inbox.full():  # a client this far behind only needs the final event, which is re-read
            inbox.put_nowait(raw)

    await svc.router.watch(channel, deliver)  # watch first: a job finishing now is not missed
    try:
        record = await _owned(svc, job_id, user_id)
    except ApiError:
        await svc.router.unwatch(channel, deliver)
        raise

    async def stream() -> AsyncIterator[ServerSentEvent]:
        try:
            async for event in _relay(record, inbox, svc.settings.sse_max_seconds):
                yield event
        finally:
            await svc.router.unwatch(channel, deliver)

    return EventSourceResponse(stream(), ping=svc.settings.sse_ping_seconds)


async def _relay(
    record: jobs.JobRecord, inbox: "asyncio.Queue[bytes]", max_seconds: float
) -> AsyncIterator[ServerSentEvent]:
    """The job's status as read, the words said before this listener arrived, then its events
    as they come (each word once), until `done` or `max_seconds`."""
    deadline = time.monotonic() + max_seconds
    yield ServerSentEvent(
        data=jobs.JobEvent(event="status", status=record.status, progress=record.progress).model_dump_json(),
        event="status",
    )
    if record.status in jobs.TERMINAL:
        done = jobs.JobEvent(event="done", status=record.status, progress=1.0, result=record.result, error=record.error)
        yield ServerSentEvent(data=done.model_dump_json(), event="done")
        return
    heard = len(record.words)  # characters of the reply this listener has been sent
    if record.words:
        yield ServerSentEvent(data=jobs.words_event(record.words, 0).model_dump_json(), event="progress")
    while (remaining := deadline - time.monotonic()) > 0:
        try:  # a timeout around the wait only: a generator's yield must not sit inside one
            async with asyncio.timeout(remaining):  # no task per event, unlike wait_for on 3.11
                raw = await inbox.get()
        except TimeoutError:
            break
        event = jobs.unheard(jobs.JobEvent.model_validate_json(raw), heard)
        if event is None:
            continue
        if event.delta is not None and event.offset is not None:
            heard = event.offset + len(event.delta)
        yield ServerSentEvent(data=event.model_dump_json(), event=event.event)
        if event.event == "done":
            return
    yield ServerSentEvent(data='{"reason": "stream lifetime reached; poll GET /v1/jobs/{id}"}', event="timeout")
