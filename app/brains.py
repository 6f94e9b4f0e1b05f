"""Brains as workers run them: each answers a turn, handing its words to `say` as they come.

The pure brains (rules, demo) answer at once: their whole reply is one piece. The LLM brain
(app/llm/) streams a model's words. Every brain takes the same streamed path, so a door that
shows words as they come needs no case for who answered.
"""

import asyncio

import openai

from app.llm.brain import LlmBrain
from app.persona.brains import Brain, BrainContext, BrainOutput, make_brain
from app.persona.brains.base import AsyncBrain, BrainHealth, Say
from app.settings import Settings


class PureBrain:
    """A pure brain (rules, demo) behind the worker's async interface."""

    def __init__(self, brain: Brain) -> None:
        self._brain = brain
        self.name = brain.name

    async def respond(self, ctx: BrainContext, say: Say) -> BrainOutput:
        output = self._brain.respond(ctx)
        await say(output.text)
        return output

    async def health(self) -> BrainHealth:
        return BrainHealth(brain=self.name, reachable=True)

    async def aclose(self) -> None:
        """Nothing held."""


class BrainSet:
    """The brains a worker can answer with, by name; a turn names one or gets the default."""

    def __init__(self, brains: dict[str, AsyncBrain], default: str) -> None:
        self._brains = brains
        self.default = brains[default]
        self.default_name = default

    @property
    def names(self) -> list[str]:
        return list(self._brains)

    def get(self, name: str | None) -> AsyncBrain:
        return self._brains.get(name or "", self.default)

    async def aclose(self) -> None:
        """At the process's end, by whoever made the set (one per process)."""
        await asyncio.gather(*(brain.aclose() for brain in self._brains.values()))


def make_worker_brains(settings: Settings) -> BrainSet:
    """The offline brains always; the LLM one only when it is configured (it costs money)."""
    brains: dict[str, AsyncBrain] = {name: PureBrain(make_brain(name)) for name in ("rules", "demo")}
    if settings.persona_brain == "llm":
        api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed"
        client = openai.AsyncOpenAI(
            base_url=settings.llm_base_url,
            api_key=api_key,
            timeout=settings.llm_turn_seconds,  # the brain's own deadlines end a call sooner
            max_retries=0,  # never retried: a second call would outlast the reply deadline
            # The client's documented aiohttp transport: a streamed call costs half the CPU of its
            # default httpx2 one (3.1 vs 5.9 ms for 11 pieces; docs/architecture.md).
            http_client=openai.DefaultAioHttpClient(),
        )
        brains["llm"] = LlmBrain(
            client,
            settings.llm_model,
            settings.llm_temperature,
            fallback=make_brain("rules"),
            first_word_seconds=settings.llm_first_word_seconds,
            turn_seconds=settings.llm_turn_seconds,
        )
    return BrainSet(brains, settings.persona_brain)
