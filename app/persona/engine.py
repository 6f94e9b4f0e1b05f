"""One persona step: state + turn + clock + seed -> what to say and how state should change.

`prepare` builds the brain's context (decay, appraisal, facts, recall), a brain answers, and
`finish` turns the answer into *changes* (emotion deltas, a relationship signal, facts and an
exchange to remember) rather than new documents, so the store applies them to whatever state
is current when it writes and concurrent turns compose (invariant 3). A brain that needs I/O
(the LLM) runs between the two, outside this package.
"""

import re

from pydantic import BaseModel, Field

from app.persona import cards as cards_module
from app.persona import facts as facts_module
from app.persona import safety
from app.persona.appraisal import appraise
from app.persona.bounds import clamp
from app.persona.brains.base import Brain, BrainContext, BrainOutput
from app.persona.emotion import EmotionState, decayed, dominant, felt, merge_deltas
from app.persona.facts import Fact
from app.persona.memory import Exchange, SessionMemory, UserMemory, learn, recall, reconcile
from app.persona.profiles import PersonaProfile
from app.persona.relationship import SUMMARY_PHRASES, Relationship, faded
from app.turns import Card, Turn

FACTS_CONSIDERED = 200  # the context's view of user memory; the store bounds what is kept
# One user's turn moves the persona's shared mood by this share of what it felt; the relationship's
# own feelings take it in full. Many users together still move the mood, one alone only a little.
SHARED_MOOD_SHARE = 0.1


def shared(deltas: dict[str, float], feelings: dict[str, float]) -> dict[str, float]:
    """A turn's emotional changes as the shared mood takes them: a share, and only as far as the
    feelings towards this user still move, so one user, however long they talk, moves the shared
    mood by at most that share of the whole range (their feelings saturate first)."""
    taken = {}
    for name, delta in deltas.items():
        room = 1.0 - feelings.get(name, 0.0) if delta > 0 else feelings.get(name, 0.0)
        if moved := round(delta * room * SHARED_MOOD_SHARE, 6):
            taken[name] = moved
    return taken


class PersonaState(BaseModel):
    emotion: EmotionState
    relationship: Relationship
    memory: SessionMemory
    user_memory: UserMemory = Field(default_factory=UserMemory)


class StateChanges(BaseModel):
    """What one turn changes in the persona's state, besides the exchange it adds to its session's
    memory, as changes rather than new documents: the store applies them to whatever state is
    current when it writes, and a turn's history entry keeps them, so a turn run again after a
    crash applies exactly what it answered with."""

    emotion_deltas: dict[str, float] = Field(default_factory=dict)  # what this user's turn felt, in full
    mood_deltas: dict[str, float] = Field(default_factory=dict)  # what the shared mood takes of it
    relationship_signal: float = 0.0
    facts: list[Fact] = Field(default_factory=list)
    known: list[str] = Field(default_factory=list)  # phrases for the relationship summary


class StepResult(StateChanges):
    exchange: Exchange
    reply_text: str
    cards: dict[str, Card] = Field(default_factory=dict)
    fallback: bool = False
    flagged: str | None = None
    answered_by: str | None = None
    crisis: bool = False
    interrupted: bool = False
    profile: dict[str, str] = Field(default_factory=dict)  # name, lives, origin as now known

    def changes(self) -> StateChanges:
        return StateChanges.model_validate(self.model_dump(include=set(StateChanges.model_fields)))


def prepare(profile: PersonaProfile, state: PersonaState, turn: Turn, now: float, seed: int = 0) -> BrainContext:
    emotion = decayed(state.emotion, profile.baseline, profile.half_life_seconds, now)
    relationship = faded(state.relationship, now)
    before = state.memory.recent[-1].user_text if state.memory.recent else ""
    said = facts_module.extract(turn.text, turn.turn_id, now, before) if turn.kind == "text" else []
    vouched = [
        f
        for f in facts_module.from_platform(turn.known_facts, turn.turn_id, now)
        if (old := state.user_memory.get(f.key)) is None or old.value != f.value
    ]
    new_facts = [*vouched, *said]
    known = learn(state.user_memory, new_facts, FACTS_CONSIDERED, now)
    asked = facts_module.question_kinds(turn.text)
    about = facts_module.question_about(turn.text)
    if about:  # "what's my cat's name?" recalls the cat, not the sister or the dog, for every brain
        recalled = [f for f in known.facts if f.kind in asked and f.key.split(":", 1)[-1] == about]
    else:
        recalled = recall(known, turn.text, asked, now) if turn.text else []
    return BrainContext(
        profile=profile,
        emotion=emotion,
        dominant_emotion=dominant(felt(emotion, relationship.feelings), profile.baseline),
        relationship=relationship,
        session=reconcile(state.memory, turn.transcript),  # what the client heard is what was said
        user_memory=known,
        recalled=recalled,
        asked=asked,
        asked_about=about,
        new_facts=new_facts,
        appraisal=appraise(turn.text, turn.variables),
        turn=turn,
        now=now,
        seed=seed,
    )


def _known_phrases(memory: UserMemory) -> list[str]:
    phrases = []
    for fact in sorted(memory.facts, key=lambda f: f.importance, reverse=True):
        label = fact.key.split(":", 1)[-1] if fact.kind in ("person", "pet") else fact.kind  # "cat Pepper"
        phrases.append(f"{label} {fact.value}")
    return phrases[:SUMMARY_PHRASES]


def _with_care(ctx: BrainContext, output: BrainOutput) -> BrainOutput:
    """Soon after crisis words no brain shows a card: a model's reply cannot undo the safety answer."""
    if not output.cards or not safety.in_crisis(ctx.session):
        return output
    text = output.text
    for card_id in output.cards:
        text = text.replace(cards_module.show(card_id), "")
    text = re.sub(r" {2,}", " ", text).strip() or "I'm here with you."
    return output.model_copy(update={"text": text, "cards": {}})


def finish(ctx: BrainContext, output: BrainOutput) -> StepResult:
    output = _with_care(ctx, output)
    appraisal = ctx.appraisal
    weight = 0.6 if appraisal.directed_at_persona else 0.3  # praise or insult aimed at it counts more
    # Sad news told to the persona is trust, not offence: only what is aimed at it counts against it.
    valence = appraisal.valence if appraisal.directed_at_persona or appraisal.valence > 0 else 0.0
    facts = {f.key: f for f in [*ctx.new_facts, *output.facts]}
    known = learn(ctx.user_memory, output.facts, FACTS_CONSIDERED, ctx.now)
    felt_deltas = {
        name: delta
        for name, delta in merge_deltas(appraisal.deltas, output.emotion_deltas).items()
        if name in ctx.emotion.values  # a model may name feelings this persona does not have
    }
    return StepResult(
        reply_text=output.text,
        cards=output.cards,
        fallback=output.fallback,
        flagged=output.flagged,
        answered_by=output.answered_by,
        crisis=output.crisis,
        interrupted=output.interrupted,
        emotion_deltas=felt_deltas,
        mood_deltas=shared(felt_deltas, ctx.relationship.feelings),
        relationship_signal=clamp(weight * valence + output.relationship_signal, -1.0, 1.0),
        facts=list(facts.values()),
        known=_known_phrases(known),
        profile={kind: fact.value for kind in facts_module.PLATFORM_KINDS if (fact := known.get(kind))},
        exchange=Exchange(turn_id=ctx.turn.turn_id, user_text=ctx.turn.text, reply_text=output.text, at=ctx.now),
    )


def safety_answer(ctx: BrainContext, resource_line: str = safety.DEFAULT_RESOURCE_LINE) -> BrainOutput | None:
    """The answer to crisis language, before any brain is asked (a model never sees the turn)."""
    if ctx.turn.kind != "text":
        return None
    style = ctx.profile.style
    text = safety.answer(ctx.turn.text, ctx.session, resource_line, style.formality, ctx.seed)
    if text is None:
        return None
    return BrainOutput(
        text=text,
        emotion_deltas={"love": 0.1, "sadness": 0.05, "joy": -0.05},
        relationship_signal=0.1,
        flagged=safety.FLAG,
        crisis=True,
    )


def step(
    profile: PersonaProfile,
    state: PersonaState,
    turn: Turn,
    brain: Brain,
    now: float,
    seed: int = 0,
    resource_line: str = safety.DEFAULT_RESOURCE_LINE,
) -> StepResult:
    ctx = prepare(profile, state, turn, now, seed)
    return finish(ctx, safety_answer(ctx, resource_line) or brain.respond(ctx))
