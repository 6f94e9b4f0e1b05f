"""The scene console (`/console`): a local page that plays a Soul Machines scene against `/ws`.

The page itself is static (HTML, JS and vendored libraries, nothing fetched from a CDN); it
speaks the orchestration protocol over `/ws` exactly as a scene does and reads the persona's
side of the session from the operators' API (`/v1/sessions/{id}/persona`). These routes only
serve the page, tell it what this server offers, and hand an operator the orchestration cookie
when `/ws` requires one.
"""

from pathlib import Path

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from app.auth.deps import operator_surface_open, require_operator, services
from app.services import Services

STATIC_DIR = Path(__file__).parent / "static"
router = APIRouter(prefix="/console", tags=["console"])
assets = StaticFiles(directory=STATIC_DIR)


class PersonaChoice(BaseModel):
    persona_id: str
    name: str
    description: str


class ConsoleOptions(BaseModel):
    personas: list[PersonaChoice]
    default_persona: str
    brains: list[str]
    default_brain: str
    operator_key_required: bool  # send X-Admin-Key (or an admin's bearer token) to the operators' API
    socket_cookie_required: bool  # `/ws` wants the orchestration cookie: POST /console/unlock first


@router.get("", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/options", response_model=ConsoleOptions)
async def options(request: Request, svc: Services = Depends(services)) -> ConsoleOptions:
    """What a developer may pick: not a secret, so served without the operator key."""
    catalog = svc.catalog
    personas = [catalog.get(pid) for pid in catalog.ids]
    return ConsoleOptions(
        personas=[PersonaChoice(persona_id=p.persona_id, name=p.name, description=p.description) for p in personas],
        default_persona=catalog.default_id,
        brains=svc.brains.names,
        default_brain=svc.brains.default_name,
        operator_key_required=not operator_surface_open(request, svc),
        socket_cookie_required=svc.settings.sm_shared_secret is not None,
    )


@router.post("/unlock", status_code=204, dependencies=[Depends(require_operator)])
async def unlock(request: Request, svc: Services = Depends(services)) -> Response:
    """Give an operator's browser the orchestration cookie, so its `/ws` is let in like a scene's."""
    response = Response(status_code=204)
    secret = svc.settings.sm_shared_secret
    if secret is not None:
        response.set_cookie(
            svc.settings.sm_cookie_name,
            secret.get_secret_value(),
            path="/ws",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https" or svc.settings.secure_cookies,
        )
    return response
