"""Session memory: the recent exchanges of one session, bounded so it never grows without limit."""

from pydantic import BaseModel


class Exchange(BaseModel):
    turn_id: str
    user_text: str
    reply_text: str
    at: float


class SessionMemory(BaseModel):
    recent: list[Exchange] = []
    turn_count: int = 0


def remember(memory: SessionMemory, exchange: Exchange, limit: int) -> SessionMemory:
    """Append an exchange, forgetting the oldest beyond `limit` (first in, first forgotten)."""
    recent = [*memory.recent, exchange][-limit:]
    return SessionMemory(recent=recent, turn_count=memory.turn_count + 1)
