"""Emotions: a named set of floats in [0, 1] that decay towards a temperament baseline.

Decay is a pure function of elapsed time, applied whenever state is read or changed, so no
background loop ever writes emotions and races the turns (architecture invariant 5).
"""

from pydantic import BaseModel

from app.persona.bounds import clamp, reinforce

# Every emotion is a float in [0, 1]: 0 absent, 1 as strong as it gets.
LITE_EMOTIONS: tuple[str, ...] = ("joy", "sadness", "anger", "fear", "surprise", "love", "disgust")
# PERSONA_MODE=rich: Plutchik's remaining primaries plus social and self-conscious feelings.
RICH_EMOTIONS: tuple[str, ...] = (
    *LITE_EMOTIONS,
    "trust",
    "anticipation",
    "curiosity",
    "contentment",
    "gratitude",
    "pride",
    "loneliness",
    "anxiety",
    "embarrassment",
)


class EmotionState(BaseModel):
    values: dict[str, float]
    as_of: float  # epoch seconds at which `values` were exact

    def shown(self) -> dict[str, float]:
        """The values as the API and the history show them: four decimals say all a reader needs."""
        return {name: round(value, 4) for name, value in self.values.items()}


def add_delta(deltas: dict[str, float], name: str, amount: float) -> None:
    """Accumulate a change to one emotion; a change is kept within [-1, 1]."""
    deltas[name] = clamp(deltas.get(name, 0.0) + amount, -1.0, 1.0)


def merge_deltas(*parts: dict[str, float]) -> dict[str, float]:
    merged: dict[str, float] = {}
    for part in parts:
        for name, amount in part.items():
            add_delta(merged, name, amount)
    return merged


def initial_state(baseline: dict[str, float], now: float) -> EmotionState:
    return EmotionState(values=dict(baseline), as_of=now)


def decayed(state: EmotionState, baseline: dict[str, float], half_life: float, now: float) -> EmotionState:
    """The state at `now`: each emotion has moved exponentially back towards its baseline."""
    elapsed = max(0.0, now - state.as_of)
    factor = 0.5 ** (elapsed / half_life)
    values = {name: base + (state.values.get(name, base) - base) * factor for name, base in baseline.items()}
    return EmotionState(values=values, as_of=max(now, state.as_of))


def apply_deltas(
    state: EmotionState,
    deltas: dict[str, float],
    baseline: dict[str, float],
    half_life: float,
    now: float,
) -> EmotionState:
    """Decay to `now`, then reinforce each named emotion; unknown names are ignored."""
    current = decayed(state, baseline, half_life, now)
    values = {
        name: reinforce(value, deltas[name]) if name in deltas else value for name, value in current.values.items()
    }
    return EmotionState(values=values, as_of=current.as_of)


def dominant(state: EmotionState, baseline: dict[str, float]) -> str | None:
    """The emotion furthest above its baseline, or None when the persona is at rest."""
    name, lift = max(
        ((n, v - baseline.get(n, 0.0)) for n, v in state.values.items()),
        key=lambda item: item[1],
        default=(None, 0.0),
    )
    return name if lift > 0.05 else None
