"""The prompt: this persona, this user's relationship and memories, this session. Nobody else's.

The model is asked for the reply first, as plain text (it is spoken as it streams), then
DATA_MARKER and one JSON object with what the persona needs besides the words. The data may be
left out: the offline appraiser and fact extractor always run, so a model that only talks (most
small local models) still moves the persona's mood and memory.
"""

from typing import get_args

from openai.types.chat import ChatCompletionMessageParam

from app.llm.reader import DATA_END, DATA_MARKER
from app.persona.brains.base import BrainContext
from app.persona.facts import Fact, FactKind
from app.persona.safety import in_crisis
from app.turns import CardKind, TranscriptLine

FACT_KINDS = ", ".join(get_args(FactKind))
CARD_KINDS = ", ".join(get_args(CardKind))
CARD_SHAPES = (
    'image {"url": https URL, "alt": str}; options {"options": [{"label": str, "value": str}]}; '
    'markdown {"text": str}; externalLink {"url": https URL, "title": str, "description": str, '
    '"imageUrl": https URL or ""}; video {"videoId": YouTube id, "autoplay": bool}'
)
KNOWN_FACTS_IN_PROMPT = 20


def data_shape(emotions: list[str]) -> str:
    return (
        '{"card": null or {"kind": one of ' + CARD_KINDS + ', "data": its fields}, '
        '"emotions": {one of ' + ", ".join(emotions) + ": change in [-1, 1]}, "
        '"facts": [{"kind": one of ' + FACT_KINDS + ', "value": the user\'s own words, "about": str}], '
        '"relationship": how this turn felt to you, in [-1, 1]}'
    )


def _label(fact: Fact) -> str:
    """What a fact is about, as a person would say it: "sister Lena", "cat Pepper", "name Ada"."""
    return fact.key.split(":", 1)[-1] if fact.kind in ("person", "pet") and ":" in fact.key else fact.kind


def system_prompt(ctx: BrainContext) -> str:
    me, rel = ctx.profile, ctx.relationship
    emotions = sorted(ctx.emotion.values)
    mood = ", ".join(f"{k} {v:.2f}" for k, v in sorted(ctx.emotion.values.items(), key=lambda kv: -kv[1])[:4])
    known = "; ".join(f"{_label(f)} {f.value}" for f in ctx.user_memory.facts[-KNOWN_FACTS_IN_PROMPT:]) or "nothing yet"
    recalled = "; ".join(f'{f.kind} {f.value} (said: "{f.text}")' for f in ctx.recalled) or "none"
    summary = rel.summary or "no summary yet"
    care = (
        " They spoke of a crisis in this conversation: be gentle and steady, no jokes, no cards."
        if in_crisis(ctx.session)
        else ""
    )
    return (
        f"You are {me.name}, {me.description or 'a digital person'}. Speak in the first person, briefly, "
        f"as you would say it aloud (warmth {me.style.warmth:.1f}, verbosity {me.style.verbosity:.1f}, "
        f"formality {me.style.formality:.1f}, humour {me.style.humor:.1f}). Your emotions are {', '.join(emotions)}; "
        f"your mood now: {mood}. The user is a {rel.label} (affinity {rel.affinity:.2f} in [-1, 1], trust "
        f"{rel.trust:.2f} in [0, 1], {rel.interactions} turns so far; who they are to you: {summary}). "
        f"What you know about them: {known}. Memories relevant now: {recalled}.{care}\n"
        f"Answer with your reply as plain text. Then, on a new line, write {DATA_MARKER}, one JSON object "
        f"shaped {data_shape(emotions)}, and {DATA_END}. Cards: {CARD_SHAPES}. Facts only from what the "
        f"user said in this message; leave out what you do not know."
    )


def _heard(line: TranscriptLine) -> ChatCompletionMessageParam:
    """A line of the client's transcript as a message (the model's API types one per role)."""
    if line.role == "user":
        return {"role": "user", "content": line.text}
    return {"role": "assistant", "content": line.text}


def build_messages(ctx: BrainContext) -> list[ChatCompletionMessageParam]:
    """System prompt, the conversation so far (the session's memory, or, for a conversation this
    persona has no memory of, the client's transcript), then this turn."""
    messages: list[ChatCompletionMessageParam] = [{"role": "system", "content": system_prompt(ctx)}]
    if ctx.session.recent:
        for exchange in ctx.session.recent:  # SESSION_MEMORY_TURNS exchanges
            messages += [
                {"role": "user", "content": exchange.user_text},
                {"role": "assistant", "content": exchange.reply_text},
            ]
    else:
        messages += [_heard(line) for line in ctx.turn.transcript]
    text = ctx.turn.text if ctx.turn.kind == "text" else "(the user has just arrived; greet them)"
    messages.append({"role": "user", "content": text})
    return messages
