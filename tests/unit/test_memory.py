"""Facts: extraction, merging, forgetting and relevance-ranked recall."""

import pytest

from app.persona.facts import extract, question_about, question_kinds
from app.persona.memory import (
    FACT_HALF_LIFE_SECONDS,
    Exchange,
    SessionMemory,
    UserMemory,
    learn,
    recall,
    remember,
    topics_in,
)

DAY = 24 * 3600.0


def facts_of(text: str, at: float = 0.0) -> dict[str, str]:
    return {f.key: f.value for f in extract(text, f"t{at}", at)}


def test_extraction_of_what_users_say_about_themselves() -> None:
    assert facts_of("My name is sam") == {"name": "Sam"}
    assert facts_of("call me Al please") == {"name": "Al"}
    assert facts_of("I'm called Mary Ann.") == {"name": "Mary Ann"}
    assert facts_of("Hi, I love jazz and I play the guitar.") == {
        "likes:jazz": "jazz",
        "plays:the guitar": "the guitar",
    }
    assert facts_of("I live in Lisbon") == {"lives": "Lisbon"}
    assert facts_of("my sister is called Maria") == {"person:sister": "Maria"}
    assert facts_of("My dog's name is Rex") == {"pet:dog": "Rex"}
    assert facts_of("my favourite food is sushi") == {"likes:food": "sushi"}
    assert facts_of("I am tired") == {}
    assert facts_of("my name is not important") == {}
    assert facts_of("I hate you") == {}
    assert facts_of("I love it") == {}


def test_questions_about_the_user_are_recognised() -> None:
    assert question_kinds("What's my name?") == ("name",)
    assert question_kinds("what do I love?") == ("likes",)
    assert question_kinds("What do I play") == ("plays",)
    assert question_kinds("where do I live?") == ("lives",)
    assert question_kinds("where am I from?") == ("origin",)
    assert question_kinds("What's my cat's name?") == ("person", "pet")
    assert question_about("What's my cat's name?") == "cat"
    assert question_kinds("what is the weather like?") == ()


def test_learning_merges_the_same_fact_and_counts_mentions() -> None:
    memory = learn(UserMemory(), extract("I live in Porto", "t1", 1.0), 50, 1.0)
    memory = learn(memory, extract("I live in Lisbon now", "t2", 2.0), 50, 2.0)
    memory = learn(memory, extract("I love jazz", "t3", 3.0), 50, 3.0)
    lives = memory.get("lives")
    assert lives is not None
    assert lives.value == "Lisbon"
    assert lives.mentions == 2
    assert len(memory.facts) == 2
    again = learn(memory, extract("I love jazz", "t3", 3.0), 50, 3.0)  # the same turn twice: no double count
    jazz = again.get("likes:jazz")
    assert jazz is not None
    assert jazz.mentions == 1


def test_forgetting_drops_old_minor_facts_first_and_keeps_the_name() -> None:
    now = 400 * DAY
    memory = learn(UserMemory(), extract("My name is Sam", "t0", 0.0), 3, 0.0)
    for i, thing in enumerate(("tea", "chess", "rain", "trains")):
        memory = learn(memory, extract(f"I like {thing}", f"t{i + 1}", (i + 1) * 100 * DAY), 3, now)
    kept = {f.key for f in memory.facts}
    assert len(kept) == 3
    assert "name" in kept  # important facts outlive a year of minor ones
    assert "likes:tea" not in kept  # the oldest minor fact went first
    assert FACT_HALF_LIFE_SECONDS > 0


def test_recall_is_by_relevance_not_at_random() -> None:
    memory = UserMemory()
    for i, text in enumerate(["My name is Sam", "I love jazz", "I play the guitar", "I live in Lisbon", "I like tea"]):
        memory = learn(memory, extract(text, f"t{i}", float(i)), 50, float(i))
    for _ in range(3):  # the same question always finds the same memory first
        assert recall(memory, "what do I play?", question_kinds("what do I play?"), 10.0)[0].value == "the guitar"
    assert recall(memory, "Do you like jazz too?", (), 10.0)[0].key == "likes:jazz"
    assert recall(memory, "tell me about the weather", (), 10.0) == []


def test_session_memory_tracks_open_topics() -> None:
    memory = SessionMemory()
    memory = remember(memory, Exchange(turn_id="1", user_text="My garden is full of roses", reply_text="", at=1), 10)
    memory = remember(
        memory, Exchange(turn_id="2", user_text="The weather ruined the tomatoes", reply_text="", at=2), 10
    )
    assert memory.topics == ["the weather", "the tomatoes", "your garden"]  # the user's words, never stems
    assert memory.turn_count == 2


@pytest.mark.parametrize(
    ("said", "topics"),
    [
        ("I'm so bored.", []),  # a feeling, not a topic (was "bor")
        ("Sometimes I think about ending it all.", []),  # never "end"
        ("I had a rough day at work", ["work"]),
        ("I went to Lisbon with my sister", ["Lisbon", "your sister"]),
        ("I play the guitar in a band", ["the guitar", "a band"]),
        ("You are useless.", []),
        ("What's my name?", []),
    ],
)
def test_topics_are_things_people_named_as_they_said_them(said: str, topics: list[str]) -> None:
    assert topics_in(said) == topics
