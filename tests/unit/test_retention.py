"""Retention: TTL indexes exist, and what should expire carries an `expires_at` date."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.channels.soulmachines.protocol import user_id_for
from app.persona.memory import Exchange, UserMemory
from app.persona.relationship import Relationship
from app.persona.thoughts import Thought
from app.settings import Settings
from app.store import mongo
from app.store.accounts import AccountStore, Refresh
from app.store.mongo import AUTH_SESSIONS, EXPIRING, SESSIONS, ensure_indexes
from app.store.retention import Retention, is_anonymous
from app.store.sessions import SessionStore
from app.store.state import StateStore, user_key
from app.store.thoughts import ThoughtStore

RETENTION = Retention(anonymous_seconds=3 * 3600, guest_seconds=2 * 3600, thought_seconds=5 * 3600)
SECRET = "s" * 32


def near(value: Any, expected: datetime) -> bool:
    """A stored date (mongomock keeps milliseconds, as BSON does) within a few seconds."""
    return isinstance(value, datetime) and abs(value - expected) < timedelta(seconds=5)


def hours(n: float) -> datetime:
    return datetime.now(UTC) + timedelta(hours=n)


async def test_every_expiring_collection_has_a_ttl_index_and_sessions_one_by_recency(db) -> None:
    for name in EXPIRING:
        index = (await db[name].index_information())["expiry"]
        assert index["key"] == [("expires_at", 1)]
        assert index["expireAfterSeconds"] == 0
    assert set(EXPIRING) == {"auth_sessions", "accounts", "sessions", "state", "thoughts"}
    assert (await db[SESSIONS].index_information())["recent"]["key"] == [("updated_at", -1)]
    await ensure_indexes(db)  # idempotent: a second start-up changes nothing


async def test_a_sign_in_expires_as_a_date_and_is_refused_after_it(db) -> None:
    accounts = AccountStore(db, RETENTION)
    await accounts.start_session("u1", "fp1", "a1", ttl_seconds=3600)
    doc = await db[AUTH_SESSIONS].find_one({"_id": "a1"})
    assert near(doc["expires_at"], hours(1))
    assert await accounts.rotate("a1", "fp1", "fp2", grace_seconds=10) is Refresh.ROTATED
    await db[AUTH_SESSIONS].update_one({"_id": "a1"}, {"$set": {"expires_at": hours(-1)}})
    assert await accounts.rotate("a1", "fp2", "fp3", grace_seconds=10) is Refresh.INVALID


async def test_sign_ins_stored_as_epoch_seconds_become_dates_and_still_work(db) -> None:
    legacy = hours(2)
    doc = {"user_id": "u1", "current": "fp1", "previous": None, "rotated_at": 0.0, "revoked": False}
    await db[AUTH_SESSIONS].insert_one({"_id": "old", **doc, "expires_at": legacy.timestamp()})
    await db[AUTH_SESSIONS].insert_one({"_id": "older", **doc, "expires_at": hours(-1).timestamp()})
    accounts = AccountStore(db, RETENTION)
    assert await accounts.rotate("older", "fp1", "fp2", grace_seconds=10) is Refresh.INVALID  # read as it is
    await ensure_indexes(db)
    migrated = await db[AUTH_SESSIONS].find_one({"_id": "old"})
    assert near(migrated["expires_at"], legacy)
    assert await accounts.rotate("old", "fp1", "fp2", grace_seconds=10) is Refresh.ROTATED


async def test_an_unclaimed_guest_expires_after_its_sign_in_and_a_claimed_one_never(db) -> None:
    accounts = AccountStore(db, RETENTION)
    guest = await accounts.create_guest(sign_in_seconds=3600)
    doc = await db["accounts"].find_one({"_id": guest.user_id})
    assert near(doc["expires_at"], guest.created_at + timedelta(hours=1 + 2))
    await accounts.claim(guest.user_id, "Sam", "hash")
    assert "expires_at" not in await db["accounts"].find_one({"_id": guest.user_id})


@pytest.mark.parametrize("door_user", [user_id_for({}, "scene-1", SECRET), "skills-session:s", "clm-session:c"])
async def test_an_anonymous_session_and_its_memory_expire_after_their_last_activity(db, door_user: str) -> None:
    assert is_anonymous(door_user)
    await SessionStore(db, RETENTION).record("s1", channel="c", user_id=door_user, persona_id="p")
    exchange = Exchange(turn_id="t1", user_text="hi", reply_text="hello", at=0.0)
    await StateStore(db, RETENTION).session_memory.append("s1", exchange, [], 6, user_id=door_user)
    assert near((await db[SESSIONS].find_one({"_id": "s1"}))["expires_at"], hours(3))
    assert near((await db["state"].find_one({"_id": "session:s1"}))["expires_at"], hours(3))


async def test_a_named_users_session_and_memory_are_kept(db) -> None:
    named = user_id_for({"id": "sam"}, "scene-1", SECRET)
    assert not is_anonymous(named)
    assert not is_anonymous("u-0123456789abcdef")
    await SessionStore(db, RETENTION).record("s1", channel="c", user_id=named, persona_id="p")
    exchange = Exchange(turn_id="t1", user_text="hi", reply_text="hello", at=0.0)
    await StateStore(db, RETENTION).session_memory.append("s1", exchange, [], 6, user_id=named)
    assert "expires_at" not in await db[SESSIONS].find_one({"_id": "s1"})
    assert "expires_at" not in await db["state"].find_one({"_id": "session:s1"})


@pytest.mark.parametrize(("user", "expires"), [("sm-session:scene-1", True), ("sm:sam", False), ("u-0a1b", False)])
async def test_what_the_persona_keeps_about_an_anonymous_user_expires_with_it(db, user: str, expires: bool) -> None:
    state = StateStore(db, RETENTION)
    key = user_key("default", user)
    await state.relationship.update(key, Relationship, lambda r: r, "t1")
    await state.user_memory.update(key, UserMemory, lambda m: m, "t1")
    await state.relationship.update(key, Relationship, lambda r: r, "t2")  # the update path, not only the insert
    for kind in ("relationship", "memory"):
        doc = await db["state"].find_one({"_id": f"{kind}:{key}"})
        assert near(doc.get("expires_at"), hours(3)) if expires else "expires_at" not in doc


async def test_a_thought_expires_after_its_retention(db) -> None:
    thought = Thought(thought_id="th1", persona_id="default", text="t", mood=None, nudge="n", at=0.0)
    await ThoughtStore(db, RETENTION).append(thought)
    assert near((await db["thoughts"].find_one({"_id": "th1"}))["expires_at"], hours(5))


def test_the_settings_make_the_retention() -> None:
    settings = Settings(anonymous_retention_seconds=7200, guest_retention_seconds=0, thought_retention_seconds=3600)
    assert settings.retention == Retention(anonymous_seconds=7200, guest_seconds=0, thought_seconds=3600)


async def test_the_embedded_store_deletes_expired_documents_once_a_minute_not_on_every_read(db, monkeypatch) -> None:
    clock = [mongo.monotonic() + 3600]  # past any pass the fixture's set-up scheduled
    monkeypatch.setattr(mongo, "monotonic", lambda: clock[0])
    thoughts = db["thoughts"]
    await thoughts.insert_one({"_id": "th1", "expires_at": hours(1)})
    assert await thoughts.find_one({"_id": "th1"}) is not None  # a monitor pass ran: nothing due
    await thoughts.update_one({"_id": "th1"}, {"$set": {"expires_at": hours(-1)}})
    clock[0] += mongo.TTL_MONITOR_SECONDS - 1
    assert await thoughts.find_one({"_id": "th1"}) is not None  # reads in between scan nothing
    clock[0] += 1
    assert await thoughts.find_one({"_id": "th1"}) is None
