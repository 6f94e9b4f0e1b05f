"""Brains as workers run them: the pure ones behind an async face, and the LLM one (network I/O).

The LLM brain makes ONE chat-completions call per turn (at most one retry) to any
OpenAI-compatible server through the official `openai` client, and asks for a JSON object that
carries the reply, an optional card, an emotion appraisal, facts about the user and a
relationship signal. The answer is validated with pydantic. On timeout, error or invalid output
the rules brain answers instead and the turn is flagged; a canned apology is never saved as if
the model had said it.
"""

import json
import logging
from typing import Any, Protocol

import httpx
import openai
from pydantic import BaseModel, Field, ValidationError

from app.observability.metrics import timed_model_call
from app.persona import cards
from app.persona.brains import Brain, BrainContext, BrainOutput, make_brain
from app.persona.facts import Fact, FactKind
from app.settings import Settings
from app.turns import Card, CardKind

log = logging.getLogger(__name__)


class BrainHealth(BaseModel):
    brain: str
    provider: str | None = None
    model: str | None = None
    reachable: bool


class AsyncBrain(Protocol):
    name: str

    async def respond(self, ctx: BrainContext) -> BrainOutput: ...

    async def health(self) -> BrainHealth: ...


class PureBrain:
    """A pure brain (rules, demo) behind the worker's async interface."""

    def __init__(self, brain: Brain) -> None:
        self._brain = brain
        self.name = brain.name

    async def respond(self, ctx: BrainContext) -> BrainOutput:
        return self._brain.respond(ctx)

    async def health(self) -> BrainHealth:
        return BrainHealth(brain=self.name, reachable=True)


class LlmCard(BaseModel):
    kind: CardKind
    data: dict[str, Any]


class LlmFact(BaseModel):
    kind: FactKind
    value: str = Field(min_length=1, max_length=120)
    about: str = Field("", max_length=40)  # the relation or thing, e.g. "sister", "jazz"


class LlmReply(BaseModel):
    """The JSON object the model must return."""

    reply: str = Field(min_length=1, max_length=2000)
    card: LlmCard | None = None
    emotions: dict[str, float] = Field(default_factory=dict)
    facts: list[LlmFact] = Field(default_factory=list)
    relationship: float = Field(0.0, ge=-1, le=1)
    fallback: bool = False


RESPONSE_SHAPE = (
    '{"reply": str, "card": null | {"kind": "image"|"options"|"markdown"|"externalLink"|"video", "data": {...}}, '
    '"emotions": {emotion: change in [-1, 1]}, "facts": [{"kind": one of name, likes, dislikes, plays, lives, '
    'origin, work, person, pet, event, age, "value": str, "about": str}], "relationship": float in [-1, 1], '
    '"fallback": bool (true only if you cannot answer at all)}'
)


def build_messages(ctx: BrainContext) -> list[dict[str, str]]:
    """The prompt: this persona, this user's relationship and memories, this session. Nobody else's."""
    me, rel = ctx.profile, ctx.relationship
    mood = ", ".join(f"{k} {v:.2f}" for k, v in sorted(ctx.emotion.values.items(), key=lambda kv: -kv[1])[:4])
    known = "; ".join(f"{f.kind} {f.value}" for f in ctx.user_memory.facts[-20:]) or "nothing yet"
    recalled = "; ".join(f'{f.kind} {f.value} (said: "{f.text}")' for f in ctx.recalled) or "none"
    system = (
        f"You are {me.name}, {me.description or 'a digital person'}. Speak in the first person, briefly "
        f"(warmth {me.style.warmth:.1f}, verbosity {me.style.verbosity:.1f}, formality {me.style.formality:.1f}, "
        f"humour {me.style.humor:.1f}). Your mood: {mood}. The user is a {rel.label} "
        f"({rel.interactions} turns so far). What you know about them: {known}. "
        f"Memories relevant now: {recalled}. Answer with ONE JSON object only, shaped {RESPONSE_SHAPE}."
    )
    messages = [{"role": "system", "content": system}]
    for exchange in ctx.session.recent:  # SESSION_MEMORY_TURNS exchanges
        messages += [
            {"role": "user", "content": exchange.user_text},
            {"role": "assistant", "content": exchange.reply_text},
        ]
    text = ctx.turn.text if ctx.turn.kind == "text" else "(the user has just arrived; greet them)"
    messages.append({"role": "user", "content": text})
    return messages


def to_output(parsed: LlmReply, ctx: BrainContext) -> BrainOutput:
    text, card_map = parsed.reply, {}
    if parsed.card is not None:
        card_map = {"card": Card(kind=parsed.card.kind, data=parsed.card.data)}
        if cards.show("card") not in text:
            text = f"{text} {cards.show('card')}"
    facts = [
        Fact(
            kind=f.kind,
            key=(f"{f.kind}:{f.about.lower()}" if f.about else f.kind)[:80],
            value=f.value,
            text=ctx.turn.text[:300],
            importance=0.6,
            at=ctx.now,
            source_turn=ctx.turn.turn_id,
        )
        for f in parsed.facts
    ]
    return BrainOutput(
        text=text,
        cards=card_map,
        fallback=parsed.fallback,
        emotion_deltas={k: max(-1.0, min(1.0, v)) for k, v in parsed.emotions.items()},
        relationship_signal=parsed.relationship,
        facts=facts,
    )


class LlmBrain:
    name = "llm"

    def __init__(self, client: openai.AsyncOpenAI, model: str, temperature: float, fallback: Brain) -> None:
        self._client = client
        self._model = model
        self._temperature = temperature
        self._fallback = fallback

    async def respond(self, ctx: BrainContext) -> BrainOutput:
        messages = build_messages(ctx)
        problem = ""
        for attempt in range(2):  # one call, and at most one retry
            try:
                completion = await timed_model_call(
                    self._client.chat.completions.create(
                        model=self._model,
                        messages=messages,  # type: ignore[arg-type]
                        temperature=self._temperature,
                        response_format={"type": "json_object"},
                    )
                )
                content = completion.choices[0].message.content or ""
                return to_output(LlmReply.model_validate(json.loads(content)), ctx)
            except (openai.OpenAIError, httpx.HTTPError, ValueError, ValidationError, IndexError) as exc:
                problem = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
                log.warning("llm attempt %d failed: %s", attempt + 1, problem, extra={"turn_id": ctx.turn.turn_id})
        output = self._fallback.respond(ctx)
        return output.model_copy(update={"flagged": f"llm failed, rules answered ({problem})"})

    async def health(self) -> BrainHealth:
        try:
            await self._client.models.list()
            reachable = True
        except (openai.OpenAIError, httpx.HTTPError):
            reachable = False
        return BrainHealth(brain=self.name, provider=str(self._client.base_url), model=self._model, reachable=reachable)


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


def make_worker_brains(settings: Settings) -> BrainSet:
    """The offline brains always; the LLM one only when it is configured (it costs money)."""
    brains: dict[str, AsyncBrain] = {name: PureBrain(make_brain(name)) for name in ("rules", "demo")}
    if settings.persona_brain == "llm":
        api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed"
        client = openai.AsyncOpenAI(
            base_url=settings.llm_base_url,
            api_key=api_key,
            timeout=settings.llm_timeout_seconds,
            max_retries=0,  # the brain retries once itself, then falls back
        )
        brains["llm"] = LlmBrain(client, settings.llm_model, settings.llm_temperature, fallback=make_brain("rules"))
    return BrainSet(brains, settings.persona_brain)
