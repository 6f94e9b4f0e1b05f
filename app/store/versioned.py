"""Version-checked, idempotent updates of one model stored in one document field.

The change is a pure function applied to the state read just before the write, and the write
succeeds only if nobody wrote in between (else: read again, apply again). Each write also records
the operation id (a turn id), so a job that runs twice applies its change once.
"""

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from motor.motor_asyncio import AsyncIOMotorCollection
from pydantic import BaseModel
from pymongo.errors import DuplicateKeyError

M = TypeVar("M", bound=BaseModel)

APPLIED_OPS_KEPT = 64
MAX_ATTEMPTS = 50


class WriteConflictError(RuntimeError):
    """The document kept changing under us for MAX_ATTEMPTS tries."""


async def load(collection: AsyncIOMotorCollection, doc_id: str, field: str, model: type[M], default: M) -> M:
    doc = await collection.find_one({"_id": doc_id}, {field: 1})
    return model.model_validate(doc[field]) if doc and field in doc else default


async def update(
    collection: AsyncIOMotorCollection,
    doc_id: str,
    field: str,
    model: type[M],
    default: Callable[[], M],
    change: Callable[[M], M],
    op_id: str,
) -> M:
    """Apply `change` to the stored model exactly once for `op_id`; return the stored result."""
    for attempt in range(MAX_ATTEMPTS):
        doc = await collection.find_one({"_id": doc_id}, {field: 1, "version": 1, "applied": 1})
        if doc is not None and field in doc and op_id in doc.get("applied", []):
            return model.model_validate(doc[field])
        current = model.model_validate(doc[field]) if doc and field in doc else default()
        version = doc.get("version", 0) if doc else 0
        new = change(current)
        fields = {
            field: new.model_dump(mode="json"),
            "applied": [*(doc.get("applied", []) if doc else []), op_id][-APPLIED_OPS_KEPT:],
            "version": version + 1,
            "updated_at": datetime.now(UTC),
        }
        if doc is None:
            try:
                await collection.insert_one({"_id": doc_id, **fields})
                return new
            except DuplicateKeyError:
                continue
        version_filter = {"version": version} if version else {"version": {"$exists": False}}
        result = await collection.update_one({"_id": doc_id, **version_filter}, {"$set": fields})
        if result.matched_count == 1:
            return new
        await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
    raise WriteConflictError(f"{collection.name}/{doc_id}: {MAX_ATTEMPTS} conflicting writes")
