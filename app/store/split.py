"""Split mode: REDIS_URL set, MONGO_URL not.

Turns then cross processes through the shared Redis while each process keeps its own in-memory
mongomock, so they silently disagree: a worker records a turn in its own memory, the API's
conversation stays empty, yet the REST job says it succeeded. Readiness reports it everywhere;
only development may run so (the benchmark's `--store per-process` does, on purpose).
"""

from typing import Literal

from app.settings import Settings

StoreKind = Literal["shared", "embedded", "split"]

SPLIT_PROBLEM = (
    "REDIS_URL is set but MONGO_URL is not: each process keeps its own in-memory database, "
    "so the API and the workers do not share state"
)


class SplitStoreError(RuntimeError):
    """A process outside development was asked to run in split mode."""


def store_kind(settings: Settings) -> StoreKind:
    """shared: MONGO_URL; embedded: one process holds everything; split: see the module."""
    if settings.mongo_url:
        return "shared"
    return "split" if settings.redis_url else "embedded"


def refuse_split_store(settings: Settings) -> None:
    if store_kind(settings) == "split" and settings.app_env != "development":
        raise SplitStoreError(f"{SPLIT_PROBLEM}. Set MONGO_URL; only APP_ENV=development may run without it.")
