"""Skills memory semantics, as the SDK's `utils/memory.py` defines them.

A memory is keyed by (name, session_id, scope): entries differing in session id or scope are
distinct. Reading, the later entry of a key wins. A PUBLIC read sees only PUBLIC entries; a
PRIVATE read sees PRIVATE and unscoped ones. Known PUBLIC values: `userIdentity`
{firstName, lastName, preferredName, id} and `userLocation` {city, country}, with no session id.
"""

from typing import Any

from app.auth.identity import resolve_user
from app.channels.skills.models import Memory, Scope

USER_IDENTITY = "userIdentity"
USER_LOCATION = "userLocation"


def _visible(memory: Memory, scope: Scope) -> bool:
    return memory.scope == "PUBLIC" if scope == "PUBLIC" else memory.scope in (None, "PRIVATE")


def get_value(memories: list[Memory], name: str, session_id: str | None = None, scope: Scope = "PRIVATE") -> Any:
    found = None
    for memory in memories:
        if memory.name == name and memory.session_id == session_id and _visible(memory, scope):
            found = memory.value  # the later entry wins
    return found


def set_value(
    memories: list[Memory], name: str, value: Any, session_id: str | None = None, scope: Scope = "PRIVATE"
) -> list[Memory]:
    """A copy with the entry of this key replaced (or appended)."""
    kept = [m for m in memories if not (m.name == name and m.session_id == session_id and m.scope == scope)]
    return [*kept, Memory(name=name, value=value, session_id=session_id, scope=scope)]


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def user_of(memories: list[Memory], session_id: str, secret: str) -> tuple[str, dict[str, str]]:
    """(user id, facts the platform vouches for) from the PUBLIC identity and location.

    The identity's `id` is a Skills user (`skills:<id>`, see app/auth/identity.py); an
    `identityToken` beside it proves a REST account.
    """
    identity = get_value(memories, USER_IDENTITY, scope="PUBLIC") or {}
    location = get_value(memories, USER_LOCATION, scope="PUBLIC") or {}
    identity = identity if isinstance(identity, dict) else {}
    location = location if isinstance(location, dict) else {}
    token = _text(identity.get("identityToken")) or None
    user_id = resolve_user("skills", _text(identity.get("id")), token, secret, f"skills-session:{session_id}")
    known = {
        "name": _text(identity.get("preferredName")) or _text(identity.get("firstName")),
        "lives": _text(location.get("city")),
    }
    return user_id, {k: v for k, v in known.items() if v}


def write_back(memories: list[Memory], user_facts: dict[str, str]) -> list[Memory]:
    """PUBLIC entries updated with what the persona knows, so other skills can share it."""
    out: list[Memory] = []
    identity = get_value(memories, USER_IDENTITY, scope="PUBLIC")
    identity = dict(identity) if isinstance(identity, dict) else {}
    if (name := user_facts.get("name")) and identity.get("preferredName") != name:
        identity = {"firstName": None, "lastName": None, "id": None, **identity, "preferredName": name}
        out = set_value(out, USER_IDENTITY, identity, scope="PUBLIC")
    location = get_value(memories, USER_LOCATION, scope="PUBLIC")
    location = dict(location) if isinstance(location, dict) else {}
    if (city := user_facts.get("lives")) and location.get("city") != city:
        out = set_value(out, USER_LOCATION, {"country": None, **location, "city": city}, scope="PUBLIC")
    return out
