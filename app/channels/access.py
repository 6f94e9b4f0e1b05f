"""Optional access control for the orchestration socket: a shared secret and a CIDR allow-list.

Soul Machines' only documented credential hook is the `sm-control-cookie-header` JWT claim, whose
value it sends as the Cookie header; we expect our secret in a named cookie there.
"""

import hmac
import ipaddress
from collections.abc import Mapping

from app.settings import Settings


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


def _host_allowed(host: str | None, cidrs: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)
