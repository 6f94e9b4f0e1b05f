"""Emotions: a named set of floats in [0, 1] that decay towards a temperament baseline.

Decay is a pure function of elapsed time, applied whenever state is read or changed, so no
background loop ever writes emotions and races the turns (architecture invariant 5).
"""

from collections.abc import Iterable

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


# Opposite feelings offset each other: a push up on one is a push down on the other, so joy and
# sadness (or love and anger) cannot both saturate at once.
OPPOSITES: dict[str, str] = {
    "joy": "sadness",
    "sadness": "joy",
    "love": "anger",
    "anger": "love",
    "trust": "disgust",
    "disgust": "trust",
    "contentment": "anxiety",
    "anxiety": "contentment",
}


def offset(deltas: dict[str, float]) -> dict[str, float]:
    """The changes with each rise also lowering its opposite by as much."""
    result = dict(deltas)
    for name, amount in deltas.items():
        if amount > 0 and (other := OPPOSITES.get(name)):
            add_delta(result, other, -amount)
    return result


FEELING_WEIGHT = 0.5  # how much the feeling towards a user colours the mood they meet


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


def _decay(values: dict[str, float], elapsed: float, baseline: dict[str, float], half_life: float) -> dict[str, float]:
    factor = 0.5 ** (max(0.0, elapsed) / half_life)
    return {name: base + (values.get(name, base) - base) * factor for name, base in baseline.items()}


def decayed(state: EmotionState, baseline: dict[str, float], half_life: float, now: float) -> EmotionState:
    """The state at `now`: each emotion has moved exponentially back towards its baseline."""
    values = _decay(state.values, now - state.as_of, baseline, half_life)
    return EmotionState(values=values, as_of=max(now, state.as_of))


def fold(
    state: EmotionState,
    changes: Iterable[tuple[float, dict[str, float]]],
    baseline: dict[str, float],
    half_life: float,
) -> EmotionState:
    """`state` with each change `(at, deltas)` applied in turn: decay to `at`, then reinforce each
    named emotion (opposites offset); unknown names are ignored. On plain floats, one state built
    at the end: a persona's shared mood folds dozens of pending changes on every read."""
    values, as_of = state.values, state.as_of
    for at, deltas in changes:
        decayed_values = _decay(values, at - as_of, baseline, half_life)
        as_of = max(at, as_of)
        pushes = offset(deltas)
        for name in pushes.keys() & decayed_values.keys():
            decayed_values[name] = reinforce(decayed_values[name], pushes[name])
        values = decayed_values
    return EmotionState(values=dict(values), as_of=as_of)


def apply_deltas(
    state: EmotionState,
    deltas: dict[str, float],
    baseline: dict[str, float],
    half_life: float,
    now: float,
) -> EmotionState:
    """Decay to `now`, then reinforce each named emotion (opposites offset); unknown names are ignored."""
    return fold(state, [(now, deltas)], baseline, half_life)


def felt(mood: EmotionState, feelings: dict[str, float]) -> EmotionState:
    """The persona's mood as one user meets it: its own mood, coloured by its feelings towards them."""
    values = {name: clamp(value + FEELING_WEIGHT * feelings.get(name, 0.0)) for name, value in mood.values.items()}
    return EmotionState(values=values, as_of=mood.as_of)


def dominant(state: EmotionState, baseline: dict[str, float]) -> str | None:
    """The emotion furthest above its baseline, or None when the persona is at rest."""
    name, lift = max(
        ((n, v - baseline.get(n, 0.0)) for n, v in state.values.items()),
        key=lambda item: item[1],
        default=(None, 0.0),
    )
    return name if lift > 0.05 else None
