"""Every Redis key and channel name this project uses (RQ's own keys come from RQ's classes)."""

PREFIX = "persona"


def reply_channel(instance_id: str) -> str:
    """The pub/sub channel of one API process: replies for the sockets it holds."""
    return f"{PREFIX}:replies:{instance_id}"


def session_route(session_id: str) -> str:
    """Which API process holds the session's socket (for replies nobody asked for)."""
    return f"{PREFIX}:route:{session_id}"


def session_lane(session_id: str) -> str:
    """The session's turns in arrival order; only the head may be queued or running."""
    return f"{PREFIX}:lane:{session_id}"
