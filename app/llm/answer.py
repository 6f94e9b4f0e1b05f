"""What a model's answer may change: its data checked piece by piece against the persona's rules.

A model is an untrusted author. Its card is kept only in a known shape with https URLs; its facts
only when grounded in the user's own words this turn; its emotions only those the persona has,
clamped; its relationship signal clamped. A bad piece is dropped (and named in the log), never
the whole answer: the words have already been spoken.
"""

from typing import Any

from pydantic import BaseModel, Field, ValidationError

from app.persona import cards
from app.persona.bounds import clamp
from app.persona.brains.base import BrainContext, BrainOutput
from app.persona.facts import Fact, FactKind, grounded


class LlmFact(BaseModel):
    kind: FactKind
    value: str = Field(min_length=1, max_length=120)
    about: str = Field("", max_length=40)  # the relation or thing, e.g. "sister", "jazz"


def _card(raw: Any, problems: list[str]) -> dict[str, Any]:
    if raw is None:
        return {}
    card = cards.checked(raw.get("kind", ""), raw.get("data")) if isinstance(raw, dict) else None
    if card is None:
        problems.append("card refused (unknown shape, or a URL that is not https)")
        return {}
    return {"card": card}


def _facts(raw: Any, ctx: BrainContext, problems: list[str]) -> list[Fact]:
    facts = []
    for item in raw if isinstance(raw, list) else []:
        try:
            fact = LlmFact.model_validate(item)
        except ValidationError:
            problems.append("a malformed fact dropped")
            continue
        if not grounded(fact.value, ctx.turn.text):
            problems.append(f"a fact not in the user's words dropped ({fact.kind})")
            continue
        key = f"{fact.kind}:{fact.about.lower()}" if fact.about else fact.kind
        facts.append(
            Fact(
                kind=fact.kind,
                key=key[:80],
                value=fact.value,
                text=ctx.turn.text[:300],
                importance=0.6,
                at=ctx.now,
                source_turn=ctx.turn.turn_id,
            )
        )
    return facts


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def to_output(text: str, data: dict[str, Any] | None, ctx: BrainContext) -> tuple[BrainOutput, list[str]]:
    """The brain's output from the spoken text and the data after it, and what was refused."""
    problems: list[str] = []
    data = data or {}
    card = _card(data.get("card"), problems)
    if card and cards.show("card") not in text:
        text = f"{text} {cards.show('card')}"
    emotions = asked if isinstance(asked := data.get("emotions"), dict) else {}
    deltas = {
        name: clamp(number, -1.0, 1.0)
        for name, value in emotions.items()
        if name in ctx.emotion.values and (number := _number(value)) is not None
    }
    relationship = _number(data.get("relationship"))
    output = BrainOutput(
        text=text,
        cards=card,
        emotion_deltas=deltas,
        relationship_signal=clamp(relationship, -1.0, 1.0) if relationship is not None else 0.0,
        facts=_facts(data.get("facts"), ctx, problems),
    )
    return output, problems
