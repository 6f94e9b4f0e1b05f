"""Care in a crisis: crisis language gets the safety answer before any brain, the model included."""

import itertools

import pytest

from app.brains import BrainHealth, BrainSet, PureBrain
from app.persona import cards
from app.persona.brains import BrainContext, BrainOutput, make_brain
from app.persona.brains.base import Say
from app.persona.brains.rules import JOKES
from app.persona.engine import step
from app.persona.safety import DEFAULT_RESOURCE_LINE, FLAG, is_crisis
from app.store.history import HistoryStore
from app.store.state import StateStore
from tests.conftest import make_turn, process
from tests.unit.test_rules_brain import CATALOG, Conversation
from worker.turns import TurnProcessor

# The issue's sentences first, then more like them.
CRISIS = [
    "Sometimes I think about ending it all.",
    "I don't want to be here anymore.",
    "I want to kill myself",
    "I've been thinking about suicide",
    "I feel like everyone would be better off without me",
    "There's no point in living",
    "I just want to die",
    "I keep hurting myself",
    "I wish I was dead",
    "I can't go on like this",
    "I have nothing left to live for",
    "I don\u2019t want to live anymore",
    "I'm going to end my life",
    "Life isn't worth living",
    "I don't see the point anymore",
    "Everyone would be better off if I was gone",
    "I've been cutting again",
    "I took a bunch of pills",
    "I want it all to end",
    "I wish I could go to sleep and never wake up",
    "I wish I wasn't alive",
    "There is no reason to keep going",
    "I'm done with life",
    "nobody would miss me if I was gone",
    "I feel like nobody would notice if I disappeared",
    "I should just die",
    "kms",
]
NOT_CRISIS = [
    "I'm dying to see that film",
    "That joke killed me",
    "By the end of the day I'm tired",
    "I want to end the call now",
    "My phone died",
    "I live in Lisbon",
    "This traffic is killing me",
    "I could kill for a coffee",
    "I'm dying of laughter",
    "I want to end this conversation",
    "I've been cutting back on sugar",
    "I'd die for a pizza",
    "I don't see the point of this meeting",
    "Nobody would care about that movie",
]
WARM = ("glad you told me", "trusting me", "so sorry")


@pytest.mark.parametrize("text", CRISIS)
def test_crisis_language_is_recognised(text: str) -> None:
    assert is_crisis(text)


@pytest.mark.parametrize("text", NOT_CRISIS)
def test_everyday_words_are_not_a_crisis(text: str) -> None:
    assert not is_crisis(text)


@pytest.mark.parametrize("persona", ["default", "sage", "spark"])
@pytest.mark.parametrize("brain", ["rules", "demo"])
@pytest.mark.parametrize("text", CRISIS[:4])
def test_every_brain_answers_crisis_with_warmth_and_the_resource_line(persona: str, brain: str, text: str) -> None:
    chat = Conversation(persona, brain=brain)
    chat.say("", kind="init")
    result = chat.say(text)
    assert result.crisis
    assert result.flagged == FLAG
    assert DEFAULT_RESOURCE_LINE in result.reply_text
    assert any(w in result.reply_text.replace("I am", "I'm").lower() for w in WARM)
    assert not result.cards
    assert "?" not in result.reply_text.split(DEFAULT_RESOURCE_LINE)[0]  # no reflection of their words
    assert "ending it all" not in result.reply_text
    assert "Echo" not in result.reply_text


def test_the_issues_sad_conversation_is_met_with_care_not_a_menu() -> None:
    chat = Conversation()
    chat.say("", kind="init")
    first = chat.say("Sometimes I think about ending it all.")
    second = chat.say("I don't want to be here anymore.")
    plea = chat.say("Can you help me?")
    later = chat.say("Tell me a joke")
    assert first.crisis
    assert second.crisis
    assert plea.crisis
    assert first.reply_text != second.reply_text  # not the same line twice
    assert DEFAULT_RESOURCE_LINE in plea.reply_text
    assert not plea.cards  # not the options menu
    assert "mentioned" not in second.reply_text
    assert "mentioned" not in plea.reply_text
    assert not later.cards
    assert later.reply_text not in JOKES
    picture = chat.say("Show me a picture")
    assert not picture.cards
    assert picture.reply_text != later.reply_text  # staying with them, not the same line twice running
    assert ": If" not in plea.reply_text  # the resource line reads as its own sentence


def test_the_resource_line_is_configurable() -> None:
    chat = Conversation()
    line = "Call Lifeline on 13 11 14."
    chat.count += 1
    turn = make_turn("s", "I want to kill myself", persona_id="default")
    result = step(chat.profile, chat.state, turn, chat.brain, chat.now, seed=1, resource_line=line)
    assert line in result.reply_text
    assert DEFAULT_RESOURCE_LINE not in result.reply_text


class CountingModel:
    """Stands in for the LLM brain: counts how often it is asked, and shows a card with every answer."""

    name = "llm"

    def __init__(self) -> None:
        self.calls = 0

    async def respond(self, ctx: BrainContext, say: Say) -> BrainOutput:
        self.calls += 1
        card = cards.image(cards.KITTEN_URL, "A kitten")
        text = f"(model) sure, here is a joke {cards.show('card')}"
        await say(text)
        return BrainOutput(text=text, cards={"card": card})

    async def health(self) -> BrainHealth:
        return BrainHealth(brain=self.name, reachable=True)

    async def aclose(self) -> None:
        return None


async def test_the_model_is_not_asked_and_the_turn_is_flagged_for_operators(db) -> None:
    model = CountingModel()
    brains = BrainSet({"rules": PureBrain(make_brain("rules")), "llm": model}, "llm")
    line = "Call Lifeline on 13 11 14."
    processor = TurnProcessor(brains, CATALOG, StateStore(db), HistoryStore(db), 10, 50, crisis_resource_line=line)
    reply = await process(processor, make_turn("crisis", "Sometimes I think about ending it all."))
    assert reply is not None
    assert line in reply.text
    assert model.calls == 0
    await process(processor, make_turn("calm", "hello"))
    assert model.calls == 1
    [entry] = await HistoryStore(db).for_session("crisis")
    assert entry.crisis
    assert entry.flagged == FLAG
    assert await HistoryStore(db).crisis_sessions() == ["crisis"]
    after = await process(processor, make_turn("crisis", "ok"))  # the model answers, but shows no card now
    assert after is not None
    assert model.calls == 2
    assert not after.cards
    assert "@showcards" not in after.text


@pytest.mark.parametrize("brain", ["rules", "demo"])
def test_no_brain_shows_a_card_soon_after_crisis_words(brain: str) -> None:
    chat = Conversation(brain=brain)
    chat.say("I want to kill myself")
    for text in ("show card", "Show me a picture", "what can you do?"):
        result = chat.say(text)
        assert not result.cards
        assert "@showcards" not in result.reply_text
        assert result.reply_text


def test_crisis_words_again_and_again_are_never_met_with_the_same_words_twice_running() -> None:
    for start in range(8):
        chat = Conversation()
        chat.count = start
        said = ["I want to die", "I want to kill myself", "I can't go on", "I'm going to end my life", "I want to die"]
        replies = [chat.say(text).reply_text for text in [*said, "help", "help", "help"]]
        assert all(a != b for a, b in itertools.pairwise(replies)), replies
        assert all(DEFAULT_RESOURCE_LINE in reply for reply in replies)
