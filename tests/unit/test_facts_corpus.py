"""The fact extractor against a corpus of everyday phrasings (tests/data/facts_corpus.json)."""

import json
from pathlib import Path

import pytest

from app.channels.skills import memory
from app.persona.engine import prepare
from app.persona.facts import extract
from tests.conftest import make_turn
from tests.unit.test_rules_brain import Conversation

CORPUS = json.loads((Path(__file__).parents[1] / "data" / "facts_corpus.json").read_text())["cases"]


def test_the_corpus_is_broad() -> None:
    assert len(CORPUS) >= 60
    kinds = {key.split(":")[0] for case in CORPUS for key in case["facts"]}
    assert {"name", "person", "pet", "work", "lives", "origin", "likes", "dislikes"} <= kinds


@pytest.mark.parametrize("case", CORPUS, ids=[case["say"] for case in CORPUS])
def test_the_extractor_reads_what_was_said(case: dict[str, object]) -> None:
    said = extract(str(case["say"]), "t1", 0.0, str(case.get("before", "")))
    assert {fact.key: fact.value for fact in said} == case["facts"]


def test_facts_are_said_back_as_the_kind_asked_in_good_grammar() -> None:
    chat = Conversation()
    chat.say("", kind="init")
    for said in [
        "I'm Erin",
        "I work as a veterinary nurse.",
        "My sister is called Lena and she's visiting next week.",
        "I have a dog named Biscuit",
        "I also have a cat called Pepper",
        "I live in Wellington now.",
    ]:
        chat.say(said)
    work = chat.say("Where do I work?").reply_text
    assert "ou work as a veterinary nurse" in work
    assert "told me you told me" not in work
    cat = chat.say("What's my cat's name?").reply_text
    assert "our cat is called Pepper" in cat
    assert "Lena" not in cat
    assert "Biscuit" not in cat
    dog = chat.say("Whats my dogs name?").reply_text  # typed as people type
    assert "our dog is called Biscuit" in dog
    assert "Pepper" not in dog
    assert "Erin" in chat.say("What's my name?").reply_text
    assert "ou live in Wellington." in chat.say("Where do I live?").reply_text
    assert "our sister is called Lena" in chat.say("Who is my sister?").reply_text
    assert "your hamster's name yet" in chat.say("What's my hamster's name?").reply_text  # not told: says so
    lives = chat.state.user_memory.get("lives")  # what the Skills platform is sent
    assert lives is not None
    assert lives.value == "Wellington"


def test_the_skills_platforms_public_memory_is_sent_the_city_alone() -> None:
    result = Conversation().say("I live in Wellington now.")
    assert result.profile == {"lives": "Wellington"}
    [location] = memory.write_back([], result.profile)
    assert (location.name, location.scope, location.value["city"]) == ("userLocation", "PUBLIC", "Wellington")


def test_every_brain_is_grounded_in_the_fact_of_the_kind_asked() -> None:
    chat = Conversation()
    chat.say("", kind="init")
    for said in ["My sister is called Lena", "I have a dog named Biscuit", "I also have a cat called Pepper"]:
        chat.say(said)
    turn = make_turn("s", "What's my cat's name?")
    ctx = prepare(chat.profile, chat.state, turn, chat.now + 5, seed=1)  # what the LLM's prompt is built from
    assert [(f.key, f.value) for f in ctx.recalled] == [("pet:cat", "Pepper")]
    hamster = prepare(chat.profile, chat.state, make_turn("s", "What's my hamster's name?"), chat.now + 5, seed=1)
    assert hamster.recalled == []  # never told: no other pet stands in
    assert "cat Pepper" in chat.state.relationship.summary
    assert "sister Lena" in chat.state.relationship.summary
