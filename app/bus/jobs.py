"""REST jobs: the status record of a queued turn, its event channel, and SSE tickets.

The record (owner, status, result) is written in the same transaction that enqueues the turn, so
no worker can finish a job before its owner is known. Workers update it and publish each change
on the job's channel; API processes relay those events to SSE clients through their single
pub/sub connection.
"""

import json
import secrets
import time
from typing import Any, Literal

import redis.asyncio as aioredis
from pydantic import BaseModel
from redis.asyncio.client import Pipeline
from redis.typing import EncodableT, FieldT

from app.bus import keys
from app.bus.connections import decoded

JobStatus = Literal["queued", "running", "succeeded", "failed"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed"})
TICKET_TTL_SECONDS = 30


class JobRecord(BaseModel):
    job_id: str
    owner: str
    status: JobStatus
    progress: float = 0.0
    created_at: float
    updated_at: float
    result: dict[str, Any] | None = None
    error: str | None = None
    words: str = ""  # the reply's words so far while a streamed turn runs (the result has them all)


class JobEvent(BaseModel):
    event: Literal["progress", "status", "done"]
    status: JobStatus
    progress: float
    result: dict[str, Any] | None = None
    error: str | None = None
    delta: str | None = None  # words of the reply as they come (progress events of a streamed turn)
    offset: int | None = None  # where `delta` starts in the reply, in characters


def _record(job_id: str, raw: dict[bytes | str, bytes | str]) -> JobRecord | None:
    if not raw:
        return None
    fields = {decoded(k): decoded(v) for k, v in raw.items()}
    return JobRecord(
        job_id=job_id,
        owner=fields["owner"],
        status=fields["status"],
        progress=float(fields.get("progress", 0)),
        created_at=float(fields["created_at"]),
        updated_at=float(fields.get("updated_at", fields["created_at"])),
        result=json.loads(fields["result"]) if fields.get("result") else None,
        error=fields.get("error") or None,
        words=fields.get("words", ""),
    )


async def get(client: aioredis.Redis, job_id: str) -> JobRecord | None:
    return _record(job_id, await client.hgetall(keys.job_record(job_id)))


async def update(
    client: aioredis.Redis,
    job_id: str,
    status: JobStatus,
    progress: float,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Worker side: record the new status and tell whoever listens, in one round trip."""
    event = JobEvent(
        event="done" if status in TERMINAL else ("status" if progress == 0 else "progress"),
        status=status,
        progress=progress,
        result=result,
        error=error,
    )
    fields: dict[FieldT, EncodableT] = {"status": status, "progress": progress, "updated_at": time.time()}
    if result is not None:
        fields["result"] = json.dumps(result)
    if error is not None:
        fields["error"] = error
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(keys.job_record(job_id), mapping=fields)
        pipe.publish(keys.job_events(job_id), event.model_dump_json())
        await pipe.execute()


def words_event(delta: str, offset: int) -> JobEvent:
    """A progress event carrying words of the reply, `offset` characters into it."""
    return JobEvent(event="progress", status="running", progress=0.5, delta=delta, offset=offset)


async def publish_words(client: aioredis.Redis, job_id: str, words: str, offset: int, said: str) -> None:
    """Worker side: words of the job's reply as they come (`words`, at `offset`), to whoever
    listens, and everything `said` so far into the record, in one round trip: a listener who
    arrives late (its events request reached the API after the first words) starts from there."""
    event = words_event(words, offset)
    async with client.pipeline(transaction=False) as pipe:
        pipe.hset(keys.job_record(job_id), "words", said)
        pipe.publish(keys.job_events(job_id), event.model_dump_json(exclude_none=True))
        await pipe.execute()


def unheard(event: JobEvent, heard: int) -> JobEvent | None:
    """API side: what of a progress event a listener who has `heard` characters still needs
    (None: all of it came with the words so far). A gap past `heard` passes as it is: the
    final event carries the whole reply."""
    if event.delta is None or event.offset is None:
        return event
    if event.offset + len(event.delta) <= heard:
        return None
    if event.offset >= heard:
        return event
    return event.model_copy(update={"delta": event.delta[heard - event.offset :], "offset": heard})


def create_record(pipe: Pipeline, job_id: str, owner: str, ttl: int, now: float) -> None:
    """A REST job's record, written in the transaction that queues its turn, so no worker can
    finish the job before its owner is known."""
    record = keys.job_record(job_id)
    pipe.hset(record, mapping={"owner": owner, "status": "queued", "progress": 0, "created_at": now})
    pipe.expire(record, ttl)


async def issue_ticket(client: aioredis.Redis, job_id: str, user_id: str) -> str:
    """A short-lived, single-use credential for EventSource, which cannot send headers."""
    ticket = secrets.token_urlsafe(24)
    await client.set(keys.sse_ticket(ticket), f"{job_id}|{user_id}", ex=TICKET_TTL_SECONDS)
    return ticket


async def redeem_ticket(client: aioredis.Redis, ticket: str, job_id: str) -> str | None:
    """The ticket's user if it was issued for this job; it cannot be used twice."""
    value = await client.getdel(keys.sse_ticket(ticket))
    if value is None:
        return None
    ticket_job, _, user_id = decoded(value).partition("|")
    return user_id if ticket_job == job_id else None
