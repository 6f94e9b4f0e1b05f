"""Appraisal: how a turn lands emotionally, from the words and from the scene's perception.

Words are scored by VADER (vaderSentiment), a sentiment model made for short chat text (it
handles negation, intensifiers, emoticons and capitals). Soul Machines adds perception
variables (User_Turn_Positivity, ...); Hume EVI adds prosody scores of the voice.
"""

import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from app.persona.bounds import clamp
from app.persona.emotion import add_delta, merge_deltas

# Hume prosody expressions -> our emotions (the strongest of each group counts).
PROSODY_MAP: dict[str, tuple[str, ...]] = {
    "joy": ("Joy", "Amusement", "Excitement", "Contentment", "Satisfaction"),
    "sadness": ("Sadness", "Disappointment", "Distress", "Pain"),
    "anger": ("Anger", "Annoyance", "Contempt"),
    "fear": ("Fear", "Anxiety", "Horror"),
    "surprise": ("Surprise (positive)", "Surprise (negative)", "Awe", "Realization"),
    "love": ("Love", "Adoration", "Romance", "Sympathy"),
    "disgust": ("Disgust",),
}
# The Skills API's context scores of the user's words (UserTurn_TextJoy, ...) -> our emotions.
TEXT_EMOTION_MAP: dict[str, tuple[str, ...]] = {
    "joy": ("UserTurn_TextJoy", "UserTurn_TextExcitement"),
    "sadness": ("UserTurn_TextDistress", "UserTurn_TextShame"),
    "anger": ("UserTurn_TextAnger",),
    "fear": ("UserTurn_TextFear", "UserTurn_TextConcern"),
    "surprise": ("UserTurn_TextSurprise", "UserTurn_TextInterest"),
    "love": ("UserTurn_TextCare",),
    "disgust": ("UserTurn_TextDisgust",),
}
SECOND_PERSON = {"you", "you're", "your", "youre", "u"}

_INSULT = (
    r"useless|stupid|dumb|idiot\w*|pathetic|worthless|boring|annoying|terrible|awful|rubbish|garbage|trash|"
    r"hopeless|lame|moron\w*|clueless|incompetent|a failure|a joke|a waste of \w+|creepy|fake|pointless|"
    r"dense|brainless|mindless|irritating|a loser|ridiculous|a disappointment|the worst"
)
# Hostility aimed at the persona, and sarcasm: VADER reads "Nobody likes you." as kind words.
_HOSTILE = re.compile(
    r"\b(?:"
    r"(?:you(?:'re| are|re| r)?|ur|u r|u are) (?:so |such an? |really |totally |completely |just |an? )?(?:"
    + _INSULT
    + r")"
    r"|(?:stupid|dumb|useless|pathetic|worthless) (?:bot|machine|robot|ai|program|thing|computer)"
    r"|(?:nobody|no one|no-one) (?:likes|loves|cares about|wants|needs) you"
    r"|i (?:hate|can'?t stand|despise|loathe) you|shut up|(?:you|u) suck|screw (?:you|u)|go away|get lost|piss off"
    r"|what a (?:stupid|useless|dumb|pathetic|ridiculous) (?:answer|reply|thing to say|bot)"
    r"|you(?:'re| are)? (?:not|never) (?:very |even |at all )?(?:smart|clever|helpful|funny|useful|good)"
    r"|you (?:don'?t|do not) (?:understand|know) (?:anything|a thing)"
    r"|if you(?:'re| are) so (?:smart|clever|great|wise|good|clever)"
    r"|(?:yeah|oh) (?:right|sure)|oh (?:great|wonderful|brilliant|fantastic|joy)|thanks for nothing"
    r"|wow,? (?:so|how|very|really) (?:helpful|smart|clever|insightful|useful|original)|sure you (?:do|are|can)"
    r"|(?:your|that|this|the) (?:jokes?|answers?|repl(?:y|ies)|advice) (?:is|are|was|were) (?:so |really |just )?"
    r"(?:not funny|" + _INSULT + r")"
    r"|(?:great|perfect|wonderful|brilliant),? just (?:great|perfect|wonderful|brilliant)"
    r"|(?:are|do) you even (?:listening|listen|trying|try|care|understand)|stop talking|be quiet"
    r"|(?:this|this conversation|this chat|talking to you)(?:'s| is| was) (?:such |so |totally |completely )?"
    r"(?:a waste of (?:my )?time|pointless|useless|a joke|stupid|boring)|you(?:'re| are) wasting my time"
    r")\b|^\s*whatever\b",
    re.IGNORECASE,
)

# Speaking ill of oneself, or of being alone: VADER reads "Nobody cares about me." as kind words.
_LOW = re.compile(
    r"\b(?:"
    r"(?:nobody|no one|no-one) (?:cares about|likes|loves|wants|needs|understands|listens to) me"
    r"|i(?:'?m| am) (?:such |so |just |completely |all )?(?:a failure|worthless|useless|hopeless|a burden|a mess"
    r"|unlovable|alone|lonely)|i hate (?:myself|my life)"
    r"|i feel (?:so |really |completely )?(?:alone|lonely|empty|worthless|hopeless|invisible|like a failure)"
    r"|i(?:'?m| am) (?:so |such |just )?(?:stupid|an? idiot|idiot|ugly|pathetic|a loser)"
    r"|(?:feeling|feel|i(?:'?m| am)) (?:really |so |a bit |pretty |kind of )?(?:down|low|depressed|miserable)"
    r")\b",
    re.IGNORECASE,
)


class Appraisal(BaseModel):
    valence: float = 0.0  # [-1, 1] how pleasant the turn was for the persona
    directed_at_persona: bool = False  # the user spoke about the persona ("you are ...")
    hostile: bool = False  # an insult or a sneer aimed at the persona, whatever VADER made of it
    low: bool = False  # the user speaks ill of themselves or of being alone: sad news, not praise
    deltas: dict[str, float] = Field(default_factory=dict)


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def is_hostile(text: str) -> bool:
    """An insult, a sneer or sarcasm aimed at the persona ("Nobody likes you.", "if you're so smart")."""
    return _HOSTILE.search(text.replace("\u2019", "'")) is not None


def is_low(text: str) -> bool:
    """The user speaks ill of themselves or of being alone ("Nobody cares about me", "I'm worthless")."""
    return _LOW.search(text.replace("\u2019", "'")) is not None


def is_feeling_word(word: str) -> bool:
    """A word that carries sentiment ("bored", "useless"): a feeling, not a topic."""
    return word.lower() in _analyzer().lexicon


def appraise_words(text: str) -> Appraisal:
    if not text.strip():
        return Appraisal()
    if is_hostile(text):  # stings, and offsets warmth: love falls, it does not rise
        compound = min(_analyzer().polarity_scores(text)["compound"], -0.6)
        hurt = {"anger": 0.25, "sadness": 0.1, "joy": -0.2, "love": -0.2}
        return Appraisal(valence=compound, directed_at_persona=True, hostile=True, deltas=hurt)
    if is_low(text):  # sad news about themselves: it saddens, and moves the persona to care
        compound = min(_analyzer().polarity_scores(text)["compound"], -0.5)
        return Appraisal(valence=compound, low=True, deltas={"sadness": 0.25 * -compound, "love": 0.05})
    compound = _analyzer().polarity_scores(text)["compound"]
    words = {w.strip(".,!?;:'\"").lower() for w in text.split()}
    directed = bool(words & SECOND_PERSON)
    deltas: dict[str, float] = {}
    if compound >= 0.05:
        add_delta(deltas, "joy", 0.3 * compound)
        if directed:
            add_delta(deltas, "love", 0.2 * compound)
    elif compound <= -0.05:
        add_delta(deltas, "sadness", 0.25 * -compound)
        if directed:  # hostility aimed at the persona stings differently from sad news
            add_delta(deltas, "anger", 0.3 * -compound)
            add_delta(deltas, "joy", -0.2 * -compound)
    if text.rstrip().endswith("?"):
        add_delta(deltas, "surprise", 0.03)
    return Appraisal(valence=compound, directed_at_persona=directed, deltas=deltas)


def perception_deltas(variables: dict[str, Any]) -> dict[str, float]:
    """Shifts from the scene's perception (Soul Machines; the Skills API's context, whose
    UserTurn_Text* scores read the words), and the voice's prosody (Hume)."""
    deltas: dict[str, float] = {}
    if (positivity := _number(variables.get("User_Turn_Positivity"))) is not None:
        add_delta(deltas, "joy", 0.2 * clamp(positivity))
    if (negativity := _number(variables.get("User_Turn_Negativity"))) is not None:
        add_delta(deltas, "sadness", 0.2 * clamp(negativity))
    if (confusion := _number(variables.get("User_Turn_Confusion"))) is not None:
        add_delta(deltas, "surprise", 0.1 * clamp(confusion))
    prosody = variables.get("prosody")
    for source, mapping, weight in ((prosody, PROSODY_MAP, 0.25), (variables, TEXT_EMOTION_MAP, 0.2)):
        if isinstance(source, dict):
            for emotion, names in mapping.items():
                scores = [s for name in names if (s := _number(source.get(name))) is not None]
                if scores and max(scores) > 0:
                    add_delta(deltas, emotion, weight * clamp(max(scores)))
    return deltas


def appraise(text: str, variables: dict[str, Any]) -> Appraisal:
    words = appraise_words(text)
    deltas = merge_deltas(words.deltas, perception_deltas(variables))
    return words.model_copy(update={"deltas": deltas})
