"""Liveness: the process is up and serving HTTP."""

from fastapi import APIRouter

router = APIRouter(prefix="/meta", tags=["meta"])


@router.get("/ping")
async def ping() -> dict[str, str]:
    return {"status": "ok"}
