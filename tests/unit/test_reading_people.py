"""Reading people: insults and sneers read as such, varied phrasing, words said back as said."""

import re

import pytest

from app.persona.brains.rules import DE_ESCALATIONS, JOKES, PRAISED
from tests.unit.test_rules_brain import Conversation

HOSTILE = [
    "Tell me a joke then, if you're so smart.",
    "You are useless.",
    "Nobody likes you.",
    "You're so stupid.",
    "Shut up.",
    "Oh great, another brilliant answer.",
    "Wow, so helpful.",
    "I hate you",
    "What a stupid answer",
    "You don't understand anything",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_insults_and_sneers_are_de_escalated_and_count_against_the_relationship(text: str) -> None:
    chat = Conversation()
    chat.say("", kind="init")
    result = chat.say(text)
    assert result.relationship_signal < 0
    assert result.emotion_deltas.get("love", 0.0) <= 0
    assert result.emotion_deltas["anger"] > 0
    assert result.reply_text not in PRAISED
    assert "sorry to hear that" not in result.reply_text
    assert not result.reply_text.startswith("What makes you think")


def test_the_issues_sentences() -> None:
    chat = Conversation()
    chat.say("", kind="init")
    joke = chat.say("Tell me a joke then, if you're so smart.").reply_text
    assert joke != "That's really kind of you to say!"
    assert any(j in joke for j in JOKES)  # it still plays along, without the warmth
    useless = chat.say("You are useless.").reply_text
    assert useless in DE_ESCALATIONS["warm"] or "another shot" in useless
    before = chat.state.relationship.affinity
    chat.say("Nobody likes you.")
    assert chat.state.relationship.affinity < before


def test_hostility_changes_the_tone_within_the_session() -> None:
    chat = Conversation()
    chat.say("", kind="init")
    chat.say("My name is Mia")
    chat.say("You are useless.")
    praise = chat.say("You are wonderful").reply_text
    assert praise not in PRAISED  # measured, not effusive, right after an insult
    assert "Mia" not in praise
    assert "Earlier you mentioned" not in chat.say("whatever, I went to the market").reply_text


@pytest.mark.parametrize("persona", ["default", "sage"])
def test_a_line_does_not_come_back_within_the_recent_turns(persona: str) -> None:
    chat = Conversation(persona)
    chat.say("", kind="init")
    replies = [chat.say(text).reply_text for text in HOSTILE + HOSTILE[1:6]]
    for i in range(len(replies)):
        window = replies[max(0, i - 3) : i]
        assert replies[i] not in window, (i, replies[i])


def test_de_escalation_is_in_the_personas_voice() -> None:
    sage = Conversation("sage").say("You are useless.").reply_text
    ava = Conversation("default").say("You are useless.").reply_text
    assert sage in DE_ESCALATIONS["formal"]
    assert sage != ava


def test_topics_said_back_are_words_not_stems() -> None:
    chat = Conversation()
    chat.say("", kind="init")
    texts = ["I'm so bored.", "I went to the market", "hmm", "ok then", "well", "right", "yes", "indeed"]
    replies = " ".join(chat.say(text).reply_text for text in texts)
    assert not re.search(r"mentioned (bor|end|market)\b", replies)
    assert "mentioned bored" not in replies


def test_reflection_grammar() -> None:
    assert "to I " not in Conversation().say("I'm a bit better now talking to you").reply_text
    reply = Conversation().say("I feel calmer talking to you").reply_text
    assert "talking to me" in reply
    assert "to I" not in reply


def test_answers_after_of_course_start_with_a_capital() -> None:
    seen = set()
    for seed in range(12):
        chat = Conversation()
        chat.count = seed
        chat.say("My name is Sam")
        answer = chat.say("What's my name?").reply_text
        seen.add(answer.split()[0])
        assert re.search(r"Of course! [a-z]", answer) is None, answer
    assert "Of" in seen


def test_a_goodbye_gets_a_goodbye() -> None:
    chat = Conversation()
    chat.say("My name is Mia")
    reply = chat.say("Thanks, bye!").reply_text
    assert "goodbye" in reply.lower()
    assert reply != "You're welcome, Mia!"
