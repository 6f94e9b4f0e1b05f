"""Persona profiles: who the persona is, and from that its resting temperament and style.

Personality (Big Five traits, plus finer facets in the rich schema) is the single source of a
persona's baseline emotions, how fast its feelings fade, and how it speaks. Profiles are plain
data (see config/personas.toml); loading the file is the caller's job.
"""

from typing import Literal

from pydantic import BaseModel, Field

from app.persona.bounds import clamp
from app.persona.emotion import LITE_EMOTIONS, RICH_EMOTIONS

PersonaMode = Literal["lite", "rich"]
Unit = float  # a value in [0, 1]


class BigFive(BaseModel):
    openness: float = Field(0.5, ge=0, le=1)
    conscientiousness: float = Field(0.5, ge=0, le=1)
    extraversion: float = Field(0.5, ge=0, le=1)
    agreeableness: float = Field(0.5, ge=0, le=1)
    neuroticism: float = Field(0.5, ge=0, le=1)


class Facets(BaseModel):
    """The rich schema's finer traits; unset ones are derived from the Big Five."""

    warmth: float | None = Field(None, ge=0, le=1)
    humor: float | None = Field(None, ge=0, le=1)
    curiosity: float | None = Field(None, ge=0, le=1)
    formality: float | None = Field(None, ge=0, le=1)
    patience: float | None = Field(None, ge=0, le=1)


class Style(BaseModel):
    """How the persona speaks, derived from personality."""

    warmth: Unit
    verbosity: Unit
    formality: Unit
    humor: Unit
    curiosity: Unit


class PersonaDefinition(BaseModel):
    """One entry of the personas file."""

    name: str = Field(min_length=1, max_length=60)
    description: str = ""
    half_life_seconds: float = Field(600.0, gt=0)
    traits: BigFive = Field(default_factory=BigFive)
    facets: Facets = Field(default_factory=Facets)


class PersonaProfile(BaseModel):
    persona_id: str
    name: str
    description: str = ""
    mode: PersonaMode = "lite"
    traits: BigFive = Field(default_factory=BigFive)
    style: Style
    baseline: dict[str, float]  # resting value of each emotion, in [0, 1]
    half_life_seconds: float = 600.0  # how fast emotions return to baseline


def derive_style(traits: BigFive, facets: Facets) -> Style:
    return Style(
        warmth=facets.warmth if facets.warmth is not None else clamp(0.3 + 0.6 * traits.agreeableness),
        verbosity=clamp(0.2 + 0.7 * traits.extraversion),
        formality=facets.formality if facets.formality is not None else clamp(0.2 + 0.6 * traits.conscientiousness),
        humor=facets.humor if facets.humor is not None else clamp(0.5 * traits.openness + 0.4 * traits.extraversion),
        curiosity=facets.curiosity if facets.curiosity is not None else clamp(0.2 + 0.7 * traits.openness),
    )


def derive_baseline(traits: BigFive, mode: PersonaMode) -> dict[str, float]:
    """Resting emotions from temperament: extraverts rest happier, neurotic personas more anxious."""
    t = traits
    lite = {
        "joy": 0.15 + 0.35 * t.extraversion + 0.1 * t.agreeableness - 0.1 * t.neuroticism,
        "sadness": 0.05 + 0.2 * t.neuroticism,
        "anger": 0.03 + 0.12 * t.neuroticism - 0.05 * t.agreeableness,
        "fear": 0.04 + 0.2 * t.neuroticism,
        "surprise": 0.08 + 0.15 * t.openness,
        "love": 0.08 + 0.25 * t.agreeableness,
        "disgust": 0.03 + 0.07 * (1 - t.agreeableness),
    }
    if mode == "rich":
        lite |= {
            "trust": 0.15 + 0.35 * t.agreeableness,
            "anticipation": 0.1 + 0.2 * t.openness + 0.1 * t.extraversion,
            "curiosity": 0.1 + 0.4 * t.openness,
            "contentment": 0.15 + 0.2 * t.conscientiousness + 0.15 * (1 - t.neuroticism),
            "gratitude": 0.08 + 0.2 * t.agreeableness,
            "pride": 0.05 + 0.15 * t.conscientiousness,
            "loneliness": 0.03 + 0.1 * t.extraversion * t.neuroticism,
            "anxiety": 0.04 + 0.3 * t.neuroticism,
            "embarrassment": 0.02 + 0.1 * t.neuroticism,
        }
    names = RICH_EMOTIONS if mode == "rich" else LITE_EMOTIONS
    return {name: round(clamp(lite[name]), 4) for name in names}


def build_profile(persona_id: str, definition: PersonaDefinition, mode: PersonaMode) -> PersonaProfile:
    """Neurotic personas hold on to feelings longer; the file's half-life is the calm case."""
    half_life = definition.half_life_seconds * (1 + 0.5 * definition.traits.neuroticism)
    return PersonaProfile(
        persona_id=persona_id,
        name=definition.name,
        description=definition.description,
        mode=mode,
        traits=definition.traits,
        style=derive_style(definition.traits, definition.facets),
        baseline=derive_baseline(definition.traits, mode),
        half_life_seconds=half_life,
    )


def default_profile(persona_id: str, mode: PersonaMode = "lite") -> PersonaProfile:
    """The built-in persona used when none is configured under this id."""
    return build_profile(persona_id, PersonaDefinition(name="Ava"), mode)
