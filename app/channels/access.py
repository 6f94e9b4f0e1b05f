"""Optional access control for the orchestration socket: a shared secret and a CIDR allow-list.

Soul Machines' only documented credential hook is the `sm-control-cookie-header` JWT claim, whose
value it sends as the Cookie header; we expect our secret in a named cookie there.
"""

import hmac
import ipaddress
import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

from pydantic import SecretStr

from app.auth.tokens import bearer
from app.settings import Settings

log = logging.getLogger(__name__)
MIN_DOOR_KEY_LENGTH = 32


def refusal_reason(cookies: Mapping[str, str], client_host: str | None, settings: Settings) -> str | None:
    """Why this connection must be refused, or None to let it in."""
    if settings.sm_allowed_cidrs and not _host_allowed(client_host, settings.sm_allowed_cidrs):
        return "client address not allowed"
    if settings.sm_shared_secret is not None:
        expected = settings.sm_shared_secret.get_secret_value()
        presented = cookies.get(settings.sm_cookie_name, "")
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            return "missing or wrong orchestration secret"
    return None


def origin_refusal(origin: str | None, host: str | None, settings: Settings) -> str | None:
    """A browser names the page that opens a socket in `Origin`; servers (the platforms) send
    none. A page of this server (the console) or of WS_ALLOWED_ORIGINS may; any other site's page,
    opening the socket in a visitor's browser, may not."""
    if origin is None:
        return None
    origin = origin.strip().rstrip("/").lower()
    if origin in settings.ws_allowed_origins:
        return None
    if host and urlsplit(origin).netloc == host.strip().lower():
        return None
    return "origin not allowed"


def _host_allowed(host: str | None, cidrs: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


DOORS = {
    "sm": "Soul Machines /ws (SM_SHARED_SECRET, SM_ALLOWED_CIDRS)",
    "skills": "Skills /skills (SKILLS_API_KEY)",
    "clm": "Hume and OpenAI-compatible /llm, /chat/completions (CLM_API_KEY)",
}


def door_guarded(settings: Settings, door: str) -> bool:
    """Does the door let in only callers holding its credential?"""
    guards = {
        "sm": settings.sm_shared_secret is not None or bool(settings.sm_allowed_cidrs),
        "skills": settings.skills_api_key is not None,
        "clm": settings.clm_api_key is not None,
    }
    return guards[door]


def door_limited(settings: Settings, door: str) -> bool:
    """Do per-address limits apply at the door? Only while it has no credential: then the address
    is the user's own. Behind a credential the callers are the platform's servers, which carry
    every user's sessions from a few addresses; each socket keeps its frame-rate limit."""
    return not door_guarded(settings, door)


def open_doors(settings: Settings) -> list[str]:
    """The doors that let any caller in, and so let any caller assert any user's identity."""
    return [door for door in DOORS if not door_guarded(settings, door)]


class OpenDoorError(RuntimeError):
    """Production was asked to start with a door open to anyone, or guarded by a weak key."""


def check_doors(settings: Settings) -> None:
    """Say at start which doors anyone may use; production refuses to start with one open unless
    OPEN_DOORS names it, and with a door key shorter than MIN_DOOR_KEY_LENGTH."""
    production = settings.app_env == "production"
    if production:
        keys = {"SM_SHARED_SECRET": settings.sm_shared_secret, "SKILLS_API_KEY": settings.skills_api_key}
        keys["CLM_API_KEY"] = settings.clm_api_key
        weak = [
            name for name, key in keys.items() if key is not None and len(key.get_secret_value()) < MIN_DOOR_KEY_LENGTH
        ]
        if weak:
            raise OpenDoorError(f"{', '.join(weak)} must be at least {MIN_DOOR_KEY_LENGTH} characters in production")
    for door in open_doors(settings):
        if door in settings.open_doors:
            log.warning("door opened deliberately (OPEN_DOORS): anyone may call %s", DOORS[door])
        elif production:
            raise OpenDoorError(
                f"{DOORS[door]} has no credential; set it, or name {door!r} in OPEN_DOORS to open it deliberately"
            )
        else:
            log.warning("door open to any caller, who can claim any user's identity there: %s", DOORS[door])


def bearer_refusal(authorization: str | None, expected: SecretStr | None, door: str) -> str | None:
    """Why a door's shared Bearer key check fails, or None. No key configured: open, and logged."""
    if expected is None:
        log.info("%s: no key configured, caller accepted without one", door)
        return None
    presented = bearer(authorization) or ""
    if not hmac.compare_digest(presented.encode(), expected.get_secret_value().encode()):
        return "missing or wrong key"
    return None
