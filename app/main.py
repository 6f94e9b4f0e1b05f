"""create_app(): routers and the lifespan that builds the process's services. Nothing else."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import logs
from app.api.v1 import meta
from app.channels.soulmachines import endpoint as soulmachines
from app.services import start_services, stop_services
from app.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logs.configure(settings.log_level)
        app.state.services = await start_services(settings)
        try:
            yield
        finally:
            await stop_services(app.state.services)

    app = FastAPI(title="Persona backend", version="0.1.0", lifespan=lifespan)
    app.include_router(soulmachines.router)
    app.include_router(meta.router, prefix="/v1")
    return app


app = create_app()
