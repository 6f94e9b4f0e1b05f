"""Version-checked, idempotent updates of one model stored in one document field.

The change is a pure function applied to the state read just before the write, and the write
succeeds only if nobody wrote in between (else: read again, apply again). Each write also records
the operation id (a turn id), so a job that runs twice applies its change once. `updated_at` is
epoch seconds, like the models' own times.
"""

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from motor.motor_asyncio import AsyncIOMotorCollection
from pydantic import BaseModel
from pymongo.errors import DuplicateKeyError

from app.store.retention import EXPIRES_AT

M = TypeVar("M", bound=BaseModel)

# How many recent operation ids a document remembers, by default. A retried operation older
# than the window would apply twice; see StateStore for the window each document gets.
APPLIED_OPS_KEPT = 16
MAX_ATTEMPTS = 20
BACKOFF_SECONDS = 0.002  # the first retry waits up to this, doubling each time up to BACKOFF_CAP_SECONDS
BACKOFF_CAP_SECONDS = 0.25


class WriteConflictError(RuntimeError):
    """The document kept changing under us for MAX_ATTEMPTS tries."""


@dataclass(frozen=True)
class Snapshot(Generic[M]):
    """A model as read, with what a version-checked write of it needs."""

    value: M
    exists: bool  # is there a document at all (possibly without this field yet)
    version: int  # 0 until the first versioned write


async def read(
    collection: AsyncIOMotorCollection, doc_id: str, field: str, model: type[M], default: Callable[[], M]
) -> Snapshot[M]:
    doc = await collection.find_one({"_id": doc_id}, {field: 1, "version": 1})  # not what shares the document
    return parse(doc, field, model, default)


def parse(doc: Mapping[str, Any] | None, field: str, model: type[M], default: Callable[[], M]) -> Snapshot[M]:
    """The model a stored document holds, with its version (None: no document yet)."""
    if doc is None:
        return Snapshot(default(), exists=False, version=0)
    value = model.model_validate(doc[field]) if field in doc else default()
    return Snapshot(value, exists=True, version=doc.get("version", 0))


async def update(
    collection: AsyncIOMotorCollection,
    doc_id: str,
    field: str,
    model: type[M],
    default: Callable[[], M],
    change: Callable[[M], M],
    op_id: str,
    first: Snapshot[M] | None = None,
    keep_applied: int = APPLIED_OPS_KEPT,
    expires_at: datetime | None = None,
) -> M:
    """Apply `change` to the stored model exactly once for `op_id`; return the stored result.

    The write matches only the version that was read and a document that has not recorded
    `op_id` yet; when it matches nothing, either someone else wrote (read again and retry) or
    this operation was applied before (return what is stored). `first`, a snapshot read earlier
    in the same turn, saves the first read. `expires_at` goes with the write, for the TTL index.
    """
    for attempt in range(MAX_ATTEMPTS):
        if attempt == 0 and first is not None:
            snapshot = first
        else:
            snapshot = await read(collection, doc_id, field, model, default)
        new = change(snapshot.value)
        fields = {field: new.model_dump(mode="json"), "version": snapshot.version + 1, "updated_at": time.time()}
        if expires_at is not None:
            fields[EXPIRES_AT] = expires_at
        if not snapshot.exists:
            try:
                await collection.insert_one({"_id": doc_id, **fields, "applied": [op_id]})
                return new
            except DuplicateKeyError:
                continue
        version = snapshot.version
        version_filter = {"version": version} if version else {"version": {"$exists": False}}
        result = await collection.update_one(
            {"_id": doc_id, **version_filter, "applied": {"$ne": op_id}},
            {"$set": fields, "$push": {"applied": {"$each": [op_id], "$slice": -keep_applied}}},
        )
        if result.matched_count == 1:
            return new
        if await collection.find_one({"_id": doc_id, "applied": op_id}, {"_id": 1}) is not None:
            return (await read(collection, doc_id, field, model, default)).value
        await asyncio.sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_SECONDS * 2**attempt)))
    raise WriteConflictError(f"{collection.name}/{doc_id}: {MAX_ATTEMPTS} conflicting writes")


@dataclass(frozen=True)
class VersionedModel(Generic[M]):
    """One model kept in one field of the documents of one collection, keyed by `prefix` + key
    (kinds sharing a collection, store/state.py)."""

    collection: AsyncIOMotorCollection
    field: str
    model: type[M]
    keep_applied: int = APPLIED_OPS_KEPT
    expiry: Callable[[str], datetime | None] = lambda key: None  # a document's expires_at, by its key
    prefix: str = ""

    def doc_id(self, key: str) -> str:
        return self.prefix + key

    def parse(self, doc: Mapping[str, Any] | None, default: Callable[[], M]) -> Snapshot[M]:
        return parse(doc, self.field, self.model, default)

    async def read(self, key: str, default: Callable[[], M]) -> Snapshot[M]:
        return await read(self.collection, self.doc_id(key), self.field, self.model, default)

    async def update(
        self,
        key: str,
        default: Callable[[], M],
        change: Callable[[M], M],
        op_id: str,
        first: Snapshot[M] | None = None,
    ) -> M:
        return await update(
            self.collection,
            self.doc_id(key),
            self.field,
            self.model,
            default,
            change,
            op_id,
            first,
            self.keep_applied,
            self.expiry(key),
        )

    async def delete(self, key: str) -> None:
        """Forget the model. The version moves on too: a writer that read the model before the
        deletion must not match any more, or its write would bring the forgotten state back."""
        await self.collection.update_one(
            {"_id": self.doc_id(key)}, {"$unset": {self.field: ""}, "$inc": {"version": 1}}
        )
