"""Appraisal: how a turn lands emotionally, from the words and from the scene's perception.

Words are scored by VADER (vaderSentiment), a sentiment model made for short chat text (it
handles negation, intensifiers, emoticons and capitals). Soul Machines adds perception
variables (User_Turn_Positivity, ...); Hume EVI adds prosody scores of the voice.
"""

from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from app.persona.bounds import clamp
from app.persona.emotion import add_delta, merge_deltas

# Hume prosody expressions -> our emotions (the strongest of each group counts).
PROSODY_MAP: dict[str, tuple[str, ...]] = {
    "joy": ("Joy", "Amusement", "Excitement", "Contentment", "Satisfaction"),
    "sadness": ("Sadness", "Disappointment", "Distress", "Pain"),
    "anger": ("Anger", "Annoyance", "Contempt"),
    "fear": ("Fear", "Anxiety", "Horror"),
    "surprise": ("Surprise (positive)", "Surprise (negative)", "Awe", "Realization"),
    "love": ("Love", "Adoration", "Romance", "Sympathy"),
    "disgust": ("Disgust",),
}
SECOND_PERSON = {"you", "you're", "your", "youre", "u"}


class Appraisal(BaseModel):
    valence: float = 0.0  # [-1, 1] how pleasant the turn was for the persona
    directed_at_persona: bool = False  # the user spoke about the persona ("you are ...")
    deltas: dict[str, float] = Field(default_factory=dict)


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def appraise_words(text: str) -> Appraisal:
    if not text.strip():
        return Appraisal()
    compound = _analyzer().polarity_scores(text)["compound"]
    words = {w.strip(".,!?;:'\"").lower() for w in text.split()}
    directed = bool(words & SECOND_PERSON)
    deltas: dict[str, float] = {}
    if compound >= 0.05:
        add_delta(deltas, "joy", 0.3 * compound)
        if directed:
            add_delta(deltas, "love", 0.2 * compound)
    elif compound <= -0.05:
        add_delta(deltas, "sadness", 0.25 * -compound)
        if directed:  # hostility aimed at the persona stings differently from sad news
            add_delta(deltas, "anger", 0.3 * -compound)
            add_delta(deltas, "joy", -0.2 * -compound)
    if text.rstrip().endswith("?"):
        add_delta(deltas, "surprise", 0.03)
    return Appraisal(valence=compound, directed_at_persona=directed, deltas=deltas)


def perception_deltas(variables: dict[str, Any]) -> dict[str, float]:
    """Shifts from the scene's perception (Soul Machines) and the voice's prosody (Hume)."""
    deltas: dict[str, float] = {}
    if (positivity := _number(variables.get("User_Turn_Positivity"))) is not None:
        add_delta(deltas, "joy", 0.2 * clamp(positivity))
    if (negativity := _number(variables.get("User_Turn_Negativity"))) is not None:
        add_delta(deltas, "sadness", 0.2 * clamp(negativity))
    if (confusion := _number(variables.get("User_Turn_Confusion"))) is not None:
        add_delta(deltas, "surprise", 0.1 * clamp(confusion))
    prosody = variables.get("prosody")
    if isinstance(prosody, dict):
        for emotion, expressions in PROSODY_MAP.items():
            scores = [s for e in expressions if (s := _number(prosody.get(e))) is not None]
            if scores:
                add_delta(deltas, emotion, 0.25 * clamp(max(scores)))
    return deltas


def appraise(text: str, variables: dict[str, Any]) -> Appraisal:
    words = appraise_words(text)
    deltas = merge_deltas(words.deltas, perception_deltas(variables))
    return Appraisal(valence=words.valence, directed_at_persona=words.directed_at_persona, deltas=deltas)
