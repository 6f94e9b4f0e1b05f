"""Persona profiles: who the persona is, and from that its resting temperament."""

from pydantic import BaseModel

from app.persona.emotion import LITE_EMOTIONS


class PersonaProfile(BaseModel):
    persona_id: str
    name: str
    baseline: dict[str, float]  # resting value of each emotion, in [0, 1]
    half_life_seconds: float = 600.0  # how fast emotions return to baseline


def default_profile(persona_id: str) -> PersonaProfile:
    baseline = dict.fromkeys(LITE_EMOTIONS, 0.1) | {"joy": 0.4, "love": 0.2, "surprise": 0.15}
    return PersonaProfile(persona_id=persona_id, name="Ava", baseline=baseline)
