"""Argon2 password hashing with a pepper, run in a thread so the event loop never waits on it."""

import asyncio
import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def _peppered(password: str, pepper: str) -> str:
    """HMAC with the server's pepper: a stolen database alone cannot be brute-forced."""
    return hmac.new(pepper.encode(), password.encode(), hashlib.sha256).hexdigest()


async def hash_password(password: str, pepper: str) -> str:
    return await asyncio.to_thread(_hasher.hash, _peppered(password, pepper))


async def verify_password(stored_hash: str, password: str, pepper: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(stored_hash, _peppered(password, pepper))
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


DUMMY_HASH = _hasher.hash("timing-equaliser")  # verified against when a username is unknown
