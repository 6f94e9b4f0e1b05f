"""Service metadata: liveness, readiness, version, brain and queue diagnostics."""

import asyncio

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.api.middleware import API_VERSION
from app.auth.deps import services
from app.brains import BrainHealth
from app.bus.diagnostics import QueueReport, queue_report
from app.services import Services
from app.store.mongo import ping as mongo_ping
from app.store.split import SPLIT_PROBLEM, StoreKind, store_kind

router = APIRouter(tags=["meta"])
probes = APIRouter(tags=["meta"])  # liveness and readiness: never rate-limited (Docker, Caddy poll them)


class PersonaName(BaseModel):
    persona_id: str
    name: str


class Version(BaseModel):
    version: str
    api: str
    policy: str


class Readiness(BaseModel):
    ready: bool
    redis: bool
    mongo: bool
    store: StoreKind  # split: API and workers each hold their own database (never ready)
    problem: str | None = None  # what keeps a split store from being ready


@router.get("/", response_model=PersonaName)
async def active_persona(svc: Services = Depends(services)) -> PersonaName:
    profile = svc.catalog.get(svc.settings.persona_id)
    return PersonaName(persona_id=profile.persona_id, name=profile.name)


@probes.get("/meta/ping")
async def ping() -> dict[str, str]:
    return {"status": "ok"}


@probes.get("/meta/ready", response_model=Readiness, responses={503: {"model": Readiness}})
async def ready(svc: Services = Depends(services)) -> JSONResponse:
    try:
        redis_ok = bool(await asyncio.wait_for(svc.redis.async_client.ping(), 2))
    except Exception:  # any failure to answer means not ready
        redis_ok = False
    mongo_ok = await mongo_ping(svc.db)
    store = store_kind(svc.settings)
    split = store == "split"
    body = Readiness(
        ready=redis_ok and mongo_ok and not split,
        redis=redis_ok,
        mongo=mongo_ok,
        store=store,
        problem=SPLIT_PROBLEM if split else None,
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


@router.get("/meta/version", response_model=Version)
async def version() -> Version:
    return Version(
        version=API_VERSION,
        api="v1",
        policy="semver; /v1 only changes by addition, a breaking change gets /v2 and both run side by side",
    )


@router.get("/meta/llm", response_model=BrainHealth)
async def llm(svc: Services = Depends(services)) -> BrainHealth:
    return await svc.brains.default.health()


@router.get("/meta/queue", response_model=QueueReport)
async def queue(svc: Services = Depends(services)) -> QueueReport:
    settings = svc.settings
    names = [settings.queue_name, settings.thoughts_queue_name]
    return await asyncio.to_thread(
        queue_report, svc.redis.sync_client, names, settings.queue_stale_seconds, settings.worker_ttl_seconds
    )
