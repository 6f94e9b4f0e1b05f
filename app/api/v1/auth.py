"""Accounts and sessions: guests, login, claim, refresh, logout, me.

Access tokens are short-lived JWTs sent as `Authorization: Bearer`. Refresh tokens live in an
httponly cookie scoped to /v1/auth, rotate on every use, and a reused one revokes its whole
session (a grace window lets two tabs refresh at once); a wrong value that was never issued is
refused without touching the session. Cookie-authenticated calls need the CSRF double-submit:
the `csrf_token` cookie (readable by the page's script, path /) echoed in the `X-CSRF-Token`
header. The token is an HMAC of the auth session's id, so a pair planted by another site (a
cookie it set and the header it sends) does not match the session the refresh cookie names.
Logout revokes the session: its access tokens stop working at once.
"""

import hashlib
import hmac
import uuid
from typing import Annotated, Literal, TypedDict

from fastapi import APIRouter, Depends, Request, Response
from pydantic import AliasChoices, BaseModel, Field

from app.api.errors import ApiError
from app.auth.deps import address_block, current_principal, operator_key_valid, services
from app.auth.identity import issue_identity_token
from app.auth.passwords import DUMMY_HASH, HashingBusy
from app.auth.tokens import (
    Principal,
    TokenError,
    bearer,
    fingerprint,
    issue_access,
    new_refresh_token,
    split_refresh_token,
)
from app.bus.limits import revoke_session
from app.services import Services
from app.store.accounts import Account, AlreadyClaimed, Refresh, UsernameTaken

router = APIRouter(prefix="/auth", tags=["auth"])
REFRESH_COOKIE = "refresh_token"
CSRF_COOKIE = "csrf_token"
# The same token under the name Synthetic Soul clients read before they refresh.
CSRF_COOKIES = (CSRF_COOKIE, "refresh_csrf")
CSRF_HEADER = "x-csrf-token"


Password = Annotated[str, Field(min_length=8, max_length=256)]


class Credentials(BaseModel):
    """Claim: a username, and optionally an email to sign in with (Synthetic Soul clients send one)."""

    username: str = Field(min_length=3, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    password: Password
    email: str | None = Field(None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SignIn(BaseModel):
    """Login by username, or by email as Synthetic Soul clients do (`{email, password}`)."""

    username: str = Field(
        min_length=3, max_length=254, pattern=r"^[A-Za-z0-9_.@+-]+$", validation_alias=AliasChoices("username", "email")
    )
    password: Password


class UserOut(BaseModel):
    user_id: str
    username: str | None
    guest: bool
    role: str


class ClaimedOut(UserOut):
    """The account, and an access token for it: Synthetic Soul clients replace theirs with it."""

    access_token: str
    expires_in: int


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    user: UserOut
    username: str | None  # user.username again, where the Synthetic Soul API puts it


def _user(account: Account) -> UserOut:
    return UserOut(user_id=account.user_id, username=account.username, guest=account.guest, role=account.role)


def _csrf_token(svc: Services, session_id: str) -> str:
    return hmac.new(svc.secrets.jwt_secret.encode(), f"csrf:{session_id}".encode(), hashlib.sha256).hexdigest()


class _CookieOptions(TypedDict):
    max_age: int
    secure: bool
    samesite: Literal["strict"]


def _set_cookies(response: Response, svc: Services, refresh_token: str, session_id: str) -> None:
    secure = svc.settings.secure_cookies
    max_age = svc.settings.refresh_token_ttl_seconds
    cookie: _CookieOptions = {"max_age": max_age, "secure": secure, "samesite": "strict"}
    response.set_cookie(REFRESH_COOKIE, refresh_token, httponly=True, path="/v1/auth", **cookie)
    # Readable by the page's script (path /, not httponly): it echoes it in X-CSRF-Token.
    for name in CSRF_COOKIES:
        response.set_cookie(name, _csrf_token(svc, session_id), httponly=False, path="/", **cookie)


def _clear_cookies(response: Response) -> None:
    response.delete_cookie(REFRESH_COOKIE, path="/v1/auth")
    for name in CSRF_COOKIES:
        response.delete_cookie(name, path="/")


def _access(svc: Services, account: Account, session_id: str) -> TokenOut:
    principal = Principal(user_id=account.user_id, session_id=session_id, role=account.role)
    ttl = svc.settings.access_token_ttl_seconds
    token = issue_access(principal, svc.secrets.jwt_secret, ttl)
    return TokenOut(access_token=token, expires_in=ttl, user=_user(account), username=account.username)


async def _start(svc: Services, account: Account, response: Response) -> TokenOut:
    session_id = uuid.uuid4().hex
    refresh_token = new_refresh_token(session_id)
    ttl = svc.settings.refresh_token_ttl_seconds
    await svc.accounts.start_session(account.user_id, fingerprint(refresh_token), session_id, ttl)
    _set_cookies(response, svc, refresh_token, session_id)
    return _access(svc, account, session_id)


def _check_csrf(request: Request, svc: Services, session_id: str) -> None:
    """The header must carry this auth session's token (the page read it from its cookie)."""
    header = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(_csrf_token(svc, session_id).encode(), header.encode()):
        raise ApiError(403, "csrf_failed", "missing or mismatched CSRF token")


@router.post("/guest", response_model=TokenOut, status_code=201)
async def guest(request: Request, response: Response, svc: Services = Depends(services)) -> TokenOut:
    wait = await svc.limiter.hit("guest", address_block(request), svc.settings.guests_per_ip_per_hour, 3600)
    if wait is not None:
        raise ApiError(429, "rate_limited", "too many guest accounts from this address", {"Retry-After": str(wait)})
    return await _start(svc, await svc.accounts.create_guest(svc.settings.refresh_token_ttl_seconds), response)


def _busy() -> ApiError:
    return ApiError(503, "busy", "too many sign-ins at once; retry shortly", {"Retry-After": "1"})


@router.post("/login", response_model=TokenOut)
async def login(body: SignIn, response: Response, svc: Services = Depends(services)) -> TokenOut:
    """Per account as well as per address (the router's limit): guessing one account's password
    from many addresses is bounded too. Counted before any hashing."""
    account = await svc.accounts.by_username(body.username)
    limit = svc.settings.login_attempts_per_account_per_minute
    counted = account.user_id if account else body.username.lower()  # its username and email share a count
    wait = await svc.limiter.hit("login", counted, limit, 60)
    if wait is not None:
        raise ApiError(429, "rate_limited", "too many sign-in attempts for this account", {"Retry-After": str(wait)})
    stored = account.password_hash if account and account.password_hash else DUMMY_HASH  # same work either way
    try:
        verified = await svc.passwords.verify(stored, body.password)
    except HashingBusy:
        raise _busy() from None
    if not verified or account is None:
        raise ApiError(401, "invalid_credentials", "wrong username or password")
    return await _start(svc, account, response)


@router.post("/claim", response_model=ClaimedOut)
async def claim(
    body: Credentials, principal: Principal = Depends(current_principal), svc: Services = Depends(services)
) -> ClaimedOut:
    """Turn the calling guest into a password account; an account with a password cannot be claimed."""
    account = await svc.accounts.get(principal.user_id)
    if account is not None and account.password_hash:  # refused before hashing: no CPU for the asking
        raise ApiError(409, "already_claimed", "this account already has a password")
    try:
        password_hash = await svc.passwords.hash(body.password)
    except HashingBusy:
        raise _busy() from None
    try:
        claimed = await svc.accounts.claim(principal.user_id, body.username, password_hash, body.email)
    except AlreadyClaimed:
        raise ApiError(409, "already_claimed", "this account already has a password") from None
    except UsernameTaken as taken:
        if "@" in taken.args[0]:
            raise ApiError(409, "email_in_use", "that email is another account's") from None
        raise ApiError(409, "username_taken", "that username is taken") from None
    token = _access(svc, claimed, principal.session_id)  # same session: its refresh cookie still holds
    return ClaimedOut(**token.user.model_dump(), access_token=token.access_token, expires_in=token.expires_in)


@router.post("/refresh", response_model=TokenOut)
async def refresh(request: Request, response: Response, svc: Services = Depends(services)) -> TokenOut:
    try:
        session_id, presented = split_refresh_token(request.cookies.get(REFRESH_COOKIE, ""))
    except TokenError:
        raise ApiError(401, "unauthorized", "missing or malformed refresh token") from None
    _check_csrf(request, svc, session_id)
    replacement = new_refresh_token(session_id)
    outcome = await svc.accounts.rotate(
        session_id, presented, fingerprint(replacement), svc.settings.refresh_grace_seconds
    )
    if outcome in (Refresh.REUSED, Refresh.INVALID):
        if outcome is Refresh.REUSED:
            await revoke_session(svc.redis.async_client, session_id, svc.settings.access_token_ttl_seconds)
        _clear_cookies(response)
        raise ApiError(401, "unauthorized", "refresh token reused or revoked; sign in again")
    owner = await svc.accounts.session_owner(session_id)
    account = await svc.accounts.get(owner) if owner else None
    if account is None:
        raise ApiError(401, "unauthorized", "unknown account")
    if outcome is Refresh.ROTATED:
        _set_cookies(response, svc, replacement, session_id)
    return _access(svc, account, session_id)


@router.post("/logout", status_code=204)
async def logout(request: Request, svc: Services = Depends(services)) -> Response:
    """Revoke the session named by the bearer token, or by the refresh cookie (with CSRF)."""
    if bearer(request.headers.get("authorization")) is not None:
        session_id = (await current_principal(request, svc)).session_id
    else:
        try:
            session_id, _ = split_refresh_token(request.cookies.get(REFRESH_COOKIE, ""))
        except TokenError:
            raise ApiError(401, "unauthorized", "nothing to log out") from None
        _check_csrf(request, svc, session_id)
    await svc.accounts.revoke(session_id)
    await revoke_session(svc.redis.async_client, session_id, svc.settings.access_token_ttl_seconds)
    response = Response(status_code=204)
    _clear_cookies(response)
    return response


@router.get("/me", response_model=UserOut)
async def me(principal: Principal = Depends(current_principal), svc: Services = Depends(services)) -> UserOut:
    account = await svc.accounts.get(principal.user_id)
    if account is None:
        raise ApiError(404, "not_found", "account not found")
    return _user(account)


class IdentityTokenRequest(BaseModel):
    user_id: str | None = Field(None, min_length=1, max_length=128)  # operators only: any account


class IdentityTokenOut(BaseModel):
    identity_token: str
    user_id: str
    expires_in: int


@router.post("/identity-token", response_model=IdentityTokenOut)
async def identity_token(
    request: Request, body: IdentityTokenRequest | None = None, svc: Services = Depends(services)
) -> IdentityTokenOut:
    """A short-lived proof of who the caller is, for another door's client to present (the scene's
    `userInfo.identityToken`, Skills `userIdentity.identityToken`, Hume's `?identity_token=`).
    A signed-in user gets one for themselves; an operator (X-Admin-Key) for any account."""
    requested = body.user_id if body else None
    if operator_key_valid(request, svc):
        if requested is None:
            raise ApiError(422, "invalid_request", 'operators name the account: {"user_id": ...}')
        if await svc.accounts.get(requested) is None:
            raise ApiError(404, "not_found", "account not found")
        user_id = requested
    else:
        principal = await current_principal(request, svc)
        if requested not in (None, principal.user_id):
            raise ApiError(403, "forbidden", "a user may link only their own identity")
        user_id = principal.user_id
    ttl = svc.settings.identity_token_ttl_seconds
    token = issue_identity_token(user_id, svc.secrets.jwt_secret, ttl)
    return IdentityTokenOut(identity_token=token, user_id=user_id, expires_in=ttl)
