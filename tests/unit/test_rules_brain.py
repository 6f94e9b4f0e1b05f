"""Conversations with the rules brain through the pure engine, state carried between turns."""

import re

from app.catalog import load_catalog
from app.persona.brains import make_brain
from app.persona.emotion import apply_deltas, initial_state
from app.persona.engine import PersonaState, StepResult, step
from app.persona.memory import SessionMemory, UserMemory, learn, remember
from app.persona.relationship import Relationship, record_interaction
from app.settings import Settings
from app.turns import Turn

CATALOG = load_catalog(Settings().personas_file, "lite", "default")


class Conversation:
    """A session with the persona, applying each step's changes as the worker does."""

    def __init__(self, persona: str = "default", state: PersonaState | None = None, brain: str = "rules") -> None:
        self.profile = CATALOG.get(persona)
        self.brain = make_brain(brain)
        self.now = 1_000_000.0
        self.count = 0
        self.state = state or PersonaState(
            emotion=initial_state(self.profile.baseline, self.now),
            relationship=Relationship(),
            memory=SessionMemory(),
            user_memory=UserMemory(),
        )

    def say(self, text: str, kind: str = "text") -> StepResult:
        self.count += 1
        self.now += 20
        turn = Turn(
            turn_id=f"{int(self.now * 1e9):016x}{self.count:08x}",
            session_id="s",
            user_id="u",
            persona_id=self.profile.persona_id,
            channel="test",
            kind=kind,
            text=text,
            reply_to="api",
        )
        result = step(self.profile, self.state, turn, self.brain, self.now, seed=self.count)
        p = self.profile
        self.state = PersonaState(
            emotion=apply_deltas(self.state.emotion, result.mood_deltas, p.baseline, p.half_life_seconds, self.now),
            relationship=record_interaction(
                self.state.relationship, result.relationship_signal, self.now, result.known, result.emotion_deltas
            ),
            memory=remember(self.state.memory, result.exchange, 10),
            user_memory=learn(self.state.user_memory, result.facts, 50, self.now),
        )
        return result

    def new_session(self) -> "Conversation":
        fresh = Conversation(self.profile.persona_id, self.state.model_copy(update={"memory": SessionMemory()}))
        fresh.now, fresh.count = self.now + 3600, self.count
        return fresh


def test_a_pleasant_ten_turn_conversation_that_remembers() -> None:
    chat = Conversation()
    replies = [
        chat.say("", kind="init"),
        chat.say("My name is Sam"),
        chat.say("I love jazz"),
        chat.say("I play the guitar"),
        chat.say("I live in Lisbon"),
        chat.say("What's my name?"),
        chat.say("What do I love?"),
        chat.say("what do I play?"),
        chat.say("Where do I live?"),
        chat.say("Tell me a joke"),
    ]
    texts = [r.reply_text for r in replies]
    assert "What should I call you?" in texts[0]
    assert "Sam" in texts[1]
    assert "jazz" in texts[2].lower()
    assert "guitar" in texts[3]
    assert "Lisbon" in texts[4]
    assert "Sam" in texts[5]
    assert "jazz" in texts[6]
    assert "guitar" in texts[7]
    assert "Lisbon" in texts[8]
    assert not any(r.fallback for r in replies)
    assert len(set(texts)) == len(texts)  # no parroting
    assert not any(t.startswith("Echo") for t in texts)
    assert chat.state.relationship.interactions == 10
    assert chat.state.relationship.affinity > 0
    assert "Sam" in chat.state.relationship.summary


def test_memory_survives_into_a_new_session_and_friends_are_greeted_by_name() -> None:
    chat = Conversation()
    chat.say("", kind="init")
    chat.say("My name is Sam")
    for _ in range(20):
        chat.say("You are wonderful, thank you!")
    later = chat.new_session()
    greeting = later.say("", kind="init").reply_text
    assert later.state.relationship.label in ("friend", "close friend")
    assert "Sam" in greeting
    assert "Sam" in later.say("do you remember my name?").reply_text


def test_hostile_users_get_a_guarded_persona() -> None:
    chat = Conversation()
    for _ in range(12):
        chat.say("You are stupid and useless, I hate you")
    assert chat.state.relationship.label == "hostile"
    assert chat.state.emotion.values["anger"] > CATALOG.get("default").baseline["anger"]
    assert chat.say("", kind="init").reply_text == "Hello."


def test_cards_where_they_help_and_fallback_when_there_is_no_answer() -> None:
    chat = Conversation()
    menu = chat.say("What can you do?")
    assert menu.cards["options"].kind == "options"
    assert "@showcards(options)" in menu.reply_text
    labels = [o["label"] for o in menu.cards["options"].data["options"]]
    assert chat.say(labels[0]).reply_text  # a click comes back as the label: a joke
    assert chat.say("show card").cards["cat"].kind == "image"
    assert chat.say("tell me about yourself").cards["about"].kind == "markdown"
    unknown = chat.say("Why is the sky blue?")
    assert unknown.fallback


def test_eliza_reflection_and_empathy() -> None:
    chat = Conversation()
    reflected = chat.say("I feel lost in my job").reply_text
    assert "your job" in reflected
    assert re.search(r"\byou\b", reflected, re.I)
    assert "sorry" in chat.say("My cat died yesterday, I'm devastated").reply_text.lower()


def test_persona_style_changes_the_words() -> None:
    formal = Conversation("sage").say("how are you?").reply_text  # Sage: formality 0.8
    casual = Conversation("default").say("how are you?").reply_text  # Ava: formality 0.3
    assert "I am" in formal
    assert "I'm" not in formal
    assert "I'm" in casual


def test_the_same_state_and_turn_give_the_same_reply() -> None:
    assert Conversation().say("I feel happy today").reply_text == Conversation().say("I feel happy today").reply_text


def test_ten_turns_with_the_demo_brain_keep_the_seed_behaviours() -> None:
    chat = Conversation(brain="demo")
    assert chat.say("", kind="init").reply_text == "Hi there!"
    for i in range(6):
        assert chat.say(f"hello {i}").reply_text == f"Echo: hello {i}"
    assert chat.say("why?").fallback
    assert chat.say("show card").cards["cat"].kind == "image"
    assert chat.say("my name is Sam").reply_text == "Echo: my name is Sam"
    assert chat.state.relationship.interactions == 10
    assert chat.state.user_memory.name == "Sam"  # memory is the engine's, whatever the brain
