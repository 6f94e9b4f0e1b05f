"""Shared fixtures: an in-memory database per test, or a real one when MONGO_URL is set."""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

from app.store.mongo import connect, ensure_indexes

if TYPE_CHECKING:
    from app.turns import Reply, Turn
    from worker.turns import TurnProcessor


@pytest.fixture
async def db() -> AsyncIterator[Any]:
    """mongomock-motor by default; a throw-away database on a real server when MONGO_URL is set."""
    client, database = connect(os.environ.get("MONGO_URL"), f"test_{uuid.uuid4().hex[:10]}")
    await ensure_indexes(database)
    yield database
    if os.environ.get("MONGO_URL"):
        await client.drop_database(database.name)
    client.close()


class YieldingCollection:
    """Wraps a collection so every call yields to the loop first, as a network round trip would.

    mongomock answers synchronously, so without this concurrent coroutines never interleave and
    a lost-update bug could not show.
    """

    def __init__(self, collection: Any) -> None:
        self._collection = collection

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._collection, name)
        if not callable(attr) or name in ("find", "aggregate"):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0)
            result = await attr(*args, **kwargs)
            await asyncio.sleep(0)
            return result

        return call


@pytest.fixture
def yielding() -> type[YieldingCollection]:
    return YieldingCollection


class YieldingDatabase:
    """A database whose collections are YieldingCollections."""

    def __init__(self, database: Any) -> None:
        self._database = database

    def __getitem__(self, name: str) -> YieldingCollection:
        return YieldingCollection(self._database[name])


def make_turn(session_id: str = "s1", text: str = "hello", **fields: Any) -> Any:
    from app.turns import Turn

    values = {"user_id": f"user-of-{session_id}", "persona_id": "default", "channel": "test", "reply_to": "api-1"}
    return Turn(session_id=session_id, text=text, **(values | fields))


async def process(processor: "TurnProcessor", turn: "Turn") -> "Reply | None":
    """A whole turn as a worker runs it, without the queue: answered, then settled (the worker
    publishes in between)."""
    answer = await processor.answer(turn)
    await processor.settle(turn, answer)
    return answer.reply
