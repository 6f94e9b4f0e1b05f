"""README command 1's path: `uvicorn app.main:app` with nothing configured still serves a scene."""

import os

import pytest

from tests.support.scene import Scene
from tests.support.stack import Stack


@pytest.mark.skipif(bool(os.environ.get("MONGO_URL")), reason="embedded mode is the no-MONGO_URL default")
async def test_embedded_default_serves_a_conversation_and_says_so_loudly(stack: Stack) -> None:
    api = stack.api(None, PERSONA_BRAIN="demo")
    scene = await Scene.open(api.url, "sess-embedded")
    assert (await scene.say("", kind="init"))["output"]["text"] == "Hi there!"
    assert (await scene.say("hello"))["output"]["text"] == "Echo: hello"
    assert (await scene.say("why not"))["fallback"] is True
    await scene.close()
    log = api.log()
    assert "EMBEDDED MODE" in log
    assert "NOTHING IS PERSISTED" in log
    assert "A worker runs inside this process" in log
