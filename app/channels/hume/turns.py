"""From Hume's frames to a turn: the last user message, its prosody, and its session."""

from typing import Any

CHANNEL = "hume"


def clean_text(content: str) -> str:
    """EVI may append expression annotations in braces to the text; they are not the user's words."""
    return content.split("{", 1)[0].strip()


def prosody_of(message: dict[str, Any]) -> dict[str, float]:
    scores = ((message.get("models") or {}).get("prosody") or {}).get("scores") or {}
    return {k: float(v) for k, v in scores.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def session_of(custom_session_id: str) -> str:
    return f"{CHANNEL}:{custom_session_id}"
