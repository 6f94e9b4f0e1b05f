"""Reading people: insults and sneers read as such, varied phrasing, words said back as said."""

import itertools
import re

import pytest

from app.persona.appraisal import appraise_words
from app.persona.brains.rules import (
    DE_ESCALATIONS,
    ENJOYED,
    GENTLE_CONTINUATIONS,
    GOOD_NEWS,
    JOKES,
    LOW,
    PRAISED,
    SAD_NEWS,
)
from app.persona.language import formal, is_goodbye
from app.persona.memory import topics_in
from app.persona.relationship import Relationship
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
    "You're a joke",
    "Great, just great",
    "Are you even listening?",
    "This is a waste of time",
    "Stop talking",
    "That joke was terrible",
    "Your answers are useless",
    "ur useless",
    "u suck",
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


def test_an_insult_with_the_word_joke_gets_no_joke() -> None:
    chat = Conversation()
    chat.say("", kind="init")
    for text in ("You're a joke", "That joke was terrible"):
        reply = chat.say(text).reply_text
        assert not any(joke in reply for joke in JOKES), reply


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
    # "my ..." is said back as the whole clause, not "Tell me more about your boss yelled at you."
    assert Conversation().say("My boss yelled at me").reply_text.startswith("Your boss yelled at you?")
    hike = Conversation().say("I went hiking with my brother yesterday").reply_text
    assert hike.startswith("You went hiking with your brother yesterday?"), hike
    assert Conversation().say("My garden is full of tomatoes").reply_text.startswith("Your garden is full of tomatoes?")


def test_formal_personas_expand_contractions_in_good_grammar() -> None:
    assert formal("Would you like to tell me what's been happening?", 0.9) == (
        "Would you like to tell me what has been happening?"
    )
    assert formal("What's on your mind? I've been thinking. Let's talk.", 0.9) == (
        "What is on your mind? I have been thinking. Let us talk."
    )
    assert formal("What's on your mind?", 0.2) == "What's on your mind?"
    assert formal("You haven't told me that yet. Here's why I didn't.", 0.9) == (
        "You have not told me that yet. Here is why I did not."
    )


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


def test_the_users_own_name_and_requests_are_not_topics() -> None:
    for text in ("Call me Bob", "I am Dan", "Hi, I'm Mia.", "My name is Jo", "actually, call me Sam"):
        assert topics_in(text) == [], text
    for text in ("Tell me about yourself", "Show me a picture", "My favourite food is sushi", "I hate my life"):
        assert topics_in(text) == [], text
    assert topics_in("I have a dog named Rex") == ["your dog", "Rex"]  # said back as theirs
    assert topics_in("Well, I've been to Rome") == ["Rome"]
    chat = Conversation()
    chat.say("", kind="init")
    replies = " ".join(chat.say(t).reply_text for t in ["Call me Bob", "Tell me about yourself", "hmm", "ok", "right"])
    assert "mentioned Bob" not in replies
    assert "yourself" not in replies.replace("about yourself", "")


@pytest.mark.parametrize("text", ["Can you help me?", "I need help", "Could you please help me?", "Help me"])
def test_can_you_help_me_is_answered_as_a_request_for_help_not_with_the_menu(text: str) -> None:
    chat = Conversation()
    chat.say("", kind="init")
    result = chat.say(text)
    assert not result.cards
    assert "?" in result.reply_text  # it asks what is going on


def test_after_hard_news_even_help_gets_no_menu_and_the_menu_itself_varies() -> None:
    chat = Conversation()
    chat.say("", kind="init")
    chat.say("I'm having a really bad day")
    assert not chat.say("help").cards
    menus = [chat.say(text) for text in ("what can you do?", "options", "menu")]
    assert all(result.cards for result in menus)  # the menu is still there when asked for
    assert len({result.reply_text for result in menus}) == 3


LOW_SENTENCES = [
    "Nobody cares about me",
    "No one understands me",
    "I'm worthless",
    "I hate myself",
    "Im feeling really down",
    "I feel so alone",
    "I'm such a failure",
    "I'm so stupid",
    "I'm such an idiot",
]


@pytest.mark.parametrize("text", LOW_SENTENCES)
def test_speaking_ill_of_oneself_is_met_with_care_not_gladness(text: str) -> None:
    appraisal = appraise_words(text)
    assert appraisal.low
    assert appraisal.valence < 0
    assert appraisal.deltas.get("joy", 0.0) <= 0
    chat = Conversation()
    chat.say("", kind="init")
    result = chat.say(text)
    assert result.reply_text in LOW
    assert result.relationship_signal > 0  # confiding is trust, not offence


HARD_NEWS = ["I lost my job today", "My girlfriend left me", "I can't sleep", "I got fired", "I miss her so much",
             "I don't know what to do", "My mum is in hospital", "My dad has cancer"]  # fmt: skip


@pytest.mark.parametrize("text", HARD_NEWS)
def test_hard_news_is_met_gently_and_what_follows_is_not_interesting(text: str) -> None:
    chat = Conversation()
    chat.say("", kind="init")
    assert chat.say(text).reply_text in SAD_NEWS
    after = chat.say("hmm").reply_text
    assert after in GENTLE_CONTINUATIONS
    assert chat.say("ok").reply_text not in GOOD_NEWS


def test_a_sad_conversation_does_not_sour_the_relationship() -> None:
    chat = Conversation()
    chat.say("", kind="init")
    for text in LOW_SENTENCES + HARD_NEWS + ["Everything is going wrong", "It hurts", "I feel awful"]:
        chat.say(text)
    assert chat.state.relationship.affinity > 0
    assert chat.state.relationship.label not in ("wary", "hostile")


def test_a_bare_fine_answers_how_are_you_and_nothing_else() -> None:
    chat = Conversation()
    chat.say("", kind="init")
    chat.say("Hi")  # "Hi! How are you today?"
    assert "to hear" in chat.say("fine").reply_text
    chat.say("We saw a deer")
    assert "to hear" not in chat.say("ok").reply_text


def test_a_correction_of_the_name_is_taken_as_one() -> None:
    chat = Conversation()
    chat.say("", kind="init")
    chat.say("I am Dan")
    reply = chat.say("actually, call me Sam").reply_text
    assert "Sam" in reply
    assert "Nice to meet you" not in reply
    assert chat.state.user_memory.name == "Sam"


def test_a_goodbye_gets_a_goodbye() -> None:
    chat = Conversation()
    chat.say("My name is Mia")
    reply = chat.say("Thanks, bye!").reply_text
    assert "goodbye" in reply.lower()
    assert reply != "You're welcome, Mia!"


GOODBYES = ["See you later!", "I have to go now", "Good night!", "Take care", "talk soon", "catch you later",
            "I should sleep", "ok see you tomorrow", "Im off to bed", "ttyl", "Thanks, see ya"]  # fmt: skip
NOT_GOODBYES = ["I have to go to work tomorrow", "I can't see you", "I'd love to see you", "I take care of my mum",
                "I had a good night", "Can I see you again?", "I need to take care of something"]  # fmt: skip


@pytest.mark.parametrize("text", GOODBYES)
def test_goodbyes_said_many_ways_get_a_goodbye(text: str) -> None:
    assert re.search(r"goodbye|good night", Conversation().say(text).reply_text.lower())


@pytest.mark.parametrize("text", NOT_GOODBYES)
def test_words_of_leaving_mid_sentence_are_no_goodbye(text: str) -> None:
    assert not is_goodbye(text)
    assert "goodbye" not in Conversation().say(text).reply_text.lower()


def test_a_topic_is_returned_to_once_not_every_turn() -> None:
    chat = Conversation()
    chat.say("", kind="init")
    chat.say("The weekend should be nice though")
    replies = [chat.say(text).reply_text for text in ("I have to go to work tomorrow", "ok", "hmm", "right", "yes")]
    for i in range(len(replies)):
        window = replies[max(0, i - 3) : i + 1]
        assert sum("the weekend" in reply for reply in window) <= 1, window


def test_thanks_and_insults_after_insults_are_not_met_with_the_same_words() -> None:
    chat = Conversation("spark")
    chat.say("", kind="init")
    thanks = [chat.say(text).reply_text for text in ("Thank you", "Thanks for listening", "Thank you so much")]
    assert len(set(thanks)) == 3
    insults = [chat.say(text).reply_text for text in HOSTILE[:8]]
    assert len(set(insults)) == 8


def test_small_talk_a_person_would_expect() -> None:
    chat = Conversation()
    chat.say("", kind="init")
    chat.say("How are you?")
    assert "to hear" in chat.say("good thanks").reply_text  # an answer, not thanks for something
    taste = chat.say("Do you like music?")
    assert not taste.fallback
    assert "?" in taste.reply_text
    assert "about him" in chat.say("My brother is called Arjun").reply_text
    assert "about her" in chat.say("My sister is called Lena").reply_text
    assert Conversation().say("Good night!").reply_text.startswith("Good night")
    assert topics_in("I work as a nurse") == []  # what they are, not a topic to return to
    assert topics_in("I'm a teacher at the school") == ["the school"]


@pytest.mark.parametrize("text", ["I got the job!", "I'm getting married!", "I passed my exam", "We won!"])
def test_good_news_is_celebrated(text: str) -> None:
    reply = Conversation().say(text).reply_text
    assert "Congratulations" in reply
    assert "How long have you been" not in reply


def test_love_for_the_persona_is_taken_as_kindness_and_plans_are_asked_about() -> None:
    assert Conversation().say("I love talking to you").reply_text in PRAISED
    assert Conversation().say("I'm going to Paris next week").reply_text == (
        "How do you feel about going to Paris next week?"
    )


def test_gentleness_lasts_past_a_thank_you_until_they_say_they_are_better() -> None:
    chat = Conversation("sage")
    chat.say("", kind="init")
    chat.say("My girlfriend left me")
    chat.say("Thanks for listening")
    assert chat.say("I guess").reply_text in [formal(line, 0.9) for line in GENTLE_CONTINUATIONS]
    chat.say("I'm not doing great")
    assert chat.say("hmm").reply_text in [formal(line, 0.9) for line in GENTLE_CONTINUATIONS]
    chat.say("I'm feeling a bit better now")
    assert chat.say("hmm").reply_text not in [formal(line, 0.9) for line in GENTLE_CONTINUATIONS]


def test_a_line_said_after_a_name_counts_as_said() -> None:
    friends = Relationship(affinity=0.6, familiarity=0.6, interactions=20)  # friends are addressed by name
    for start in range(12):
        chat = Conversation()
        chat.state = chat.state.model_copy(update={"relationship": friends})
        chat.count = start
        chat.say("My name is Jo")
        texts = ("I just cry all the time", "I dont know what to do", "It hurts", "I miss her", "I can't sleep")
        bare = [chat.say(text).reply_text.removeprefix("Jo, ").lower() for text in texts]
        assert all(a not in bare[max(0, i - 2) : i] for i, a in enumerate(bare)), bare


def test_laughter_is_taken_as_enjoying_a_joke_only_after_one() -> None:
    chat = Conversation()
    chat.say("", kind="init")
    chat.say("Tell me a joke")
    assert chat.say("lol").reply_text in ENJOYED  # too quiet for VADER, but it follows a joke
    chat.say("You're a joke")
    assert chat.say("lol ok").reply_text not in ENJOYED  # a sneer, not a laugh at a joke


def test_answers_from_memory_do_not_open_the_same_way_twice_running() -> None:
    for start in range(8):
        chat = Conversation()
        chat.count = start
        for said in ("My name is Sam", "I live in Lisbon", "I play the drums"):
            chat.say(said)
        answers = [chat.say(q).reply_text for q in ("What's my name?", "Where do I live?", "What do I play?")]
        openers = [answer.split()[0] for answer in answers]
        assert all(a != b for a, b in itertools.pairwise(openers)), answers
