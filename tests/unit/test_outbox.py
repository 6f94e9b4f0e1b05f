"""A turn's Redis bookkeeping: sent in order on one connection, confirmed once, redone if lost."""

import fakeredis
import pytest
import redis

from worker import outbox
from worker.outbox import Outbox

UNKNOWN_SCRIPT = "0" * 40


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


def test_sends_apply_in_order_and_are_confirmed_once(server: fakeredis.FakeServer) -> None:
    client = fakeredis.FakeRedis(server=server)
    box = Outbox(client)
    box.send("start", [("SET", "k", "1"), ("INCR", "k")], transaction=True)
    assert outbox.in_flight() is box
    box.send("step", [("INCR", "k")])
    box.confirm()
    assert client.get("k") == b"3"
    assert outbox.in_flight() is None
    assert not box.in_use


def test_a_refused_send_is_redone_and_the_others_still_apply(server: fakeredis.FakeServer) -> None:
    client = fakeredis.FakeRedis(server=server)
    box, redone = Outbox(client), []
    box.send("start", [("SET", "k", "1")], transaction=True)
    box.send("lane step", [("EVALSHA", UNKNOWN_SCRIPT, 0)], redo=lambda: redone.append("lane step"))  # NOSCRIPT
    box.send("success", [("INCR", "k")], transaction=True)
    box.confirm()
    assert redone == ["lane step"]
    assert client.get("k") == b"2"


def test_an_error_nothing_redoes_is_raised_once(server: fakeredis.FakeServer) -> None:
    client = fakeredis.FakeRedis(server=server)
    client.set("k", "a string")
    box = Outbox(client)
    box.send("success", [("HSET", "k", "field", "value")], transaction=True)
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        box.confirm()
    box.confirm()  # the next turn does not inherit it
    box.send("start", [("SET", "j", "1")], transaction=True)
    box.confirm()
    assert client.get("j") == b"1"


def test_a_lost_connection_redoes_what_can_be_redone_and_raises_the_rest(server: fakeredis.FakeServer) -> None:
    client = fakeredis.FakeRedis(server=server)
    box, redone = Outbox(client), []
    box.send("start", [("SET", "k", "1")], transaction=True)
    server.connected = False
    box.send("lane step", [("SET", "j", "1")], redo=lambda: redone.append("lane step"))
    assert redone == ["lane step"]
    assert outbox.in_flight() is None  # nothing more may follow a lost start on this connection
    with pytest.raises(redis.ConnectionError):
        box.confirm()
    server.connected = True
    box.send("start", [("SET", "k", "2")], transaction=True)  # the next turn gets a fresh connection
    box.confirm()
    assert client.get("k") == b"2"


def test_a_deferred_send_is_built_and_sent_only_when_asked_after_the_others(server: fakeredis.FakeServer) -> None:
    """RQ's start of a turn waits until the turn's reply and lane step are out."""
    client = fakeredis.FakeRedis(server=server)
    box, built = Outbox(client), []

    def start() -> list[tuple[str, ...]]:
        built.append("start")
        return [("RPUSH", "order", "start")]

    box.defer("start", start, transaction=True)
    assert outbox.in_flight() is box  # what the turn sends follows it
    box.send("reply", [("RPUSH", "order", "reply")])
    box.send("lane step", [("RPUSH", "order", "lane step")])
    assert built == []
    box.send_deferred()
    box.send("success", [("RPUSH", "order", "success")], transaction=True)
    box.confirm()
    assert client.lrange("order", 0, -1) == [b"reply", b"lane step", b"start", b"success"]
    assert outbox.in_flight() is None
