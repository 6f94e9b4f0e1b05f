"""Numeric helpers shared by the emotional and relational models."""


def clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return max(low, min(high, value))


def reinforce(value: float, delta: float, low: float = 0.0, high: float = 1.0) -> float:
    """Move `value` by `delta` with diminishing returns near the bounds.

    A push covers `delta` of the remaining room towards the bound it heads for, so repeated
    pushes approach the bound without ever overshooting it.
    """
    delta = clamp(delta, -1.0, 1.0)
    if delta >= 0:
        return clamp(value + delta * (high - value), low, high)
    return clamp(value + delta * (value - low), low, high)
