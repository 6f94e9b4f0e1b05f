"""`GET /metrics`: this API process's Prometheus metrics and the queues', for operators.

Guarded as the other operator surfaces are (X-Admin-Key, an admin sign-in, or development on
loopback without a key), and also open to the admin key as a bearer token: Prometheus and most
scrapers send a bearer credential (`authorization` in a scrape config) more easily than a
custom header. Never rate-limited: a scraper polls on a fixed period.
"""

import asyncio
import hmac

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.auth.deps import require_operator, services
from app.auth.tokens import bearer
from app.observability.metrics import exposition
from app.services import Services

router = APIRouter(tags=["meta"])


async def require_scraper(request: Request, svc: Services = Depends(services)) -> None:
    token = bearer(request.headers.get("authorization"))
    expected = svc.secrets.admin_api_key
    if token and expected and hmac.compare_digest(token.encode(), expected.encode()):
        return
    await require_operator(request, svc)


@router.get("/metrics", dependencies=[Depends(require_scraper)], response_class=Response)
async def metrics(svc: Services = Depends(services)) -> Response:
    names = [svc.settings.queue_name, svc.settings.thoughts_queue_name]
    body = await asyncio.to_thread(exposition, svc.redis.sync_client, names)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
