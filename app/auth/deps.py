"""FastAPI dependencies for the REST API.

Every parameter here is a Request or a header, never a defaulted plain value: FastAPI would
turn that into a query parameter a caller could set (`?check_revoked=false`).
"""

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import redis
from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from app.api.errors import ApiError
from app.auth.tokens import Principal, TokenError, bearer, decode_access
from app.bus.limits import is_revoked
from app.channels.access import door_limited
from app.services import Services

LOOPBACK_ADDRESSES = frozenset({"127.0.0.1", "::1"})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


async def services(request: Request) -> Services:
    """Async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread hop on
    every request for an attribute read."""
    return request.app.state.services


def client_ip(request: HTTPConnection) -> str:
    """The caller's address; uvicorn already replaced it from X-Forwarded-For if the proxy is trusted."""
    return request.client.host if request.client else "unknown"


def address_block(request: HTTPConnection) -> str:
    """Whom a per-address limit counts: an IPv4 address, or an IPv6 /64, the block one subscriber
    gets and can hop through at will (counting single IPv6 addresses would limit nobody)."""
    host = client_ip(request)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


async def principal_from_token(svc: Services, token: str) -> Principal:
    try:
        principal = decode_access(token, svc.secrets.jwt_secret)
    except TokenError as exc:
        raise ApiError(401, "unauthorized", str(exc), {"WWW-Authenticate": "Bearer"}) from None
    try:
        revoked = await is_revoked(svc.redis.async_client, principal.session_id)
    except redis.RedisError:  # cannot tell whether it was revoked: refuse, but say why
        raise ApiError(503, "unavailable", "cannot verify the session right now; retry shortly") from None
    if revoked:
        raise ApiError(401, "unauthorized", "session revoked", {"WWW-Authenticate": "Bearer"})
    return principal


async def current_principal(request: Request, svc: Services = Depends(services)) -> Principal:
    token = bearer(request.headers.get("authorization"))
    if token is None:
        raise ApiError(401, "unauthorized", "missing bearer token", {"WWW-Authenticate": "Bearer"})
    return await principal_from_token(svc, token)


def operator_surface_open(request: Request, svc: Services) -> bool:
    """Development with no ADMIN_API_KEY: operators' pages (the console) work for this machine only.

    A request relayed by any proxy (a tunnel to localhost sets X-Forwarded-For) is not "this
    machine", nor is a page of another site reaching us through DNS rebinding (its Host header
    names that site). Anywhere else, or once a key is configured, the key or an admin sign-in
    is required.
    """
    host = urlsplit("//" + request.headers.get("host", "")).hostname
    return (
        svc.secrets.admin_api_key is None
        and svc.settings.app_env == "development"
        and client_ip(request) in LOOPBACK_ADDRESSES
        and "x-forwarded-for" not in request.headers
        and host in LOOPBACK_HOSTS
    )


def operator_key_valid(request: Request, svc: Services) -> bool:
    """The request carries the configured admin API key (X-Admin-Key)."""
    key = request.headers.get("x-admin-key")
    expected = svc.secrets.admin_api_key
    return bool(key and expected and hmac.compare_digest(key.encode(), expected.encode()))


async def require_operator(request: Request, svc: Services = Depends(services)) -> None:
    """An operator: the configured admin API key, or a signed-in admin (or see operator_surface_open)."""
    if operator_surface_open(request, svc):
        return
    if operator_key_valid(request, svc):
        return
    token = bearer(request.headers.get("authorization"))
    if token and (await principal_from_token(svc, token)).role == "admin":
        return
    raise ApiError(403, "forbidden", "operator access required")


async def limit_by_ip(request: Request, svc: Services = Depends(services)) -> None:
    wait = await svc.limiter.hit("ip", address_block(request), svc.settings.rate_limit_ip_per_minute, 60)
    if wait is not None:
        raise ApiError(429, "rate_limited", "too many requests from this address", {"Retry-After": str(wait)})


def limit_turns_by_ip(door: str) -> Callable[..., Awaitable[None]]:
    """A turn door over HTTP (Skills, chat completions): turns per address, as on the sockets,
    while the door has no credential (see app/channels/access.door_limited)."""

    async def limit(request: Request, svc: Services = Depends(services)) -> None:
        if not door_limited(svc.settings, door):
            return
        wait = await svc.limiter.hit("turns", address_block(request), svc.settings.turns_per_ip_per_minute, 60)
        if wait is not None:
            raise ApiError(429, "rate_limited", "too many turns from this address", {"Retry-After": str(wait)})

    return limit


async def limit_by_user(principal: Principal, svc: Services) -> None:
    wait = await svc.limiter.hit("user", principal.user_id, svc.settings.rate_limit_user_per_minute, 60)
    if wait is not None:
        raise ApiError(429, "rate_limited", "too many messages; slow down", {"Retry-After": str(wait)})
