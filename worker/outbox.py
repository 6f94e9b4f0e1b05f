"""A turn's Redis bookkeeping, sent as it happens and confirmed once, when the turn ends.

Stock RQ waits for Redis to answer each of its writes before it goes on. For a turn none of those
answers decides anything until the turn is over: the start-of-job writes (status started,
execution record, lease), the reply's publish and the lane step (drop the lease, queue the
session's next turn) only have to reach Redis, in that order, before the success record. Sent
on one connection, Redis applies them in the order sent; their replies are read together with
the success record's, so a turn waits for Redis once at its end instead of three times, and its
first line runs a round trip sooner.

A send can also be deferred (`defer`): built and sent when asked (`send_deferred`) or at
`confirm`. PersonaWorker defers RQ's start-of-job writes so that a turn's reply and its lane step
go out before that bookkeeping is even built.

A send that Redis refused or that a dropped connection lost is redone the ordinary way (each is
idempotent) when it says how; otherwise its error is raised when the replies are read, and RQ
records the job as failed, as it would have at the time.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from redis.connection import ConnectionInterface

log = logging.getLogger(__name__)

Command = tuple[Any, ...]

_in_flight: "Outbox | None" = None  # this process's outbox with a turn's bookkeeping unconfirmed


def in_flight() -> "Outbox | None":
    """The outbox a running turn's next Redis writes must follow, if its worker keeps one (one
    RQ loop per process runs turns, so one at a time)."""
    return _in_flight


@dataclass(frozen=True)
class _Deferred:
    what: str
    build: Callable[[], list[Command]]
    transaction: bool


@dataclass
class _Sent:
    what: str  # for logs: "start", "reply", "lane step", "success"
    replies: int  # replies Redis owes for it (0 until sent)
    transaction: bool  # wrapped in MULTI/EXEC: the last reply holds the commands' results
    redo: Callable[[], None] | None  # the same effect, waiting for Redis, should this send fail


class Outbox:
    """One connection, taken from the client's pool for a turn and handed back once confirmed."""

    def __init__(self, client: redis.Redis) -> None:
        self._pool = client.connection_pool
        self._connection: ConnectionInterface | None = None
        self._sent: list[_Sent] = []
        self._deferred: _Deferred | None = None
        self._errors: list[BaseException] = []  # of sends nothing redid, raised by `confirm`

    @property
    def in_use(self) -> bool:
        """Whether it holds sends whose replies are still to be read, or one still to be sent."""
        return bool(self._sent) or self._deferred is not None

    def defer(self, what: str, build: Callable[[], list[Command]], *, transaction: bool = False) -> None:
        """Send `build()`'s commands at `send_deferred` or `confirm`, after what is sent until then;
        what is sent from now on follows this outbox (`in_flight`)."""
        self._deferred = _Deferred(what, build, transaction)
        global _in_flight
        _in_flight = self

    def send(
        self,
        what: str,
        commands: list[Command],
        *,
        transaction: bool = False,
        redo: Callable[[], None] | None = None,
    ) -> None:
        """Send now; the replies are read in `confirm`. Should the connection fail here, what was
        sent on it is settled at once, and so is this: redone, or its error kept for `confirm`."""
        item = _Sent(what, 0, transaction, redo)
        wire = [("MULTI",), *commands, ("EXEC",)] if transaction else commands
        try:
            if self._connection is None:
                self._connection = self._pool.get_connection()
            self._connection.send_packed_command(self._connection.pack_commands(wire))
        except redis.RedisError as exc:
            self._lose_connection(exc, [*self._sent, item])
            return
        item.replies = len(wire)
        self._sent.append(item)
        global _in_flight
        _in_flight = self

    def send_deferred(self) -> None:
        """Build and send what was deferred, now (nothing if it went already)."""
        if (deferred := self._deferred) is not None:
            self._deferred = None
            self.send(deferred.what, deferred.build(), transaction=deferred.transaction)

    def drop_deferred(self) -> bool:
        """Forget what was deferred, unsent; whether there was anything (the caller writes it its way)."""
        deferred, self._deferred = self._deferred, None
        return deferred is not None

    def confirm(self) -> None:
        """Send what is deferred; read every reply owed; redo what failed, then raise the first
        error nothing redid."""
        self.send_deferred()
        while self._sent:
            item = self._sent.pop(0)
            try:
                error = self._read(item)
            except (redis.ConnectionError, redis.TimeoutError) as exc:  # the rest is lost with the connection
                self._lose_connection(exc, [item, *self._sent])
                break
            if error is not None:
                self._settle(item, error)
        self._release()
        errors, self._errors = self._errors, []
        if errors:
            raise errors[0]

    def _read(self, item: _Sent) -> BaseException | None:
        assert self._connection is not None
        error: BaseException | None = None
        for index in range(item.replies):
            try:
                reply = self._connection.read_response()
            except redis.ResponseError as exc:  # read on: the connection owes the rest of the replies
                error = error or exc
                continue
            if item.transaction and index == item.replies - 1:
                error = error or next((r for r in reply or () if isinstance(r, Exception)), None)
        return error

    def _settle(self, item: _Sent, error: BaseException) -> None:
        if item.redo is None:
            self._errors.append(error)
            return
        log.warning("%s not confirmed by Redis (%s); redoing it", item.what, str(error).splitlines()[0][:160])
        item.redo()

    def _lose_connection(self, error: BaseException, unconfirmed: list[_Sent]) -> None:
        self._sent = []
        if self._connection is not None:
            self._connection.disconnect()
        self._release()
        for item in unconfirmed:
            self._settle(item, error)

    def _release(self) -> None:
        global _in_flight
        if _in_flight is self:
            _in_flight = None
        if self._connection is not None:
            self._pool.release(self._connection)
            self._connection = None
