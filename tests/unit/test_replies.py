"""The API process's one reply subscription: every socket's replies share it, so none may end it."""

import asyncio

import fakeredis
import pytest

from app.bus.replies import Message, ReplyRouter, encode
from app.turns import Reply


def broken(_: object) -> None:
    raise RuntimeError("a door's rendering bug")


async def test_a_failing_handler_leaves_the_subscription_to_everyone_else(caplog: pytest.LogCaptureFixture) -> None:
    client = fakeredis.FakeAsyncRedis()
    router = ReplyRouter(client, "api-t")
    await router.start()
    try:
        heard: list[Message] = []
        events: list[bytes] = []
        await router.bind("bad", broken)
        await router.bind("good", heard.append)
        await router.watch("job:1", broken)
        await router.watch("job:1", events.append)

        await client.publish(router.channel, encode(Reply(session_id="bad", turn_id="t1", persona_id="p", text="boom")))
        await client.publish("job:1", b"progress")
        await client.publish(
            router.channel, encode(Reply(session_id="good", turn_id="t2", persona_id="p", text="still here"))
        )
        for _ in range(100):
            if heard and events:
                break
            await asyncio.sleep(0.02)

        assert [reply.text for reply in heard] == ["still here"]
        assert events == [b"progress"]
        assert router._task is not None
        assert not router._task.done()
        messages = [record.getMessage() for record in caplog.records]
        assert "reply handler failed" in messages
        assert "reply subscription lost" not in " ".join(messages)
    finally:
        await router.stop()


class Socket:
    def __init__(self) -> None:
        self.heard: list[Message] = []

    def on_reply(self, reply: Message) -> None:
        self.heard.append(reply)


async def test_a_closed_socket_releases_its_handler_and_route_so_nobody_speaks_to_it() -> None:
    """`socket.on_reply` is a new bound-method object on each access; unbind must still match it."""
    from app.bus import keys
    from app.bus.replies import speak

    client = fakeredis.FakeAsyncRedis()
    router = ReplyRouter(client, "api-t")
    await router.start()
    try:
        sockets = [Socket() for _ in range(50)]
        for i, socket in enumerate(sockets):
            await router.bind(f"s{i}", socket.on_reply)
        assert router.bound_sessions() == 50
        for i, socket in enumerate(sockets):
            await router.unbind(f"s{i}", socket.on_reply)
        assert router.bound_sessions() == 0
        assert await client.exists(*(keys.session_route(f"s{i}") for i in range(50))) == 0
        assert not await speak(client, Reply(session_id="s0", persona_id="p", text="Still with me?"))
    finally:
        await router.stop()
