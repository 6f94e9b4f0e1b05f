"""The persona's state for anyone to see: personality, mood after decay, and its thoughts.

Nothing here is about a particular user: emotions are persona-wide numbers and thoughts are
made from mood and activity only.
"""

import time

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from app.api.v1.synthetic_soul import SoulAgent, soul_agent
from app.auth.deps import services
from app.persona.emotion import EmotionState, decayed, dominant
from app.persona.profiles import BigFive, PersonaProfile, Style
from app.persona.thoughts import Thought
from app.services import Services
from app.store.mood import MoodRead

router = APIRouter(tags=["persona"])


class AgentState(BaseModel):
    persona_id: str
    name: str
    description: str
    mode: str
    traits: BigFive
    style: Style
    emotions: dict[str, float]
    baseline: dict[str, float]
    mood: str
    agent: SoulAgent  # the same, as Synthetic Soul clients read it


class ThoughtOut(BaseModel):
    text: str
    mood: str | None
    at: float

    @classmethod
    def of(cls, thought: Thought) -> "ThoughtOut":
        return cls(text=thought.text, mood=thought.mood, at=thought.at)


def mood_summary(emotion: EmotionState, baseline: dict[str, float]) -> str:
    top = dominant(emotion, baseline)
    if top is None:
        return "calm, at rest"
    strength = emotion.values[top] - baseline[top]
    return f"{'strongly ' if strength > 0.3 else ''}{top}"


def as_of_now(mood: MoodRead) -> EmotionState:
    """The persona's emotions as of now: decay is computed on read, never written."""
    profile = mood.profile
    return decayed(mood.current, profile.baseline, profile.half_life_seconds, time.time())


async def mood_now(svc: Services, profile: PersonaProfile) -> EmotionState:
    return as_of_now(await svc.state.mood.read(profile))


@router.get("/agents/active", response_model=AgentState)
async def active_agent(
    persona_id: str | None = Query(None, max_length=64), svc: Services = Depends(services)
) -> AgentState:
    profile = svc.catalog.get(svc.catalog.resolve(persona_id))
    emotion = await mood_now(svc, profile)
    emotions = emotion.shown()
    return AgentState(
        persona_id=profile.persona_id,
        name=profile.name,
        description=profile.description,
        mode=profile.mode,
        traits=profile.traits,
        style=profile.style,
        emotions=emotions,
        baseline=profile.baseline,
        mood=mood_summary(emotion, profile.baseline),
        agent=soul_agent(profile.name, profile.description, profile.traits.model_dump(), emotions),
    )


@router.get("/thoughts/latest", response_model=list[ThoughtOut])
async def latest_thoughts(
    persona_id: str | None = Query(None, max_length=64),
    limit: int = Query(5, ge=1, le=50),
    svc: Services = Depends(services),
) -> list[ThoughtOut]:
    thoughts = await svc.thoughts.latest(svc.catalog.resolve(persona_id), limit)
    return [ThoughtOut.of(t) for t in thoughts]
