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


OCCUPATIONS = (
    "nurse|doctor|teacher|student|engineer|developer|programmer|designer|lawyer|chef|cook|baker|farmer|"
    "writer|artist|musician|accountant|scientist|researcher|manager|driver|pilot|electrician|plumber|"
    "carpenter|mechanic|vet|veterinarian|pharmacist|dentist|firefighter|police officer|soldier|cleaner|"
    "waiter|waitress|barista|librarian|journalist|photographer|consultant|architect|therapist|paramedic|"
    "retiree|cashier|translator|professor|surgeon|midwife|carer"
)
_NAME = r"(?P<v>[a-z][a-z'-]*(?: [a-z][a-z'-]*)?)"
_CAPITALISED = r"(?P<v>(?-i:[A-Z])[a-z'-]+(?: (?-i:[A-Z])[a-z'-]+)?)"  # a name said without "called"
_THING = r"(?P<v>[^.!?]{2,60})"
_CALLED = r"(?:'?s name is|'?s name was| is called| is named| was called| was named)"  # "my cats name is…"

# (pattern, kind, importance, key template); the value is the named group "v" (and "r" = relation)
_PATTERNS: list[tuple[re.Pattern[str], FactKind, float, str]] = [
    (re.compile(r"\b(?:my name is|my name's|name's) " + _NAME, re.I), "name", 0.95, "name"),
    (re.compile(r"\b(?:call me|i go by) " + _NAME, re.I), "name", 0.95, "name"),
    (re.compile(r"\bi'?m called " + _NAME, re.I), "name", 0.95, "name"),
    (re.compile(r"\bmy (?P<r>" + RELATIONS + ")" + _CALLED + " " + _NAME, re.I), "person", 0.75, "person:{r}"),
    (re.compile(r"\bmy (?P<r>" + RELATIONS + r")(?: is)? " + _CAPITALISED, re.I), "person", 0.75, "person:{r}"),
    (re.compile(r"\bi (?:also )?(?:have|had|got) an? (?P<r>" + RELATIONS + r") (?:called|named) " + _NAME, re.I),
     "person", 0.75, "person:{r}"),
    (re.compile(r"\bmy (?P<r>" + PETS + ")" + _CALLED + " " + _NAME, re.I), "pet", 0.7, "pet:{r}"),
    (re.compile(r"\bmy (?P<r>" + PETS + r")(?: is)? " + _CAPITALISED, re.I), "pet", 0.7, "pet:{r}"),
    (re.compile(r"(?:\bi (?:also )?(?:have|had|got) |(?<=\band )|(?<=\bplus ))an? (?P<r>" + PETS + ") (?:called|named) "
                + _NAME, re.I),
     "pet", 0.7, "pet:{r}"),
    (re.compile(r"\bi (?:really |also |just )?(?:love|adore) " + _THING, re.I), "likes", 0.7, "likes:{v}"),
    (re.compile(r"\bi (?:really |also |just )?(?:like|enjoy) " + _THING, re.I), "likes", 0.55, "likes:{v}"),
    (re.compile(r"\bi'?m (?:really )?(?:into|a (?:big |huge )?fan of) " + _THING, re.I), "likes", 0.55, "likes:{v}"),
    (re.compile(r"\bmy fav(?:ou?rite)? (?P<r>[a-z ]{2,30}) is " + _THING, re.I), "likes", 0.65, "likes:{r}"),
    (re.compile(r"\bi (?:really )?(?:hate|dislike|can'?t stand|cannot stand|(?:don'?t|do not) (?:like|enjoy)) "
                + _THING, re.I), "dislikes", 0.6, "dislikes:{v}"),
    (re.compile(r"\bi'?m not (?:a )?(?:big )?fan of " + _THING, re.I), "dislikes", 0.6, "dislikes:{v}"),
    (re.compile(r"\bi (?:also )?play " + _THING, re.I), "plays", 0.6, "plays:{v}"),
    (re.compile(r"\bi(?: live|(?: am|'m) living|(?: am|'m) based| moved| just moved) (?:in|to) " + _THING, re.I),
     "lives", 0.8, "lives"),
    (re.compile(r"\bi(?:'m| am) (?:originally )?from " + _THING, re.I), "origin", 0.7, "origin"),
    (re.compile(r"\bi (?:come from|grew up in) " + _THING, re.I), "origin", 0.7, "origin"),
    (re.compile(r"\bi work (?P<v>(?:as|at|for|in) [^.!?]{2,60})", re.I), "work", 0.7, "work"),
    (re.compile(r"\bi(?:'m| am) (?:working as )?(?P<v>an? (?:[a-z]+ )?(?:" + OCCUPATIONS + r"))\b", re.I),
     "work", 0.7, "work"),
    (re.compile(r"\bi(?:'m| am) (?P<v>\d{1,3})(?: years old| years| yo)?(?=$|[\s.,!])(?! ?(?:%|percent|minutes))",
                re.I), "age", 0.6, "age"),
    (re.compile(r"\bmy birthday is (?P<v>[^.!?]{2,40})", re.I), "event", 0.8, "event:birthday"),
    (re.compile(r"\b(?:tomorrow|next week|on \w+day) i(?:'m| am| will) (?P<v>[^.!?]{2,60})", re.I),
     "event", 0.6, "event:{v}"),
]  # fmt: skip
# "I'm Erin", "I am Dan": a capitalised word that ends the clause, said as the name it is.
_INTRODUCTION = re.compile(
    r"(?:^|[,.!] |\b(?:hi|hello|hey),? )i(?:'?m| am) (?P<v>(?-i:[A-Z])[a-z'-]+)(?=\s*(?:$|[,.!]|and\b|from\b|by\b))",
    re.I,
)
# "His name was Max": the relation or pet named last, in this sentence or the one before.
_PRONOUN_NAME = re.compile(r"\b(?:his|her|its|their) name (?:is|was|'s) " + _NAME, re.I)
_RELATION_WORD = re.compile(r"\b(" + RELATIONS + "|" + PETS + r")\b", re.I)

# "I hate you" or "I love it" state no fact about the user.
_NOT_VALUES = {"you", "u", "it", "this", "that", "them", "him", "her", "me", "myself", "everything", "everyone",
               "anything", "anyone", "nothing", "nobody", "so", "too", "to", "not", "talking",
               "being", "when", "how", "what", "if"}  # fmt: skip
_NOT_NAMES = {"not", "so", "very", "really", "just", "fine", "good", "tired", "sad", "happy", "here", "back", "sorry",
              "ok", "okay", "well", "sure", "done", "glad", "afraid", "going", "home", "there", "busy", "bored",
              "great", "alright", "new", "also", "still", "always", "never", "actually", "honestly", "the", "a",
              "an", "and", "but", "or", "is", "was", "called", "named", "italian", "french", "german", "spanish",
              "english", "british", "american", "canadian", "australian", "irish", "scottish", "welsh", "chinese",
              "japanese", "indian", "mexican", "brazilian", "dutch", "swiss", "polish", "russian", "korean", "kiwi",
              "greek", "turkish", "swedish", "norwegian", "danish", "finnish", "portuguese", "vegan", "vegetarian",
              "single", "married", "divorced", "lost", "confused", "stuck", "ready", "excited", "nervous",
              "worried", "scared", "human", "serious", "kidding", "joking"}  # fmt: skip
_QUESTIONS: list[tuple[re.Pattern[str], tuple[FactKind, ...]]] = [
    (re.compile(r"\b(?:what'?s|what is|do you (?:know|remember)) my \w+'?s name\b|\bwho(?:'s| is) my\b"
                r"|\bwhat(?:'s| is) my \w+ called\b|\bwhat did i (?:call|name) my\b", re.I), ("person", "pet")),
    (re.compile(r"\b(?:what'?s|what is|do you (?:know|remember)) my name\b|\bwho am i\b", re.I), ("name",)),
    (re.compile(r"\bwhat (?:do|don'?t) i (?:not )?(?:hate|dislike|like)\b.*\b(?:hate|dislike|don'?t|not)\b"
                r"|\bwhat don'?t i like\b|\bwhat do i (?:hate|dislike)\b", re.I), ("dislikes",)),
    (re.compile(r"\bwhat do i (?:love|like|enjoy)\b|\bwhat'?s my fav", re.I), ("likes",)),
    (re.compile(r"\bwhat are my hobbies\b|\bwhat do i do for fun\b", re.I), ("likes", "plays")),
    (re.compile(r"\bwhat (?:do|did) i (?:say i )?play\b", re.I), ("plays",)),
    (re.compile(r"\bwhere do i live\b|\bwhere'?s my home\b|\bwhere am i (?:living|based)\b", re.I), ("lives",)),
    (re.compile(r"\bwhere am i from\b|\bwhere did i grow up\b", re.I), ("origin",)),
    (re.compile(r"\bwhere do i work\b|\bwhat'?s my job\b|\bwhat do i do\b|\bwhat is my job\b"
                r"|\bwhat(?:'s| is) my (?:work|occupation|profession)\b", re.I), ("work",)),
    (re.compile(r"\bhow old am i\b|\bwhat(?:'s| is) my age\b", re.I), ("age",)),
    (re.compile(r"\bwhen(?:'s| is) my birthday\b", re.I), ("event",)),
    (re.compile(r"\bwhat do you (?:know|remember) about me\b", re.I),
     ("name", "likes", "plays", "lives", "work", "person", "pet")),
]  # fmt: skip
_ASKED_ABOUT = re.compile(r"\bmy (" + RELATIONS + "|" + PETS + r")(?:'?s)?\b", re.I)  # "whats my dogs name"
_FILLER = re.compile(
    r"(?:\s+(?:now|right now|currently|these days|nowadays|at the moment|for now|anymore|any more|too|also|"
    r"as well|again|though|actually|originally|lately|already|a lot|very much|so much|really|today|then))+$",
    re.IGNORECASE,
)
_SENTENCES = re.compile(r"[^.!?]+[.!?]*")


def extract(text: str, turn_id: str, now: float, before: str = "") -> list[Fact]:
    """The facts in what the user said; `before` (their previous words) resolves "his name was Max".
    Questions state nothing ("Do I like jazz?")."""
    facts: dict[str, Fact] = {}
    for sentence in (s.strip() for s in _SENTENCES.findall(text)):
        if not sentence or sentence.endswith("?"):
            continue
        for kind, importance, key, value in _sentence_facts(sentence, before):
            facts[key] = Fact(
                kind=kind,
                key=key[:80],
                value=value[:120],
                text=text.strip()[:300],
                importance=importance,
                at=now,
                source_turn=turn_id,
            )
        before = sentence
    return list(facts.values())


def _sentence_facts(sentence: str, before: str) -> list[tuple[FactKind, float, str, str]]:
    found: list[tuple[FactKind, float, str, str]] = []
    for pattern, kind, importance, key_template in _PATTERNS:
        for match in pattern.finditer(sentence):
            value = _value(kind, match.group("v"))
            if value:
                relation = (match.groupdict().get("r") or "").lower().strip()
                found.append((kind, importance, key_template.format(v=value.lower(), r=relation), value))
    introduced = _INTRODUCTION.search(sentence) if not any(kind == "name" for kind, *_ in found) else None
    if introduced and (value := _name(introduced.group("v"))):
        found.append(("name", 0.95, "name", value))
    if pronoun := _PRONOUN_NAME.search(sentence):
        named = _RELATION_WORD.findall(sentence[: pronoun.start()]) or _RELATION_WORD.findall(before)
        if named and (value := _name(clean_value(pronoun.group("v")))):
            relation = named[-1].lower()
            about: FactKind = "pet" if re.fullmatch(PETS, relation) else "person"
            found.append((about, 0.7, f"{about}:{relation}", value))
    return found


def _value(kind: FactKind, said: str) -> str:
    """The value as said, up to the clause's end, without filler ("Wellington now" -> "Wellington")."""
    value = _FILLER.sub("", clean_value(said)).strip()
    if kind in ("name", "person", "pet"):
        return _name(value)
    if not value or value.lower().split()[0] in _NOT_VALUES:
        return ""
    if kind == "work" and value.split()[0].lower() not in ("as", "at", "for", "in"):
        return f"as {value}"  # "I'm a nurse": said back as "you work as a nurse"
    return value


def _name(said: str) -> str:
    """First word, plus a second one only if it was capitalised ("Mary Ann", not "Al please")."""
    parts = said.split()
    if not parts or parts[0].lower() in _NOT_NAMES or parts[0].lower() in _NOT_VALUES:
        return ""
    kept = [parts[0]] + ([parts[1]] if len(parts) > 1 and parts[1][:1].isupper() else [])
    return " ".join(p[:1].upper() + p[1:] for p in kept)


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


def question_about(text: str) -> str:
    """The relation or pet a question names ("what's my cat's name?" -> "cat"), or ""."""
    match = _ASKED_ABOUT.search(text) if question_kinds(text) == ("person", "pet") else None
    return match.group(1).lower() if match else ""


def grounded(value: str, said: str) -> bool:
    """Is `value` the user's own words, said in `said`? A fact a model proposes is kept only then
    (a model's "facts" must not rename the user "Overwritten")."""
    words = re.findall(r"[\w'-]+", value.lower())
    if not words:
        return False
    return re.search(r"(?<![\w'-])" + r"\W+".join(map(re.escape, words)) + r"(?![\w'-])", said.lower()) is not None
