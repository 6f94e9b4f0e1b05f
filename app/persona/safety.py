"""Care in a crisis: self-harm and crisis language is recognised before anything else answers.

The check runs on the user's own words in `engine`, before any brain (rules, demo or a model)
is asked, so no reflection, card or joke can answer someone who says they want to die, and a
model never gets the chance to contradict the answer. The answer is warm, short, and points
to help with the resource line the operator configured (`CRISIS_RESOURCE_LINE`).
"""

import random
import re
from functools import lru_cache
from typing import TYPE_CHECKING

from app.persona.language import formal

if TYPE_CHECKING:
    from app.persona.memory import SessionMemory

DEFAULT_RESOURCE_LINE = (
    "If you might act on these thoughts, please call your local emergency number now. You can also "
    "talk to a crisis line at any hour: 988 in the US, 116 123 (Samaritans) in the UK and Ireland, "
    "or find one near you at findahelpline.com."
)
FLAG = "crisis language: the safety answer was given"

_CRISIS = re.compile(
    r"\b(?:"
    r"(?:kill|killing|hurt|hurting|harm|harming|cut|cutting) myself|self[- ]?harm"
    r"|suicid\w*|take my (?:own )?life|end(?:ing)? (?:my|it) (?:life|all)|end(?:ing)? it all"
    r"|(?:want|wanted|going|wanna|gonna) (?:to )?(?:die|end it)|wish i (?:was|were) (?:dead|never born)"
    r"|better off (?:dead|without me|if i (?:was|were)(?:n'?t| not)? (?:gone|dead|here|around))"
    r"|(?:don'?t|do not) want to (?:be here|live|be alive|exist|wake up)"
    r"|(?:no|not any) (?:reason|point) (?:to|in) (?:live|living|go on|going on|carry on|keep going|keep living|life)"
    r"|(?:don'?t|do not|can'?t|cannot) see (?:the|any) point (?:any ?more|in (?:living|life|going on|anything))"
    r"|nothing (?:left )?to live for|(?:not|isn'?t) worth living|can'?t go on|can ?not go on|done with (?:life|living)"
    r"|can'?t (?:do|take) (?:this|it) any ?more|overdos\w*|jump off (?:a|the) (?:bridge|roof|building)"
    r"|cutting (?:myself|again)|took (?:a (?:bunch|lot|handful) of|too many|all (?:my|the)) (?:pills|tablets)|kms"
    r"|want (?:it all|everything|my life|it) to (?:end|stop)|(?:go to sleep|fall asleep) and never wake up"
    r"|wish i (?:was|were)(?:n'?t| not) (?:alive|here|born)|should (?:just )?die|disappear (?:forever|for good)"
    r"|(?:nobody|no one|no-one) would (?:miss me|(?:care|notice) if i (?:was gone|were gone|disappeared|died))"
    r")\b",
    re.IGNORECASE,
)
_ASKS_FOR_HELP = re.compile(
    r"\b(?:help|what (?:should|can|do) i do|i don'?t know what to do|who (?:can|do) i (?:call|talk to))\b", re.I
)
LINES = (
    "I'm really glad you told me, and I'm so sorry you're carrying this. You matter, and you don't have "
    "to face it alone. {resource} I'm here with you. Would you like to tell me what's been happening?",
    "Thank you for trusting me with something this heavy. What you're feeling matters, and so do you. "
    "{resource} I'm staying right here. What's weighing on you most right now?",
    "I'm so sorry it hurts this much. You deserve support from a real person right now. {resource} "
    "I'm still here with you, and I'm listening.",
)
HELP_LINES = (
    "Yes. The most important help is a person who can be with you. {resource} And I'm here to keep "
    "talking for as long as you want.",
    "I want you to get real support. {resource} While you reach out, I'm right here with you.",
)


def _plain(text: str) -> str:
    return text.replace("\u2019", "'").replace("\u2018", "'")


@lru_cache(maxsize=1024)
def is_crisis(text: str) -> bool:
    """Whether the words speak of self-harm, suicide or not wanting to live. Remembered per text:
    every turn asks again of its session's recent exchanges (py-spy: 3 % of a loaded worker's
    samples, ~9 µs a text); 1,024 texts of at most 4,000 characters bound what is kept."""
    return _CRISIS.search(_plain(text)) is not None


def in_crisis(session: "SessionMemory") -> bool:
    """Whether someone spoke of a crisis in this session's recent turns: no jokes or cards now."""
    return any(is_crisis(exchange.user_text) for exchange in session.recent)


def answer(text: str, session: "SessionMemory", resource_line: str, formality: float, seed: int) -> str | None:
    """The safety answer, when one is due: crisis words now, or a plea for help soon after them."""
    lines: tuple[str, ...]
    if is_crisis(text):
        lines = LINES
    elif in_crisis(session) and _ASKS_FOR_HELP.search(_plain(text)):
        lines = HELP_LINES
    else:
        return None
    said = [exchange.reply_text for exchange in session.recent]
    texts = [formal(line.format(resource=resource_line.strip()), formality) for line in lines]

    def last_said(text: str) -> int:
        return max((i for i, reply in enumerate(said) if reply == text), default=-1)

    fresh = [text for text in texts if last_said(text) < 0]
    return random.Random(seed).choice(fresh) if fresh else min(texts, key=last_said)  # else the longest ago
