"""Argon2 password hashing with a pepper, in a thread and a bounded number at a time.

Each hash takes tens of milliseconds of a core and 64 MiB; hundreds of parallel logins would take
every core and grow the process by gigabytes. A semaphore lets `concurrency` run at once; a
caller that cannot get a slot within `wait_seconds` is told the server is busy (503) at once
instead of queueing behind everyone else.
"""

import asyncio
import hashlib
import hmac
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

T = TypeVar("T")
_hasher = PasswordHasher()
DUMMY_HASH = _hasher.hash("timing-equaliser")  # verified against when a username is unknown


class HashingBusy(RuntimeError):
    """Every hashing slot stayed taken for the whole wait."""


class Passwords:
    def __init__(self, pepper: str, concurrency: int, wait_seconds: float) -> None:
        self._pepper = pepper
        self._slots = asyncio.Semaphore(concurrency)
        self._wait = wait_seconds

    def _peppered(self, password: str) -> str:
        """HMAC with the server's pepper: a stolen database alone cannot be brute-forced."""
        return hmac.new(self._pepper.encode(), password.encode(), hashlib.sha256).hexdigest()

    async def hash(self, password: str) -> str:
        return await self._in_slot(lambda: _hasher.hash(self._peppered(password)))

    async def verify(self, stored_hash: str, password: str) -> bool:
        def check() -> bool:
            try:
                return _hasher.verify(stored_hash, self._peppered(password))
            except (VerificationError, InvalidHashError):
                return False

        return await self._in_slot(check)

    async def _in_slot(self, work: Callable[[], T]) -> T:
        try:
            await asyncio.wait_for(self._slots.acquire(), self._wait)
        except TimeoutError:
            raise HashingBusy("every password-hashing slot is busy") from None
        try:
            return await asyncio.to_thread(work)
        finally:
            self._slots.release()
