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


def live_sessions(persona_id: str) -> str:
    """Sorted set: session id -> time of its last turn, for the thinking loop's idle check."""
    return f"{PREFIX}:live:{persona_id}"


def thought_slot(persona_id: str, period: int) -> str:
    """Claimed by whichever scheduler enqueues this persona's thinking for this period."""
    return f"{PREFIX}:thought-slot:{persona_id}:{period}"


def nudged(session_id: str) -> str:
    """Set while a session may not be spoken to unprompted again (the rate limit)."""
    return f"{PREFIX}:nudged:{session_id}"


def job_record(job_id: str) -> str:
    """Hash: a REST job's owner, status, progress and result."""
    return f"{PREFIX}:job:{job_id}"


def job_events(job_id: str) -> str:
    """Pub/sub channel of a REST job's status changes."""
    return f"{PREFIX}:job-events:{job_id}"


def sse_ticket(ticket: str) -> str:
    return f"{PREFIX}:sse-ticket:{ticket}"


def rate_limit(scope: str, subject: str, window_seconds: int) -> str:
    return f"{PREFIX}:rate:{scope}:{subject}:{window_seconds}"


def revoked_session(session_id: str) -> str:
    return f"{PREFIX}:revoked:{session_id}"


def turn_leases() -> str:
    """Sorted set: turn id -> when the lease of the worker running it expires."""
    return f"{PREFIX}:leases"


def interruptions() -> str:
    """Pub/sub channel every worker process listens on: turns whose listener went away."""
    return f"{PREFIX}:interruptions"


def interrupted(turn_id: str) -> str:
    """Set when a turn is interrupted, for a worker that takes it from the queue afterwards."""
    return f"{PREFIX}:interrupted:{turn_id}"
