"""The REST skill: /skills/init, /skills/session, /skills/execute, /skills/delete/{projectId}.

Execute waits for the worker's reply up to the reply deadline, then answers NO_MATCH rather than
hanging; a fallback reply is NO_MATCH too, so the platform can route to a fallback skill.
"""

import logging
import time

from fastapi import APIRouter, Depends, Path, Request, Response

from app.api.errors import ApiError
from app.auth.deps import limit_turns_by_ip, services
from app.auth.identity import ID_PATTERN
from app.channels import access
from app.channels.ask import ask
from app.channels.skills import memory
from app.channels.skills.models import (
    ExecuteRequest,
    ExecuteResponse,
    InitRequest,
    Intent,
    Output,
    SessionRequest,
    SessionResponse,
    dump,
)
from app.services import Services
from app.turns import Card, Turn

log = logging.getLogger(__name__)
CHANNEL = "skills"


async def check_key(request: Request, svc: Services = Depends(services)) -> None:
    refusal = access.bearer_refusal(request.headers.get("authorization"), svc.settings.skills_api_key, "skills")
    if refusal:
        raise ApiError(401, "unauthorized", refusal, {"WWW-Authenticate": "Bearer"})


router = APIRouter(
    prefix="/skills",
    tags=["soul machines skills"],
    dependencies=[Depends(check_key), Depends(limit_turns_by_ip("skills"))],
)


def session_of(session_id: str) -> str:
    return f"{CHANNEL}:{session_id}"


def public_cards(cards: dict[str, Card]) -> dict[str, object]:
    """Skills card variables: {cardId: {type, data}} under `public`, ids without a prefix."""
    return {"public": {card_id: {"type": card.kind, "data": card.data} for card_id, card in cards.items()}}


@router.post("/init", status_code=204)
async def init(body: InitRequest) -> Response:
    log.info("skill initialised for project %s (%s)", body.projectId, body.deploymentEnvironment)
    return Response(status_code=204)


@router.post("/session")
async def session(body: SessionRequest, svc: Services = Depends(services)) -> dict[str, object]:
    user_id, _ = memory.user_of(body.memory or [], body.sessionId, svc.secrets.jwt_secret)
    persona_id = svc.catalog.resolve((body.config or {}).get("personaId"))
    await svc.sessions.record(session_of(body.sessionId), channel=CHANNEL, user_id=user_id, persona_id=persona_id)
    return dump(SessionResponse())


@router.post("/execute")
async def execute(body: ExecuteRequest, svc: Services = Depends(services)) -> dict[str, object]:
    user_id, known = memory.user_of(body.memory, body.sessionId, svc.secrets.jwt_secret)
    context = body.context or {}
    turn = Turn(
        session_id=session_of(body.sessionId),
        user_id=user_id,
        persona_id=svc.catalog.resolve((body.config or {}).get("personaId")),
        channel=CHANNEL,
        kind="init" if not body.text.strip() or context.get("kind") == "init" else "text",
        text=body.text,
        variables=context,
        known_facts=known,
        reply_to=svc.instance_id,
        deadline_at=time.time() + svc.settings.reply_deadline_seconds,
    )
    reply = await ask(svc, turn)
    if reply is None:
        text = svc.settings.fallback_text
        missed = ExecuteResponse(
            output=Output(text=text) if text else None, intent=Intent(name="NO_MATCH"), endConversation=False
        )
        return dump(missed)
    written = memory.write_back(body.memory, reply.user_facts)
    return dump(
        ExecuteResponse(
            output=Output(text=reply.text, variables=public_cards(reply.cards) if reply.cards else None),
            intent=Intent(name="NO_MATCH") if reply.fallback else None,
            memory=written or None,
            endConversation=False,
        )
    )


@router.post("/delete/{project_id}", status_code=204)
async def delete(project_id: str = Path(pattern=ID_PATTERN)) -> Response:
    log.info("skill removed from project %s", project_id)
    return Response(status_code=204)
