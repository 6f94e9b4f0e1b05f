"""What users tell the persona about themselves, and what they ask it to remember.

`extract` turns a user's sentence into facts (name, likes, places, people, events...);
`question_kinds` recognises questions about those facts ("what's my name?"). Rule-based and
deterministic; the llm brain returns facts of the same shape.
"""

import re
from typing import Literal

from pydantic import BaseModel, Field

from app.persona.language import clean_value

FactKind = Literal["name", "likes", "dislikes", "plays", "lives", "origin", "work", "person", "pet", "event", "age"]

RELATIONS = (
    "wife|husband|partner|girlfriend|boyfriend|mother|mom|mum|father|dad|sister|brother|son|daughter|"
    "friend|best friend|boss|grandmother|grandma|grandfather|grandpa|cousin|aunt|uncle|colleague"
)
PETS = "dog|cat|puppy|kitten|parrot|hamster|rabbit|horse|fish|pet"


class Fact(BaseModel):
    kind: FactKind
    key: str  # what makes two facts the same fact: "name", "likes:jazz", "person:sister"
    value: str = Field(max_length=120)
    text: str = Field(max_length=300)  # the sentence it came from
    importance: float = Field(0.5, ge=0, le=1)
    at: float  # epoch seconds, when it was last said
    source_turn: str
    mentions: int = 1


# (pattern, kind, importance, key template); the value is the named group "v" (and "r" = relation)
_PATTERNS: list[tuple[re.Pattern[str], FactKind, float, str]] = [
    (re.compile(r"\bmy name is (?P<v>[a-z][a-z' -]{0,40})", re.I), "name", 0.95, "name"),
    (re.compile(r"\b(?:call me|i go by) (?P<v>[a-z][a-z' -]{0,40})", re.I), "name", 0.95, "name"),
    (re.compile(r"\bi'?m called (?P<v>[a-z][a-z' -]{0,40})", re.I), "name", 0.95, "name"),
    (re.compile(r"\bmy (?P<r>" + RELATIONS + r")(?:'s name is| is called| is named) (?P<v>[a-z][a-z' -]{0,40})", re.I),
     "person", 0.75, "person:{r}"),
    (re.compile(r"\bmy (?P<r>" + PETS + r")(?:'s name is| is called| is named) (?P<v>[a-z][a-z' -]{0,40})", re.I),
     "pet", 0.7, "pet:{r}"),
    (re.compile(r"\bi (?:really )?(?:love|adore) (?P<v>[^.!?]{2,60})", re.I), "likes", 0.7, "likes:{v}"),
    (re.compile(r"\bi (?:really )?(?:like|enjoy) (?P<v>[^.!?]{2,60})", re.I), "likes", 0.55, "likes:{v}"),
    (re.compile(r"\bmy fav(?:ou?rite)? (?P<r>[a-z ]{2,30}) is (?P<v>[^.!?]{2,60})", re.I), "likes", 0.65, "likes:{r}"),
    (re.compile(r"\bi (?:really )?(?:hate|dislike|can't stand|cannot stand) (?P<v>[^.!?]{2,60})", re.I),
     "dislikes", 0.6, "dislikes:{v}"),
    (re.compile(r"\bi play (?P<v>[^.!?]{2,60})", re.I), "plays", 0.6, "plays:{v}"),
    (re.compile(r"\bi live in (?P<v>[^.!?]{2,60})", re.I), "lives", 0.8, "lives"),
    (re.compile(r"\bi(?:'m| am) from (?P<v>[^.!?]{2,60})", re.I), "origin", 0.7, "origin"),
    (re.compile(r"\bi work (?:as|at|for|in) (?P<v>[^.!?]{2,60})", re.I), "work", 0.7, "work"),
    (re.compile(r"\bi(?:'m| am) (?P<v>\d{1,3}) years old", re.I), "age", 0.6, "age"),
    (re.compile(r"\bmy birthday is (?P<v>[^.!?]{2,40})", re.I), "event", 0.8, "event:birthday"),
    (re.compile(r"\b(?:tomorrow|next week|on \w+day) i(?:'m| am| will) (?P<v>[^.!?]{2,60})", re.I),
     "event", 0.6, "event:{v}"),
]  # fmt: skip

# "I hate you" or "I love it" state no fact about the user.
_NOT_VALUES = {"you", "u", "it", "this", "that", "them", "him", "her", "me", "myself", "everything", "everyone",
               "anything", "anyone", "nothing", "nobody", "so", "too", "to"}  # fmt: skip
_NOT_NAMES = {"not", "so", "very", "really", "just", "fine", "good", "tired", "sad", "happy", "here", "back", "sorry"}

_QUESTIONS: list[tuple[re.Pattern[str], tuple[FactKind, ...]]] = [
    (re.compile(r"\b(what'?s|what is|do you (know|remember)) my name\b|\bwho am i\b", re.I), ("name",)),
    (re.compile(r"\bwhat do i (love|like|enjoy)\b|\bwhat'?s my fav", re.I), ("likes",)),
    (re.compile(r"\bwhat do i (hate|dislike)\b", re.I), ("dislikes",)),
    (re.compile(r"\bwhat (do|did) i (say i )?play\b", re.I), ("plays",)),
    (re.compile(r"\bwhere do i live\b|\bwhere am i from\b|\bwhere'?s my home\b", re.I), ("lives", "origin")),
    (re.compile(r"\bwhere do i work\b|\bwhat'?s my job\b|\bwhat do i do for (a living|work)\b", re.I), ("work",)),
    (re.compile(r"\bhow old am i\b", re.I), ("age",)),
    (re.compile(r"\bwho is my\b|\bwhat'?s my \w+'?s name\b", re.I), ("person", "pet")),
    (re.compile(r"\bwhen is my birthday\b", re.I), ("event",)),
    (
        re.compile(r"\bwhat do you (know|remember) about me\b", re.I),
        ("name", "likes", "plays", "lives", "work", "person"),
    ),
]


def extract(text: str, turn_id: str, now: float) -> list[Fact]:
    facts: dict[str, Fact] = {}
    for pattern, kind, importance, key_template in _PATTERNS:
        for match in pattern.finditer(text):
            value = clean_value(match.group("v"))
            if kind == "name":
                value = _name(value)
                if not value:
                    continue
            if not value or value.lower().split()[0] in _NOT_VALUES:
                continue
            relation = (match.groupdict().get("r") or "").lower().strip()
            key = key_template.format(v=value.lower(), r=relation)
            facts[key] = Fact(
                kind=kind,
                key=key[:80],
                value=value[:120],
                text=text.strip()[:300],
                importance=importance,
                at=now,
                source_turn=turn_id,
            )
    return list(facts.values())


def _name(said: str) -> str:
    """First word, plus a second one only if it was capitalised ("Mary Ann", not "Al please")."""
    parts = said.split()
    if not parts or parts[0].lower() in _NOT_NAMES:
        return ""
    kept = [parts[0]] + ([parts[1]] if len(parts) > 1 and parts[1][:1].isupper() else [])
    return " ".join(p.capitalize() for p in kept)


PLATFORM_KINDS: tuple[FactKind, ...] = ("name", "lives", "origin")


def from_platform(known: dict[str, str], turn_id: str, now: float) -> list[Fact]:
    """Facts a platform vouches for (e.g. a Skills UserIdentity), as important as a name said aloud."""
    return [
        Fact(
            kind=kind,
            key=kind,
            value=value[:120],
            text=f"(from the platform) {kind}: {value}"[:300],
            importance=0.9,
            at=now,
            source_turn=turn_id,
        )
        for kind in PLATFORM_KINDS
        if (value := known.get(kind, "").strip())
    ]


def question_kinds(text: str) -> tuple[FactKind, ...]:
    """The fact kinds a question asks about, or () when it is not a question about the user."""
    for pattern, kinds in _QUESTIONS:
        if pattern.search(text):
            return kinds
    return ()
