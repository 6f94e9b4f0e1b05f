"""Brains turn a turn plus the persona's state into words. Select one with PERSONA_BRAIN.

`rules` (default) and `demo` are pure and offline. `llm` needs the network, so it lives outside
this package (app/brains.py) and falls back to `rules` when the model fails.
"""

from app.persona.brains.base import Brain, BrainContext, BrainOutput
from app.persona.brains.demo import DemoBrain
from app.persona.brains.rules import RulesBrain

PURE_BRAINS: dict[str, type[Brain]] = {"rules": RulesBrain, "demo": DemoBrain}


def make_brain(name: str) -> Brain:
    try:
        return PURE_BRAINS[name]()
    except KeyError:
        raise ValueError(f"unknown brain {name!r}; choose one of {sorted(PURE_BRAINS)}") from None


__all__ = ["Brain", "BrainContext", "BrainOutput", "make_brain"]
