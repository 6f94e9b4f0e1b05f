"""Memory: what was said in a session, and what the persona knows about each user.

Session memory keeps the session's recent exchanges and its open topics. Long-term user memory
keeps facts (name, likes, places, people, events) with when they were said, the turn they came
from and how important they are. Both are bounded:

- session memory keeps the last `limit` exchanges (first in, first forgotten);
- user memory keeps at most `limit` facts; past that it forgets the facts with the lowest
  retention = importance x 0.5^(age / half_life) + 0.05 x (mentions - 1), where
  half_life = FACT_HALF_LIFE x 2^(8 x (importance - 0.5)): a name (0.95) fades over about a
  year, a passing like (0.55) over about forty days. Old, minor, once-mentioned facts go first.
"""

import re
from itertools import pairwise

from pydantic import BaseModel, Field

from app.persona.appraisal import is_feeling_word
from app.persona.facts import Fact, FactKind
from app.persona.language import STOPWORDS, keywords
from app.persona.safety import is_crisis
from app.turns import TranscriptLine

FACT_HALF_LIFE_SECONDS = 30 * 24 * 3600.0
TOPICS_KEPT = 5


class Exchange(BaseModel):
    turn_id: str
    user_text: str
    reply_text: str
    at: float


class SessionMemory(BaseModel):
    recent: list[Exchange] = Field(default_factory=list)
    turn_count: int = 0
    topics: list[str] = Field(default_factory=list)  # open topics, most recent first


class UserMemory(BaseModel):
    facts: list[Fact] = Field(default_factory=list)

    def get(self, key: str) -> Fact | None:
        return next((f for f in self.facts if f.key == key), None)

    @property
    def name(self) -> str | None:
        fact = self.get("name")
        return fact.value if fact else None


def remember(memory: SessionMemory, exchange: Exchange, limit: int) -> SessionMemory:
    """Append an exchange, forgetting the oldest beyond `limit`; topics follow the user's words."""
    recent = [*memory.recent, exchange][-limit:]
    return SessionMemory(recent=recent, turn_count=memory.turn_count + 1, topics=next_topics(memory.topics, exchange))


# A topic is a thing named: a word after "my", "the", "a"... (past a describing word or two), or
# a name said mid-sentence. Said back as the user's words: "your job", "the guitar", "Lisbon".
_DETERMINERS = {"my": "your", "our": "your", "the": "the", "a": "a", "an": "an", "his": "his", "her": "her",
                "their": "their", "about": "", "at": ""}  # fmt: skip
_DESCRIBING = frozenset(
    ["bit", "lot", "little", "few", "couple", "new", "old", "big", "small", "large", "long", "short", "whole",
     "other", "same", "own", "first", "last", "next", "rough", "hard", "busy", "quiet", "real", "proper", "nice",
     "good", "bad", "great", "best", "worst", "lovely", "awful", "strange", "weird", "very", "pretty", "quite"]
)  # fmt: skip
_NOT_TOPICS = STOPWORDS | {"way", "thing", "things", "time", "day", "moment", "kind", "sort", "one", "end", "name",
                            "life", "yourself", "myself", "favourite", "favorite"}  # fmt: skip
# "I work as a nurse", "I'm a teacher": what they are, not a thing they named.
_SAYS_WHAT_THEY_ARE = frozenset(["as", "am", "i'm", "im", "was", "being", "be"])
# A request to the persona ("Show me a picture", "Tell me about yourself") names nothing of the user's.
_REQUEST = re.compile(r"\s*(?:please\s+)?(?:show|tell|give|send|play) me\b", re.IGNORECASE)
# The user's own name is not a topic to return to: "Call me Sam", "I'm Dan", "My name is Jo".
_NAMING = frozenset(["call me", "name is", "i am", "go by", "called me"])
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'-]*|[.!?,;:]")


def heard_replies(transcript: list[TranscriptLine]) -> dict[str, str]:
    """What the client heard the persona answer to each user line: user text -> the assistant
    line after it (the latest, when a line was said twice)."""
    heard: dict[str, str] = {}
    for said, answer in pairwise(transcript):
        if said.role == "user" and answer.role == "assistant":
            heard[_said(said.text)] = answer.text
    return heard


def _said(text: str) -> str:
    return " ".join(text.lower().split())


def reconcile(memory: SessionMemory, transcript: list[TranscriptLine]) -> SessionMemory:
    """The session as the client heard it: where the client's transcript holds the persona's
    answer to a remembered exchange, that is what the persona said (after a barge-in, the client
    keeps only what was spoken). Exchanges the client does not show are kept as remembered."""
    heard = heard_replies(transcript)
    if not heard:
        return memory
    recent = [
        exchange.model_copy(update={"reply_text": heard[key]})
        if (key := _said(exchange.user_text)) in heard and heard[key] != exchange.reply_text
        else exchange
        for exchange in memory.recent
    ]
    return memory.model_copy(update={"recent": recent})


def topics_in(text: str) -> list[str]:
    """The things a sentence names, as said (never stems); none from questions or crisis language."""
    if text.rstrip().endswith("?") or is_crisis(text) or _REQUEST.match(text):
        return []
    tokens = _TOKEN.findall(text)
    found: dict[str, str] = {}  # head word -> phrase
    for i, token in enumerate(tokens):
        lower = token.lower()
        if lower in _DETERMINERS:
            j = i + 1
            while j < len(tokens) and j - i <= 3 and tokens[j].lower() in _DESCRIBING:
                j += 1
            describes_them = lower in ("a", "an") and i > 0 and tokens[i - 1].lower() in _SAYS_WHAT_THEY_ARE
            if j < len(tokens) and _is_topic(tokens[j]) and not describes_them:
                owned = lower in ("a", "an") and i > 0 and tokens[i - 1].lower() in ("have", "had", "got")
                found.setdefault(tokens[j].lower(), f"{'your' if owned else _DETERMINERS[lower]} {tokens[j]}".strip())
        elif _is_name_said(tokens, i):
            found.setdefault(lower, token)
    return list(found.values())


def _is_name_said(tokens: list[str], i: int) -> bool:
    """A capitalised word mid-sentence ("Lisbon", "Lena"), but not the user naming themselves."""
    token = tokens[i]
    if i == 0 or not token[:1].isupper() or tokens[i - 1] in ".!?" or token.split("'")[0] == "I":  # "I'm"
        return False
    if not _is_topic(token):
        return False
    before = [t.lower() for t in tokens[max(0, i - 2) : i]]
    return before[-1] not in ("i'm", "im", "name's") and " ".join(before) not in _NAMING


def _is_topic(word: str) -> bool:
    lower = word.lower()
    return word[0].isalpha() and len(lower) > 2 and lower not in _NOT_TOPICS and not is_feeling_word(lower)


def next_topics(topics: list[str], exchange: Exchange) -> list[str]:
    """The session's open topics after an exchange: the things the user just named first."""
    new_topics = topics_in(exchange.user_text)
    heads = {t.split()[-1].lower() for t in new_topics}
    return [*new_topics, *(t for t in topics if t.split()[-1].lower() not in heads)][:TOPICS_KEPT]


def retention(fact: Fact, now: float) -> float:
    age = max(0.0, now - fact.at)
    half_life = FACT_HALF_LIFE_SECONDS * 2 ** (8 * (fact.importance - 0.5))
    return fact.importance * 0.5 ** (age / half_life) + 0.05 * (fact.mentions - 1)


def learn(memory: UserMemory, facts: list[Fact], limit: int, now: float) -> UserMemory:
    """Merge new facts (a fact with the same key is updated, not duplicated), then forget."""
    by_key = {f.key: f for f in memory.facts}
    for fact in facts:
        old = by_key.get(fact.key)
        if old is None:
            by_key[fact.key] = fact
        elif old.source_turn != fact.source_turn:
            by_key[fact.key] = fact.model_copy(
                update={"importance": max(old.importance, fact.importance), "mentions": old.mentions + 1}
            )
    kept = sorted(by_key.values(), key=lambda f: retention(f, now), reverse=True)[:limit]
    return UserMemory(facts=sorted(kept, key=lambda f: f.at))


def recall(memory: UserMemory, query: str, kinds: tuple[FactKind, ...], now: float, k: int = 3) -> list[Fact]:
    """The facts most relevant to `query`: asked-about kinds first, then shared words."""
    query_words = keywords(query)
    scored = []
    for fact in memory.facts:
        overlap = len(query_words & (keywords(fact.value) | keywords(fact.key.replace(":", " "))))
        score = (2.0 if fact.kind in kinds else 0.0) + overlap + 0.3 * retention(fact, now)
        if fact.kind in kinds or overlap:
            scored.append((score, fact.at, fact))
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [fact for _, _, fact in scored[:k]]
