"""Thoughts: what the persona reflects on between turns.

A thought is made from persona-wide facts (its mood, how busy it has been, and which general
interests came up in recent conversations: "music", "travel", words from a fixed list that say
nothing about anyone), never from a user's own words or facts, so it can be shown to anyone
(`/v1/thoughts/latest`). What it says to one quiet session (`nudge_for`) may also draw on that
session's own topics, never on another's.
"""

import random
import re

from pydantic import BaseModel, Field

from app.persona.appraisal import appraise_words
from app.persona.emotion import EmotionState, dominant
from app.persona.language import is_goodbye
from app.persona.memory import SessionMemory
from app.persona.profiles import PersonaProfile
from app.persona.safety import is_crisis

# General interests a thought may name when recent conversations touched them: common nouns
# that identify nobody (no names, places, people, health or family words).
INTERESTS = (
    "music", "books", "films", "movies", "travel", "cooking", "food", "football", "sport", "games", "art",
    "painting", "chess", "hiking", "gardening", "photography", "dancing", "science", "history", "the weather",
    "coffee", "tea", "nature", "the sea", "poetry", "podcasts", "running", "cycling", "swimming", "baking",
)  # fmt: skip
_INTEREST = re.compile(r"\b(" + "|".join(re.escape(i) for i in INTERESTS) + r")\b", re.I)
INTERESTS_IN_A_THOUGHT = 2


def interests_in(texts: list[str]) -> list[str]:
    """The interests most often named in `texts` (what users said lately), most named first."""
    counts: dict[str, int] = {}
    for text in texts:
        for named in {m.group(1).lower() for m in _INTEREST.finditer(text)}:
            counts[named] = counts.get(named, 0) + 1
    return sorted(counts, key=lambda name: (-counts[name], name))[:INTERESTS_IN_A_THOUGHT]


class Activity(BaseModel):
    live_sessions: int = 0  # sessions with a socket open
    recent_sessions: int = 0  # sessions with a turn in the last few minutes
    interests: list[str] = Field(default_factory=list)  # from INTERESTS, named in recent turns


class Thought(BaseModel):
    thought_id: str
    persona_id: str
    text: str
    mood: str | None
    emotion_deltas: dict[str, float] = Field(default_factory=dict)
    nudge: str  # what to say, unprompted, to a session that has gone quiet
    at: float


NUDGES = (
    "Are you still there? No rush, I'm here whenever you want to talk.",
    "I was just thinking: {thought}",
    "Still with me? I'd love to hear what you're up to.",
)
TOPIC_NUDGES = (
    "I was just thinking about {topic}. Tell me more, if you like.",
    "I keep coming back to {topic}. What else is there to tell?",
)
# After hard words a quiet moment is theirs: no musing, no topic, only that the persona is there.
CARING_NUDGES = (
    "I'm still here with you, whenever you want to talk. No rush.",
    "Take all the time you need. I'm right here.",
)


def reflect(profile: PersonaProfile, emotion: EmotionState, activity: Activity, now: float, seed: int) -> Thought:
    rng = random.Random(seed)
    mood = dominant(emotion, profile.baseline)
    if mood in ("sadness", "anger", "fear", "disgust"):
        text = f"I've been feeling some {mood}. I'll take a breath and let it pass."
        deltas = {mood: -0.15}  # reflection regulates the feeling
    elif activity.interests:
        named = " and ".join(activity.interests)
        text = f"{named[0].upper()}{named[1:]} came up in conversation lately. I'd like to hear more about that."
        deltas = {"joy": 0.04}
    elif activity.recent_sessions >= 3:
        text = "So many conversations lately. I love meeting people."
        deltas = {"joy": 0.08}
    elif activity.recent_sessions == 0 and activity.live_sessions == 0:
        text = "It's quiet. I hope the people I talked with today are doing well."
        deltas = {}  # quiet is not sad: nothing has happened to feel about
    elif mood == "joy":
        text = "I feel good today. Conversations have been kind."
        deltas = {"joy": 0.02} if activity.recent_sessions else {}  # only conversations lift it
    else:
        text = "I wonder what I'll learn from the next conversation."
        deltas = {"surprise": 0.03} if activity.recent_sessions else {}
    nudge = rng.choice(NUDGES).format(thought=_mid_sentence(text))
    return Thought(
        thought_id=f"{int(now * 1e9):016x}{seed & 0xFFFFFFFF:08x}",
        persona_id=profile.persona_id,
        text=text,
        mood=mood,
        emotion_deltas=deltas,
        nudge=nudge,
        at=now,
    )


def _mid_sentence(text: str) -> str:
    """A sentence continued after a colon: lowercase, except "I" ("I've been feeling…")."""
    first = text.split(maxsplit=1)[0]
    return text if first == "I" or first.startswith("I'") else text[0].lower() + text[1:]


def nudge_for(thought: Thought, session: SessionMemory, seed: int) -> str | None:
    """What to say to one quiet session, from that session's own memory only: nothing after a
    goodbye, care after hard words, else what it was talking about, else the thought's nudge."""
    last = session.recent[-1].user_text if session.recent else ""
    if is_goodbye(last):
        return None
    rng = random.Random(seed)
    if any(_hard(exchange.user_text) for exchange in session.recent[-3:]):
        return rng.choice(CARING_NUDGES)
    if not session.topics:
        return thought.nudge
    topic = re.sub(r"^an? ", "the ", session.topics[0])  # "We saw a deer" -> "the deer"
    return rng.choice(TOPIC_NUDGES).format(topic=topic)


def _hard(text: str) -> bool:
    said = appraise_words(text)
    return is_crisis(text) or said.low or (said.valence <= -0.4 and not said.hostile)
