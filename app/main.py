"""create_app(): routers and the lifespan that builds the process's services. Nothing else."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from app import logs
from app.api import cors, errors
from app.api import docs as api_docs
from app.api import metrics as api_metrics
from app.api.middleware import API_VERSION, RequestContext
from app.api.v1 import agents, auth, jobs, messages, meta, sessions
from app.auth.deps import limit_by_ip
from app.channels.console import routes as console
from app.channels.hume import completions
from app.channels.hume import ws as hume_ws
from app.channels.skills import rest as skills_rest
from app.channels.skills import ws as skills_ws
from app.channels.soulmachines import endpoint as soulmachines
from app.observability import tracing
from app.services import start_services, stop_services
from app.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logs.configure(settings.log_level, settings.log_format)
        app.state.services = await start_services(settings)
        try:
            yield
        finally:
            await stop_services(app.state.services)

    app = FastAPI(
        title="Persona backend",
        version=API_VERSION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        telemetry=tracing.FASTAPI_TELEMETRY,
    )
    app.add_middleware(RequestContext, max_body_bytes=settings.max_body_bytes)
    cors.install(app, settings.cors_allowed_origins)
    errors.install(app)
    for socket_door in (soulmachines.router, skills_ws.router, hume_ws.router):
        app.include_router(socket_door)
    app.include_router(skills_rest.router)
    app.include_router(api_docs.router)
    app.mount(api_docs.ASSETS_PATH, api_docs.assets, name="docs-assets")
    app.include_router(console.router)
    app.mount("/console/static", console.assets, name="console-assets")
    # A turn door, limited by its own router (the same at both paths); the bare path is for
    # clients that append /chat/completions to a base URL.
    for prefix in ("", "/v1"):
        app.include_router(completions.router, prefix=prefix)
    app.include_router(meta.probes, prefix="/v1")
    app.include_router(api_metrics.router)
    per_address = [Depends(limit_by_ip)]
    for router in (meta.router, auth.router, messages.router, jobs.router, sessions.router, agents.router):
        app.include_router(router, prefix="/v1", dependencies=per_address)
    return app


app = create_app()
