"""The persona with real processes: the rules brain over /ws, and the thinking loop speaking up."""

from tests.support.scene import Scene
from tests.support.stack import Stack

THINK_FAST = {"THOUGHT_INTERVAL_SECONDS": "1", "IDLE_SPEAK_AFTER_SECONDS": "1.5", "SPONTANEOUS_MIN_GAP_SECONDS": "60"}


async def test_rules_brain_remembers_across_turns_over_the_socket(stack: Stack, redis_url: str) -> None:
    stack.workers(redis_url, processes=1)
    api = stack.api(redis_url)
    scene = await Scene.open(api.url, "sess-rules")
    assert "What should I call you?" in (await scene.say("", kind="init"))["output"]["text"]
    assert "Nice to meet you, Kim" in (await scene.say("my name is Kim"))["output"]["text"]
    await scene.say("I play the drums")
    assert "drums" in (await scene.say("what do I play?"))["output"]["text"]
    menu = await scene.say("what can you do?")
    assert menu["variables"]["public-options"]["component"] == "options"
    await scene.close()


async def test_an_idle_session_hears_the_persona_think_once_per_rate_window(stack: Stack, redis_url: str) -> None:
    stack.workers(redis_url, processes=1, **THINK_FAST)
    stack.scheduler(redis_url, **THINK_FAST)
    stack.scheduler(redis_url, **THINK_FAST)  # a second scheduler must not make it think twice
    api = stack.api(redis_url, **THINK_FAST)
    scene = await Scene.open(api.url, "sess-quiet")
    await scene.say("", kind="init")
    nudge = await scene.response(wait=15)  # nothing asked: the persona speaks on its own
    assert nudge["output"]["text"]
    assert nudge["fallback"] is False
    assert await scene.nothing_within(3.0)  # the rate limit holds
    await scene.close()
