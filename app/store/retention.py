"""What expires, and when: the dates MongoDB's TTL indexes delete documents at.

Each expiring document carries `expires_at`, a BSON date, and its collection one TTL index on it
with `expireAfterSeconds: 0` (mongo.py): the server deletes the document within a minute or so
after that date. A document without the field is kept. The policy is applied when a document is
written, so changing a retention setting needs no index rebuilt and acts on what is written next.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EXPIRES_AT = "expires_at"

DAY = 24 * 3600
ANONYMOUS_RETENTION_SECONDS = 30 * DAY
GUEST_RETENTION_SECONDS = 7 * DAY
THOUGHT_RETENTION_SECONDS = 30 * DAY

# The users the doors make up when a session names nobody (app/auth/identity.py resolve_user's
# `anonymous`): one per session, so nobody can come back to what such a session leaves.
_ANONYMOUS_USER = re.compile(r"^(sm|skills|clm)-session:")


def is_anonymous(user_id: str) -> bool:
    return _ANONYMOUS_USER.match(user_id) is not None


def after(seconds: float, start: datetime | None = None) -> datetime:
    """The date `seconds` after `start` (default: now), in UTC."""
    return (start or datetime.now(UTC)) + timedelta(seconds=seconds)


@dataclass(frozen=True)
class Retention:
    """How long each kind of expiring document is kept (the settings of the same names)."""

    anonymous_seconds: int = ANONYMOUS_RETENTION_SECONDS  # after the anonymous user's last activity
    guest_seconds: int = GUEST_RETENTION_SECONDS  # after the unclaimed guest's sign-in expired
    thought_seconds: int = THOUGHT_RETENTION_SECONDS  # after the thought

    def anonymous_expiry(self, user_id: str) -> datetime | None:
        """When a document of this user's written now expires (a session, its memory, what the
        persona keeps about the user): only an anonymous user's do."""
        return after(self.anonymous_seconds) if is_anonymous(user_id) else None

    def guest_expiry(self, created_at: datetime, sign_in_seconds: int) -> datetime:
        """A guest has no password: the sign-in it was made with is its only way in, so once
        that has expired nobody can reach the account again."""
        return after(sign_in_seconds + self.guest_seconds, created_at)

    def thought_expiry(self, thought_at: datetime) -> datetime:
        return after(self.thought_seconds, thought_at)


DEFAULT_RETENTION = Retention()
