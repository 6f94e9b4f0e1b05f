"""Short-lived JWT access tokens, and the opaque refresh tokens kept only as hashes."""

import hashlib
import secrets
import time

import jwt
from pydantic import BaseModel

ALGORITHM = "HS256"


class Principal(BaseModel):
    user_id: str
    session_id: str  # the auth session (refresh family) the token belongs to
    role: str = "user"


class TokenError(ValueError):
    pass


def bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def issue_access(principal: Principal, secret: str, ttl_seconds: int) -> str:
    now = int(time.time())
    claims = {
        "sub": principal.user_id,
        "sid": principal.session_id,
        "role": principal.role,
        "typ": "access",
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_access(token: str, secret: str) -> Principal:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "sid"]})
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError("invalid token") from exc
    if claims.get("typ") != "access":
        raise TokenError("not an access token")
    return Principal(user_id=claims["sub"], session_id=claims["sid"], role=claims.get("role", "user"))


def new_refresh_token(session_id: str) -> str:
    return f"{session_id}.{secrets.token_urlsafe(32)}"


def split_refresh_token(token: str) -> tuple[str, str]:
    session_id, _, _ = token.partition(".")
    if not session_id or "." not in token:
        raise TokenError("malformed refresh token")
    return session_id, fingerprint(token)


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
