"""Who the user behind a turn is, trusted only as far as the door that carried the claim.

Each door is its own trust domain. An id a client asserts at a door (a scene's `userInfo.id`, a
Skills `userIdentity.id`, Hume's `custom_session_id`) is namespaced by that door (`sm:`, `skills:`,
`clm:`), so it can never name a REST account (whose ids are bare, issued by us) nor a user of
another door. Linking one person across doors takes proof: a short-lived identity token, signed
with the JWT secret, issued to a signed-in REST user (or by an operator for any user), which the
other door's client presents. The token names the account; its holder is that user there.
"""

import re
import time

import jwt

ALGORITHM = "HS256"
TOKEN_TYPE = "identity"
AUDIENCE = "persona-doors"
# The ids a door accepts from a client (session ids, asserted user ids): what they are in
# practice (UUIDs, slugs) and nothing that can forge a log line or a key.
ID_PATTERN = r"^[A-Za-z0-9_.:@+=-]{1,128}$"
_ID = re.compile(ID_PATTERN)


def valid_id(value: str) -> bool:
    return bool(_ID.fullmatch(value))


def door_user(door: str, claimed: str) -> str:
    """The user a door's unproven claim names: in that door's namespace only."""
    return f"{door}:{claimed}"


def issue_identity_token(user_id: str, secret: str, ttl_seconds: int) -> str:
    now = int(time.time())
    claims = {"sub": user_id, "typ": TOKEN_TYPE, "aud": AUDIENCE, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_identity_token(token: str, secret: str) -> str | None:
    """The account a valid, unexpired identity token names; None for anything else."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], audience=AUDIENCE, options={"require": ["exp", "sub", "aud"]}
        )
    except jwt.InvalidTokenError:
        return None
    if claims.get("typ") != TOKEN_TYPE or not isinstance(claims.get("sub"), str):
        return None
    return claims["sub"]


def resolve_user(door: str, claimed: str | None, token: str | None, secret: str, anonymous: str) -> str:
    """A verified identity token wins; else the door-namespaced claim; else `anonymous`."""
    if token:
        linked = verify_identity_token(token, secret)
        if linked is not None:
            return linked
    if claimed and valid_id(claimed):
        return door_user(door, claimed)
    return anonymous
