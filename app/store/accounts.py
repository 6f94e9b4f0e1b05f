"""Accounts, usernames and auth sessions (refresh-token families).

A username is reserved by inserting a document whose `_id` is the username, which makes the
uniqueness check atomic on any MongoDB (and on mongomock). An email given at claim (Synthetic
Soul clients sign in with one) is reserved the same way, as a second name for the account.
Refresh tokens are stored only as SHA-256 fingerprints; each auth session remembers its current
and previous fingerprint.
Auth sessions and unclaimed guests carry `expires_at` (a date) for their TTL index (retention.py).
"""

import secrets
import time
from datetime import UTC, datetime
from enum import Enum
from typing import Literal

from motor.motor_asyncio import AsyncIOMotorDatabase
from pydantic import BaseModel
from pymongo.errors import DuplicateKeyError

from app.store.mongo import ACCOUNTS, AUTH_SESSIONS, USERNAMES
from app.store.retention import DEFAULT_RETENTION, EXPIRES_AT, Retention, after


class Account(BaseModel):
    user_id: str
    username: str | None = None
    password_hash: str | None = None
    role: Literal["user", "admin"] = "user"
    guest: bool = True
    created_at: datetime

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None


class UsernameTaken(Exception):
    """The username, or the email, is another account's (`args[0]` is the name)."""


class AlreadyClaimed(Exception):
    pass


RETIRED_KEPT = 32  # rotated-out refresh tokens remembered per session, to recognise a replayed one


class Refresh(Enum):
    ROTATED = "rotated"  # the current token: a new one replaces it
    GRACE = "grace"  # the token just replaced, within the grace window: access only
    REUSED = "reused"  # a token this session once had, already rotated out: the session is revoked
    INVALID = "invalid"  # unknown, expired or revoked session, or a token never issued for it


def _as_date(expires_at: datetime | float) -> datetime:
    """Epoch seconds are what auth sessions held before their TTL index (ensure_indexes converts
    them; an older replica may still write one during a rolling upgrade)."""
    return datetime.fromtimestamp(expires_at, UTC) if isinstance(expires_at, int | float) else expires_at


class AccountStore:
    def __init__(self, db: AsyncIOMotorDatabase, retention: Retention = DEFAULT_RETENTION) -> None:
        self._accounts = db[ACCOUNTS]
        self._usernames = db[USERNAMES]
        self._sessions = db[AUTH_SESSIONS]
        self._retention = retention

    async def create_guest(self, sign_in_seconds: int) -> Account:
        """A guest, deleted once its sign-in (`sign_in_seconds` long) expired unless claimed."""
        account = Account(user_id=f"u-{secrets.token_hex(8)}", created_at=datetime.now(UTC))
        expires_at = self._retention.guest_expiry(account.created_at, sign_in_seconds)
        doc = {"_id": account.user_id, **account.model_dump(exclude={"user_id"}), EXPIRES_AT: expires_at}
        await self._accounts.insert_one(doc)
        return account

    async def get(self, user_id: str) -> Account | None:
        doc = await self._accounts.find_one({"_id": user_id})
        return Account.model_validate({**doc, "user_id": doc["_id"]}) if doc else None

    async def by_username(self, username: str) -> Account | None:
        """By username or by the email it was claimed with."""
        doc = await self._usernames.find_one({"_id": username.lower()})
        return await self.get(doc["user_id"]) if doc else None

    async def _release(self, names: list[str], user_id: str) -> None:
        await self._usernames.delete_many({"_id": {"$in": names}, "user_id": user_id})

    async def _reserve(self, names: list[str], user_id: str) -> None:
        """All the names or none of them."""
        for i, name in enumerate(names):
            try:
                await self._usernames.insert_one({"_id": name, "user_id": user_id})
            except DuplicateKeyError:
                await self._release(names[:i], user_id)
                raise UsernameTaken(name) from None

    async def claim(self, user_id: str, username: str, password_hash: str, email: str | None = None) -> Account:
        """Give a guest a username (and an email to sign in with) and a password; refuse accounts
        that already have a password."""
        account = await self.get(user_id)
        if account is None or account.has_password:
            raise AlreadyClaimed
        names = [username.lower()] + ([email.lower()] if email else [])
        await self._reserve(names, user_id)
        result = await self._accounts.update_one(
            {"_id": user_id, "password_hash": None},
            {
                "$set": {"username": username, "password_hash": password_hash, "guest": False},
                "$unset": {EXPIRES_AT: ""},
            },
        )
        if result.matched_count != 1:  # claimed concurrently: give the names back
            await self._release(names, user_id)
            raise AlreadyClaimed
        claimed = await self.get(user_id)
        assert claimed is not None
        return claimed

    async def start_session(self, user_id: str, fingerprint: str, session_id: str, ttl_seconds: int) -> None:
        now = time.time()
        await self._sessions.insert_one(
            {
                "_id": session_id,
                "user_id": user_id,
                "current": fingerprint,
                "previous": None,
                "rotated_at": now,
                "revoked": False,
                EXPIRES_AT: after(ttl_seconds),
            }
        )

    async def session_owner(self, session_id: str) -> str | None:
        doc = await self._sessions.find_one({"_id": session_id})
        return doc["user_id"] if doc else None

    async def rotate(self, session_id: str, presented: str, replacement: str, grace_seconds: float) -> Refresh:
        doc = await self._sessions.find_one({"_id": session_id})
        now = time.time()
        if doc is None or doc["revoked"] or _as_date(doc[EXPIRES_AT]) < datetime.now(UTC):
            return Refresh.INVALID
        if presented == doc["current"]:
            swapped = await self._sessions.update_one(
                {"_id": session_id, "current": presented, "revoked": False},
                {
                    "$set": {"current": replacement, "previous": presented, "rotated_at": now},
                    "$push": {"retired": {"$each": [presented], "$slice": -RETIRED_KEPT}},
                },
            )
            if swapped.matched_count == 1:
                return Refresh.ROTATED
            doc = await self._sessions.find_one({"_id": session_id}) or doc  # another tab won the race
        if presented == doc.get("previous") and now - doc["rotated_at"] <= grace_seconds:
            return Refresh.GRACE
        if presented not in doc.get("retired", []):
            return Refresh.INVALID  # never issued for this session: a guess, not a stolen token
        await self.revoke(session_id)
        return Refresh.REUSED

    async def revoke(self, session_id: str) -> None:
        await self._sessions.update_one({"_id": session_id}, {"$set": {"revoked": True}})
