"""The rules brain: offline, deterministic conversation with memory, mood and manners.

Handlers are tried in order; the first that has something to say answers. Choices between
phrasings use a random generator seeded by the turn, so the same state and turn give the same
reply. Tone follows the relationship (warm with friends, guarded with hostile users), the
persona's style (warmth, verbosity, formality, humour) and its dominant emotion.
"""

import functools
import random
import re
from collections.abc import Callable

from app.persona import cards, safety
from app.persona.appraisal import appraise_words, is_hostile
from app.persona.brains.base import BrainContext, BrainOutput
from app.persona.facts import PETS, RELATIONS, Fact
from app.persona.language import formal, is_goodbye, reflect

Handler = Callable[[BrainContext, str, random.Random], BrainOutput | None]

JOKES = (
    "Why did the scarecrow win an award? Because he was outstanding in his field.",
    "I told my computer I needed a break, and it said: no problem, I'll go to sleep.",
    "Why don't skeletons fight each other? They don't have the guts.",
    "What do you call a fish without eyes? A fsh.",
)
HELP_OPTIONS = ("Tell me a joke", "How are you?", "What do you know about me?", "Show me a picture")
MENU_LINES = ("Here are a few things we could do.", "We could try one of these.", "Pick one, or tell me what you like.")
# "Can you help me?" asks for help, not for a menu: someone may be about to say something hard.
ASKS_FOR_HELP = re.compile(r"\b(?:can|could|would|will) you (?:please )?help\b|\bhelp me\b|\bi need (?:some )?help\b")
HELP_OFFERS = ("Of course. What's going on?", "I'll do what I can. What do you need help with?",
               "Sure. Tell me what's happening.")  # fmt: skip
JOKE_REQUESTS = ("tell me a joke", "another joke", "any jokes", "a joke then", "a joke,? please", "joke me",
                 "make me laugh", "something funny")  # fmt: skip
MOOD_LINES: dict[str | None, tuple[str, ...]] = {
    "joy": ("I'm feeling really good, thanks for asking!", "Pretty great, honestly. How about you?"),
    "love": ("I'm feeling warm and happy, especially talking with you.", "Really good. I like talking with you."),
    "sadness": ("A little low, honestly. Talking with you helps, though.", "A bit down today, but I'm okay."),
    "anger": ("I'm a bit on edge right now, to be honest.", "A little tense, honestly. I'll be fine."),
    "fear": ("A little uneasy, but I'm okay.", "A touch nervous today, but alright."),
    "surprise": ("Honestly? A bit surprised by how the day is going!", "Curious about everything today!"),
    "disgust": ("I've had better moments, but I'm alright.", "I'm alright, if not my best."),
    None: ("I'm doing well, thank you. How about you?", "I'm good, thanks. And you?"),
}
HER = frozenset(["wife", "girlfriend", "mother", "mom", "mum", "sister", "daughter", "grandmother", "grandma", "aunt"])
HIM = frozenset(["husband", "boyfriend", "father", "dad", "brother", "son", "grandfather", "grandpa", "uncle"])
# Questions about the persona's own tastes: it has none to report, but turns them back warmly.
TASTES = re.compile(r"\b(?:do you (?:like|love|enjoy)|what do you (?:like|love|enjoy)|what(?:'s| is) your fav)")
MY_TASTES = ("I love hearing what people enjoy. What about you?", "I'm curious about what people love. And you?")
THANKED = ("You're welcome{name}!", "Any time{name}.", "I'm glad to be here{name}.")
GUARDED_MOOD = ("I'm alright. How are you?", "Fine, thank you. What's on your mind?")
FOLLOW_UPS = ("How does that make you feel?", "What happened next?", "Tell me more about that.", "Why do you say that?")
CONTINUATIONS = ("I see.", "That's interesting.", "Go on, I'm listening.", "Mm, I understand.", "Okay, I follow.")
GENTLE_CONTINUATIONS = ("I'm listening.", "Take your time. I'm here.", "I'm here with you.", "Go on, if you want to.")
GUARDED_CONTINUATIONS = ("I see.", "Okay.", "Go on.", "Alright.")
# De-escalation in the persona's voice: formal, warm or plain, plus a lighter touch with humour.
DE_ESCALATIONS: dict[str, tuple[str, ...]] = {
    "formal": (
        "I understand that you are frustrated. Tell me what you need, and I will do my best.",
        "I would rather we spoke calmly. What is it that you need from me?",
        "Noted. I am still willing to help, if you tell me how.",
        "Let us start again. What would you like to talk about?",
        "I hear your frustration. I would still like to help, if you will let me.",
    ),
    "warm": (
        "Ouch. I can tell something's frustrating you, and I'd still like to help. What's going on?",
        "That stings a little, but I'm not going anywhere. What would make this better for you?",
        "I hear that you're fed up with me. Tell me what I got wrong and I'll try again.",
        "I'm sorry it's been frustrating. I'm still here if you want to try something else.",
    ),
    "plain": (
        "I'm sorry this isn't going well. What would help?",
        "Let's take a breath. What can I do for you?",
        "Fair enough, I'm not getting this right. Tell me what you'd like instead.",
        "Okay. Let's try that again. What do you need?",
        "Understood. What would you rather talk about?",
    ),
}
# Insult after insult: still kind, but it says where it stands rather than apologising again.
BOUNDARIES = (
    "I'd like to keep talking, but not like this. I'm here when you want to talk about something else.",
    "I'll stay polite, and I'll stay here. When you're ready to talk, so am I.",
    "Let's take a break from the insults. Is there something I can actually help with?",
)
LIGHT_DE_ESCALATIONS = ("Fair, I'm clearly not at my best right now. Give me another shot?",)
GAME_JOKES = ("Alright, I'll try to earn a smile: {joke}", "Challenge accepted. {joke}", "I'll give it my best: {joke}")
UPSET_BY_ME = ("I'm sorry. I didn't mean to upset you. What happened?", "That's not what I wanted. What went wrong?")
LOW = (
    "I'm really sorry you feel that way. I care about what you're going through. What's been happening?",
    "That sounds so painful. I'm glad you told me, and I'm here. What's making you feel this way?",
    "I'm here with you, and I want to understand. What's been going on?",
)
SAD_NEWS = (
    "I'm sorry to hear that. Do you want to talk about it?",
    "That sounds hard. I'm here.",
    "Oh no. I'm so sorry. What happened?",
)
PRAISED = ("That's really kind of you to say!", "Aw, thank you! That means a lot.", "You just made my day!")
GUARDED_PRAISE = ("Thank you. I'd like us to get along.", "Thanks. That's nicer to hear.")
TOPIC_RETURNS = (
    " Earlier you mentioned {topic}. Tell me more?",
    " You mentioned {topic} earlier. What's the story there?",
)
HARD_TIMES = ("rough day", "bad day", "hard day", "tough day", "long day", "stressed", "exhausted", "worn out",
              "struggling", "overwhelmed", "not doing (great|well|good)", "not great", "not good", "can'?t sleep",
              "(got|been|was) fired", "laid off", "broke up", "(left|dumped) me", "heartbroken", "lonely",
              f"lost my (job|{RELATIONS}|{PETS})", "died", "passed away", "funeral", "miss (him|her|them)",
              "don'?t know what to do", "in (the )?hospital", "cancer", "is (really |very )?(sick|ill)")  # fmt: skip
FEELING_FINE = (
    r"(i'?m |i am |i feel )?(a bit |a little |much |feeling |doing )?(fine|good|great|ok|okay|not bad|well|better)\b.*"
)
HOW_ARE_YOU = re.compile(r"\bhow (?:are|about) you\b|\band you\?", re.I)
# About the persona ("You're lovely", "I love talking to you"), not merely to it ("I'm better talking to you").
ABOUT_THE_PERSONA = re.compile(
    r"^you\b|\byou(?:'re| are|r)\b|\bthank(?:s| you)\b|\bi (?:love|like|adore) (?:you|talking)\b"
)
LOSS = ("died", "dead", "passed away", "lost", "put down", "funeral", "miss (him|her|them)")
# "I'm feeling better", not "I'm not doing great".
BETTER = re.compile(r"(?<!not )(?<!not doing )\b(?:better|calmer|fine|good|great|okay now)\b")
STAY = (
    "I'd rather stay with you for now. How are you feeling at this moment?",
    "Let's leave that for another time. I'm here with you. How are you doing right now?",
)
APOLOGY_ACCEPTED = ("No hard feelings. Want to start over?", "Thanks for saying that. Let's start again.")
STEADY = ("That's a really good step. I'm here with you.", "I'm glad. I'm here if you want to keep talking.")
CELEBRATIONS = ("got the job", "got a job", "got (engaged|promoted|married)", "getting married", "passed (my|the)",
                "i did it", "we won", "had a baby", "having a baby", "new job", "got in", "got accepted")  # fmt: skip
CONGRATULATIONS = ("That's wonderful news. Congratulations!", "Congratulations! How are you feeling about it?")
GOOD_NEWS = ("That's lovely to hear!", "I'm glad!", "Ha, glad to hear it!")
ENJOYED = ("Glad you liked it!", "Ha, I'll be here all week!")
NOT_SURE = ("I'm not sure about that one.", "I don't know that one, I'm afraid.", "Honestly, I don't know.")
REFLECTIONS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"\bi feel (?P<r>[^.!?]+)", re.I), ("Why do you feel {r}?", "How long have you felt {r}?")),
    (re.compile(r"\bi need (?P<r>[^.!?]+)", re.I), ("Why do you need {r}?", "Would {r} really help you?")),
    (re.compile(r"\bi think (?P<r>[^.!?]+)", re.I), ("What makes you think {r}?", "Do you really think {r}?")),
    (re.compile(r"\bi (?:want|wish) (?P<r>[^.!?]+)", re.I), ("What would it mean to you to get {r}?",)),
    (
        re.compile(r"\bi(?:'m| am) (?P<r>(?!feeling|thinking|doing)\w+ing\b[^.!?]*)", re.I),
        ("How do you feel about {r}?",),
    ),  # "I'm getting married": not "How long have you been getting married?"
    (re.compile(r"\bi(?:'m| am) (?P<r>[^.!?]+)", re.I), ("How long have you been {r}?", "How does being {r} feel?")),
    (re.compile(r"\bbecause (?P<r>[^.!?]+)", re.I), ("Is that the real reason?", "Does that explain everything?")),
    (re.compile(r"\byou(?:'re| are) (?P<r>[^.!?]+)", re.I), ("What makes you think I'm {r}?",)),
    (re.compile(r"(?P<r>[^.!?]*\bmy\b[^.!?]*)", re.I), ("{R}? Tell me more.", "{R}? Go on.")),  # the whole clause
)


def _matches(text: str, *phrases: str) -> bool:
    return _phrase_pattern(phrases).search(text) is not None


@functools.cache
def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    """Any of the phrases as whole words, compiled once (every turn tries a dozen sets of them)."""
    return re.compile("|".join(rf"\b{p}\b" for p in phrases))


def _guarded(ctx: BrainContext) -> bool:
    """Cool after hostility: from an insult this session on, not only at the next welcome."""
    recent_insult = any(is_hostile(exchange.user_text) for exchange in ctx.session.recent[-3:])
    return ctx.appraisal.hostile or recent_insult or ctx.relationship.label in ("wary", "hostile")


def _pick(ctx: BrainContext, rng: random.Random, options: tuple[str, ...]) -> str:
    """One of the phrasings not said in the session's recent turns, else the one said longest ago."""
    said, formality = [exchange.reply_text for exchange in ctx.session.recent], ctx.profile.style.formality

    def last_said(option: str) -> int:
        line = formal(option, formality).lower()  # also when said after a name: "Jo, that sounds hard."
        return max((i for i, reply in enumerate(said) if line in reply.lower()), default=-1)

    fresh = [option for option in options if last_said(option) < 0]
    return rng.choice(fresh) if fresh else min(options, key=last_said)  # else the one said longest ago


def _voice(ctx: BrainContext) -> tuple[str, ...]:
    style = ctx.profile.style
    register = "formal" if style.formality >= 0.7 else "warm" if style.warmth >= 0.7 else "plain"
    return DE_ESCALATIONS[register] + (LIGHT_DE_ESCALATIONS if style.humor >= 0.5 and register != "formal" else ())


def _addressed(ctx: BrainContext, rng: random.Random, line: str) -> str:
    """Friends are addressed by name now and then: not while things are tense, not twice running."""
    name = ctx.user_memory.name
    if not name or _guarded(ctx) or ctx.relationship.label not in ("friend", "close friend"):
        return line
    if any(name in exchange.reply_text for exchange in ctx.session.recent[-2:]):
        return line
    if rng.random() >= 0.5 * ctx.profile.style.warmth or line.startswith(("Mm", "Oh", "Ouch", "Aw", "Ha")):
        return line  # not "Mimi, mm, I understand."
    keep = line.startswith(("I ", "I'")) or line[:1].islower()
    return f"{name}, {line if keep else line[:1].lower() + line[1:]}"


def _say(ctx: BrainContext, text: str, **fields: object) -> BrainOutput:
    return BrainOutput(text=formal(text, ctx.profile.style.formality), **fields)


def welcome(ctx: BrainContext, text: str, rng: random.Random) -> BrainOutput | None:
    if ctx.turn.kind != "init":
        return None
    rel, name, me = ctx.relationship, ctx.user_memory.name, ctx.profile.name
    if rel.label == "hostile":
        return _say(ctx, "Hello.", relationship_signal=0.0)
    if rel.label == "wary":
        return _say(ctx, "Hello again. I hope today goes better.", relationship_signal=0.05)
    if rel.interactions == 0:
        return _say(
            ctx, f"Hi there! I'm {me}. What should I call you?", emotion_deltas={"joy": 0.1}, relationship_signal=0.2
        )
    if name and rel.label in ("friend", "close friend"):
        line = rng.choice((f"Welcome back, {name}! It's so good to see you again.", f"{name}! I missed you."))
        return _say(ctx, line, emotion_deltas={"joy": 0.2, "love": 0.1}, relationship_signal=0.3)
    if name:
        return _say(
            ctx, f"Hello again, {name}! How have you been?", emotion_deltas={"joy": 0.1}, relationship_signal=0.2
        )
    return _say(
        ctx, "Welcome back! Remind me, what should I call you?", emotion_deltas={"joy": 0.05}, relationship_signal=0.1
    )


def _fact_phrase(fact: Fact) -> str:
    """A fact said back in good grammar, in the second person."""
    value, about = fact.value, fact.key.split(":", 1)[-1]
    match fact.kind:
        case "name":
            return f"your name is {value}"
        case "likes" if about != value.lower():
            return f"your favourite {about} is {value}"
        case "likes":
            return f"you love {value}"
        case "dislikes":
            return f"you don't like {value}"
        case "plays":
            return f"you play {value}"
        case "lives":
            return f"you live in {value}"
        case "origin":
            return f"you're from {value}"
        case "work":
            return f"you work {value}" if value.split()[0] in ("as", "at", "for", "in") else f"you work as {value}"
        case "age":
            return f"you're {value}"
        case "event" if about == "birthday":
            return f"your birthday is {value}"
        case "person" | "pet":
            return f"your {about} is called {value}"
        case _:  # an event: "tomorrow I'm flying to Rome"
            return f"you're {value}"


def memory_question(ctx: BrainContext, text: str, rng: random.Random) -> BrainOutput | None:
    if not ctx.asked:
        return None
    answers = [f for f in ctx.recalled if f.kind in ctx.asked]  # only the cat, when the cat was asked about
    if not answers:
        missing = f"your {ctx.asked_about}'s name" if ctx.asked_about else "that"
        return _say(ctx, f"You haven't told me {missing} yet. Would you like to?", relationship_signal=0.05)
    phrases = [_fact_phrase(f) for f in answers]
    joined = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    lines = (f"I remember: {joined}.", f"Of course! {_capitalised(joined)}.", f"You told me {joined}.")
    last = ctx.session.recent[-1].reply_text if ctx.session.recent else ""
    fresh = tuple(line for line in lines if not last.startswith(line[:8])) or lines  # not "Of course!" twice running
    line = _pick(ctx, rng, fresh)
    return _say(ctx, line, emotion_deltas={"joy": 0.05}, relationship_signal=0.15)


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sombre(ctx: BrainContext) -> bool:
    """Sad news in this turn or the one before: no cheerful "Aww!" now."""
    said = [ctx.turn.text, *(exchange.user_text for exchange in ctx.session.recent[-1:])]
    return ctx.appraisal.valence <= -0.3 or any(_matches(t.lower(), *LOSS) for t in said)


def _heavy(ctx: BrainContext) -> bool:
    """Hard news in this turn or the last few, unless they have said since that they are better:
    gentle words, no menu, no "What's the story there?"."""
    if _sombre(ctx) or ctx.appraisal.low:
        return True
    for exchange in reversed(ctx.session.recent[-3:]):
        before = exchange.user_text.lower()
        said = appraise_words(before)
        thanks = re.search(r"\b(thanks|thank you)\b", before)  # "Thanks for listening" is not "I'm better"
        if (said.valence >= 0.3 and not thanks) or BETTER.search(before):
            return False
        if said.low or (said.valence <= -0.4 and not said.hostile) or _matches(before, *HARD_TIMES):
            return True
    return False


def _pronoun(fact: Fact) -> str:
    relation = fact.key.split(":", 1)[-1]
    return "her" if relation in HER else "him" if relation in HIM else "them"


def introduction(ctx: BrainContext, text: str, rng: random.Random) -> BrainOutput | None:
    if not ctx.new_facts:
        return None
    fact = max(ctx.new_facts, key=lambda f: f.importance)
    value = fact.value
    if fact.kind in ("person", "pet") and _sombre(ctx):  # "My dog died last week. His name was Max."
        line = f"{value}. That's a lovely name. What was {value} like?"
        return _say(ctx, line, emotion_deltas={"love": 0.05}, relationship_signal=0.2)
    if fact.kind == "name" and (known := ctx.user_memory.get("name")) and known.mentions > 1:  # "actually, call me Sam"
        return _say(ctx, f"Got it, {value}. I'll call you that from now on.", relationship_signal=0.2)
    lines = {
        "name": f"Nice to meet you, {value}! What would you like to talk about?",
        "likes": f"{value[0].upper() + value[1:]}? I like the sound of that. What do you love about it?",
        "dislikes": f"Fair enough, {value} isn't for everyone. What do you enjoy instead?",
        "plays": f"Oh, you play {value}! How long have you been playing?",
        "lives": f"{value}! What's it like living there?",
        "origin": f"{value}, lovely. Do you miss it?",
        "work": "That sounds interesting. Do you enjoy your work?",
        "person": f"{value} is a lovely name. Tell me more about {_pronoun(fact)}.",
        "pet": f"Aww, {value}! I'd love to hear more about them.",
        "age": "Thanks for telling me. I'll remember that.",
        "event": "I'll remember that. Is it something you're looking forward to?",
    }
    return _say(ctx, lines[fact.kind], emotion_deltas={"joy": 0.1, "love": 0.05}, relationship_signal=0.25)


def show_cards(ctx: BrainContext, text: str, rng: random.Random) -> BrainOutput | None:
    if text == "show card" or _matches(text, "show me a (cat|kitten|picture|photo)", "show me something"):
        card = {"cat": cards.image(cards.KITTEN_URL, "A cute kitten")}
        return _say(
            ctx, f"Here is a cat {cards.show('cat')}", cards=card, emotion_deltas={"joy": 0.1}, relationship_signal=0.1
        )
    if ASKS_FOR_HELP.search(text) or (_heavy(ctx) and _matches(text, "help")):
        return _say(ctx, _pick(ctx, rng, HELP_OFFERS), relationship_signal=0.1)
    if _matches(text, "help", "what can you do", "what can we do", "options", "menu"):
        card = {"options": cards.options(HELP_OPTIONS)}
        return _say(ctx, f"{_pick(ctx, rng, MENU_LINES)} {cards.show('options')}", cards=card)
    if _matches(text, "tell me about yourself", "who are you", "what are you"):
        me = ctx.profile
        about = cards.markdown(f"**{me.name}**\n\n{me.description or 'A persona who remembers you.'}")
        return _say(
            ctx, f"I'm {me.name}, {me.description or 'glad to meet you'}. {cards.show('about')}", cards={"about": about}
        )
    if _matches(text, "learn more", "where can i read more"):
        link = cards.external_link("https://www.soulmachines.com", "Soul Machines", "Digital people, made real.")
        return _say(ctx, f"Here's a good place to start. {cards.show('link')}", cards={"link": link})
    return None


def small_talk(ctx: BrainContext, text: str, rng: random.Random) -> BrainOutput | None:
    name = ctx.user_memory.name
    hello_name = f", {name}" if name and not _guarded(ctx) else ""
    if is_goodbye(text):  # "Thanks, bye!" is a goodbye first
        parting = "good night" if _matches(text, "good ?night", "night", "sleep", "bed") else "goodbye"
        thanked = f"You're welcome, and {parting}" if _matches(text, "thanks", "thank you", "cheers") else parting
        thanked = _capitalised(thanked)
        return _say(ctx, f"{thanked}{hello_name}! I'll be here whenever you want to talk.", relationship_signal=0.1)
    if _matches(text, "how are you", "how do you feel", "how are you feeling"):
        lines = GUARDED_MOOD if _guarded(ctx) else MOOD_LINES.get(ctx.dominant_emotion, MOOD_LINES[None])
        return _say(ctx, _pick(ctx, rng, lines), relationship_signal=0.1)
    if _matches(text, "your name", "who am i talking to"):
        return _say(ctx, f"I'm {ctx.profile.name}.", relationship_signal=0.05)
    if _matches(text, *JOKE_REQUESTS):
        return _say(
            ctx,
            _pick(ctx, rng, JOKES),
            emotion_deltas={"joy": 0.1 + 0.1 * ctx.profile.style.humor},
            relationship_signal=0.15,
        )
    if _says_they_are_fine(ctx, text):  # "good thanks" answers "How are you?", it thanks for nothing
        line = _pick(ctx, rng, ("Glad to hear it! What's on your mind?", "Good to hear. What's new with you?"))
        return _say(ctx, line, relationship_signal=0.1)
    if _matches(text, "thanks", "thank you", "cheers"):
        line = _pick(ctx, rng, tuple(line.format(name=hello_name) for line in THANKED))
        return _say(ctx, line, emotion_deltas={"joy": 0.05, "love": 0.05}, relationship_signal=0.2)
    if re.fullmatch(r"(hi|hello|hey|good (morning|afternoon|evening))\b.*", text) and len(text) < 30:
        return _say(ctx, f"Hi{hello_name}! How are you today?", emotion_deltas={"joy": 0.05}, relationship_signal=0.1)
    if TASTES.search(text):
        return _say(ctx, _pick(ctx, rng, MY_TASTES), relationship_signal=0.05)
    return None


def _says_they_are_fine(ctx: BrainContext, text: str) -> bool:
    """ "I'm doing better" is news whenever it is said; a bare "fine" only answers "How are you?"."""
    if not re.fullmatch(FEELING_FINE, text) or len(text) >= 40:
        return False
    asked = bool(ctx.session.recent) and HOW_ARE_YOU.search(ctx.session.recent[-1].reply_text) is not None
    answered = re.match(r"(i'?m|i am|i feel|feeling|doing|much|a bit|a little)\b", text) is not None
    return asked or answered or re.search(r"\b(thanks|thank you)\b", text) is not None  # "good, thanks"


def feelings(ctx: BrainContext, text: str, rng: random.Random) -> BrainOutput | None:
    valence, directed = ctx.appraisal.valence, ctx.appraisal.directed_at_persona
    if _guarded(ctx) and _matches(text, "sorry", "i apologi[sz]e", "my bad"):
        return _say(ctx, _pick(ctx, rng, APOLOGY_ACCEPTED), emotion_deltas={"anger": -0.1}, relationship_signal=0.4)
    if ctx.appraisal.hostile:  # de-escalate, and let it count against the relationship
        if _matches(text, *JOKE_REQUESTS):
            line = _pick(ctx, rng, GAME_JOKES).format(joke=_pick(ctx, rng, JOKES))
        elif sum(is_hostile(exchange.user_text) for exchange in ctx.session.recent[-3:]) >= 3:
            line = _pick(ctx, rng, BOUNDARIES + _voice(ctx))
        else:
            line = _pick(ctx, rng, _voice(ctx))
        return _say(ctx, line, relationship_signal=-0.3)
    if ctx.appraisal.low:  # "Nobody cares about me": care, never "I'm glad!"
        return _say(ctx, _pick(ctx, rng, LOW), emotion_deltas={"love": 0.05}, relationship_signal=0.1)
    if valence <= -0.5 and directed:
        return _say(ctx, _pick(ctx, rng, UPSET_BY_ME), relationship_signal=0.05)
    if valence <= -0.4 or _matches(text, *HARD_TIMES):
        line = _pick(ctx, rng, SAD_NEWS)
        return _say(ctx, _addressed(ctx, rng, line), emotion_deltas={"love": 0.05}, relationship_signal=0.1)
    if valence >= 0.4 and directed and ABOUT_THE_PERSONA.search(text):
        if _guarded(ctx):
            return _say(ctx, _pick(ctx, rng, GUARDED_PRAISE), relationship_signal=0.1)
        return _say(ctx, _pick(ctx, rng, PRAISED), emotion_deltas={"joy": 0.1})
    return None


def good_news(ctx: BrainContext, text: str, rng: random.Random) -> BrainOutput | None:
    """Something pleasant that is not about the persona ("Haha, that's a good one!")."""
    if _matches(text, *CELEBRATIONS):  # "I got the job!" reads as nothing much to VADER
        return _say(ctx, _pick(ctx, rng, CONGRATULATIONS), emotion_deltas={"joy": 0.15}, relationship_signal=0.15)
    laughed = _matches(text, "haha", "lol", "good one", "funny")
    after_a_joke = bool(ctx.session.recent) and any(joke in ctx.session.recent[-1].reply_text for joke in JOKES)
    if laughed and after_a_joke:  # "lol" after a joke, even one too quiet for VADER
        return _say(ctx, _pick(ctx, rng, ENJOYED), emotion_deltas={"joy": 0.05}, relationship_signal=0.1)
    if laughed or _guarded(ctx):  # "lol ok" after an insult is no praise of a joke
        return None
    if ctx.appraisal.valence >= 0.45 and not ctx.appraisal.directed_at_persona and not text.endswith("?"):
        return _say(ctx, _pick(ctx, rng, GOOD_NEWS), emotion_deltas={"joy": 0.05}, relationship_signal=0.1)
    return None


def reflection(ctx: BrainContext, text: str, rng: random.Random) -> BrainOutput | None:
    for pattern, templates in REFLECTIONS:
        if match := pattern.search(ctx.turn.text):
            fragment = reflect(match.group("r")).strip()
            if 0 < len(fragment) <= 80:
                line = _pick(ctx, rng, tuple(t.format(r=fragment, R=_capitalised(fragment)) for t in templates))
                return _say(ctx, _addressed(ctx, rng, line), relationship_signal=0.05)
    return None


def unknown_question(ctx: BrainContext, text: str, rng: random.Random) -> BrainOutput | None:
    """A question nothing above could answer: say so and let the platform hand over."""
    if text.endswith("?") or re.match(r"(why|how|what|when|where|who|which|can|could|is|are|do|does)\b", text):
        return _say(ctx, _pick(ctx, rng, NOT_SURE), fallback=True)
    return None


def carry_on(ctx: BrainContext, text: str, rng: random.Random) -> BrainOutput:
    style = ctx.profile.style
    if _guarded(ctx):
        return _say(ctx, _pick(ctx, rng, GUARDED_CONTINUATIONS), relationship_signal=0.0)
    if _heavy(ctx):  # no "That's interesting." or "What's the story there?" after hard news
        return _say(ctx, _addressed(ctx, rng, _pick(ctx, rng, GENTLE_CONTINUATIONS)), relationship_signal=0.05)
    line = _pick(ctx, rng, CONTINUATIONS)
    just_said = " ".join(exchange.user_text.lower() for exchange in ctx.session.recent[-2:])  # not what was just said
    returned = " ".join(exchange.reply_text for exchange in ctx.session.recent[-4:])  # once, not every turn
    topics = [t for t in ctx.session.topics if t.split()[-1].lower() not in f"{text} {just_said}" and t not in returned]
    if topics and rng.random() < style.curiosity:
        line += _pick(ctx, rng, tuple(template.format(topic=topics[0]) for template in TOPIC_RETURNS))
    elif rng.random() < style.verbosity:
        line += " " + _pick(ctx, rng, FOLLOW_UPS)
    return _say(ctx, _addressed(ctx, rng, line), relationship_signal=0.05)


def stay_with_them(ctx: BrainContext, text: str, rng: random.Random) -> BrainOutput | None:
    """Soon after crisis words, no joke, picture or menu: stay with the person."""
    if _matches(text, "joke", "make me laugh", "something funny", "show me", "picture", "menu", "options"):
        return _say(ctx, _pick(ctx, rng, STAY), relationship_signal=0.05)
    steadier = ("calmer", "feel(ing)? better", "a bit better", "i'll call", "i will call", "i'll talk", "i will talk")
    if re.fullmatch(FEELING_FINE, text) or _matches(text, *steadier):
        return _say(ctx, _pick(ctx, rng, STEADY), relationship_signal=0.1)
    return None


HANDLERS: tuple[Handler, ...] = (
    welcome,
    memory_question,
    feelings,
    introduction,
    show_cards,
    small_talk,
    good_news,
    reflection,
    unknown_question,
)
# Soon after crisis language (the safety answer itself comes first, in engine.safety_answer).
CRISIS_HANDLERS: tuple[Handler, ...] = tuple(
    stay_with_them if handler is show_cards else handler for handler in HANDLERS
)


class RulesBrain:
    name = "rules"

    def respond(self, ctx: BrainContext) -> BrainOutput:
        rng = random.Random(ctx.seed)
        text = " ".join(ctx.turn.text.lower().split())
        for handler in CRISIS_HANDLERS if safety.in_crisis(ctx.session) else HANDLERS:
            if (output := handler(ctx, text, rng)) is not None:
                return output
        return carry_on(ctx, text, rng)
