"""From Hume's frames to a turn: the last user message, its prosody, its session, and the
conversation before it as the client heard it."""

from collections.abc import Iterable
from typing import Any

from app.turns import TRANSCRIPT_LINES, TranscriptLine

CHANNEL = "hume"
TRANSCRIPT_LINE_CHARS = 4000


def clean_text(content: str) -> str:
    """EVI may append expression annotations in braces to the text; they are not the user's words."""
    return content.split("{", 1)[0].strip()


def is_user_message(message: Any) -> bool:
    """EVI marks user messages with a type; Hume's example servers send {message: {role, content}}."""
    if not isinstance(message, dict):
        return False
    if "type" in message:
        return message["type"] == "user_message"
    body = message.get("message")
    return isinstance(body, dict) and body.get("role") == "user"


def prosody_of(message: dict[str, Any]) -> dict[str, float]:
    """Hume's prosody scores of a message; anything not shaped like them counts as none."""
    models = message.get("models")
    prosody = models.get("prosody") if isinstance(models, dict) else None
    scores = prosody.get("scores") if isinstance(prosody, dict) else None
    if not isinstance(scores, dict):
        return {}
    return {
        str(name): float(value)
        for name, value in scores.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) <= 1e6  # not NaN, inf, 1e400
    }


def session_of(custom_session_id: str) -> str:
    return f"{CHANNEL}:{custom_session_id}"


def transcript_of(messages: Iterable[tuple[str, str]]) -> list[TranscriptLine]:
    """The user and assistant lines of (role, text) messages, the most recent TRANSCRIPT_LINES of
    them, each bounded (system prompts and tool messages are not the conversation)."""
    lines = [
        TranscriptLine(role=role, text=text[:TRANSCRIPT_LINE_CHARS])
        for role, text in messages
        if role in ("user", "assistant") and text
    ]
    return lines[-TRANSCRIPT_LINES:]
