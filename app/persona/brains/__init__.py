"""Brains turn a turn plus the persona's state into words. Select one with PERSONA_BRAIN."""

from app.persona.brains.base import Brain, BrainContext, BrainOutput
from app.persona.brains.demo import DemoBrain

BRAINS: dict[str, type[Brain]] = {"demo": DemoBrain}


def make_brain(name: str) -> Brain:
    try:
        return BRAINS[name]()
    except KeyError:
        raise ValueError(f"unknown brain {name!r}; choose one of {sorted(BRAINS)}") from None


__all__ = ["Brain", "BrainContext", "BrainOutput", "make_brain"]
