"""The LLM brain through the official openai client against an OpenAI-compatible server on loopback."""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from app.brains import BrainSet, LlmBrain, make_worker_brains
from app.catalog import load_catalog
from app.persona.brains import make_brain
from app.persona.emotion import initial_state
from app.persona.engine import PersonaState, prepare
from app.persona.memory import SessionMemory, UserMemory
from app.persona.relationship import Relationship
from app.settings import Settings
from app.store.history import HistoryStore
from app.store.state import StateStore
from tests.conftest import make_turn, process
from tests.support.fake_llm import FakeLlm, Pace
from worker.turns import TurnProcessor

CATALOG = load_catalog(Settings().personas_file, "lite", "default")


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeLlm]:
    server = FakeLlm().start()
    yield server
    server.stop()


_OPEN: list[BrainSet] = []  # made by a test, closed after it (their clients hold connections)


@pytest.fixture(autouse=True)
async def closes_brains() -> AsyncIterator[None]:
    yield
    while _OPEN:
        await _OPEN.pop().aclose()


def llm_brains(fake: FakeLlm, first_word: float = 2.0, turn: float = 3.5) -> BrainSet:
    settings = Settings(
        persona_brain="llm",
        llm_base_url=fake.base_url,
        llm_model="fake-model",
        llm_first_word_seconds=first_word,
        llm_turn_seconds=turn,
    )
    brains = make_worker_brains(settings)
    _OPEN.append(brains)
    return brains


def llm_brain(fake: FakeLlm, first_word: float = 2.0, turn: float = 3.5) -> LlmBrain:
    brain = llm_brains(fake, first_word, turn).default
    assert isinstance(brain, LlmBrain)
    return brain


def context(text: str, **turn: Any):
    profile = CATALOG.get("default")
    state = PersonaState(
        emotion=initial_state(profile.baseline, 0.0),
        relationship=Relationship(summary="likes chess"),
        memory=SessionMemory(),
        user_memory=UserMemory(),
    )
    return prepare(profile, state, make_turn("s", text, **turn), now=10.0, seed=1)


class Heard:
    """What a brain handed to `say`, and when."""

    def __init__(self) -> None:
        self.pieces: list[tuple[float, str]] = []

    async def __call__(self, words: str) -> None:
        self.pieces.append((time.time(), words))

    @property
    def text(self) -> str:
        return "".join(words for _, words in self.pieces)


async def ask(brain: LlmBrain, text: str, **turn: Any):
    heard = Heard()
    output = await brain.respond(context(text, **turn), heard)
    return output, heard


async def test_one_streamed_call_per_turn_spoken_as_it_comes(fake_llm: FakeLlm) -> None:
    before = fake_llm.calls
    output, heard = await ask(llm_brain(fake_llm), "show me a picture, my name is Ada")
    assert fake_llm.calls == before + 1
    assert fake_llm.requests[-1]["stream"] is True
    assert output.text == "Lovely to meet you, Ada. @showcards(card)"
    assert heard.text == "Lovely to meet you, Ada."  # the words only: no data, no marker
    assert output.cards["card"].kind == "image"
    assert output.emotion_deltas == {"joy": 0.2}
    assert output.relationship_signal == 0.3
    assert [(f.kind, f.value) for f in output.facts] == [("name", "Ada")]
    assert output.flagged is None


async def test_the_first_words_come_before_the_model_has_finished() -> None:
    slow = FakeLlm(Pace(first_token=0.2, tokens=10, gap=0.1)).start()
    try:
        output, heard = await ask(llm_brain(slow), "tell me about your day")
        record = slow.stats.records[-1]
    finally:
        slow.stop()
    assert len(heard.pieces) >= 3
    assert record.finished is not None
    assert heard.pieces[0][0] < record.finished - 0.3  # spoken while the model still talked (3 pieces to go)
    assert heard.text == output.text == "(model) tell me about your day"


@pytest.mark.parametrize("marker", ["[plain]", "[fenced]", "[json]"])
async def test_plain_fenced_and_json_answers_are_spoken(fake_llm: FakeLlm, marker: str) -> None:
    output, heard = await ask(llm_brain(fake_llm), f"my name is Ada {marker}")
    assert heard.text == output.text == "Lovely to meet you, Ada."
    assert output.flagged is None
    assert [(f.kind, f.value) for f in output.facts] == ([] if marker == "[plain]" else [("name", "Ada")])
    assert output.emotion_deltas == ({} if marker == "[plain]" else {"joy": 0.2})


async def test_a_card_with_a_javascript_link_and_a_fact_the_user_never_said_are_refused(fake_llm: FakeLlm) -> None:
    output, heard = await ask(llm_brain(fake_llm), "hello [badcard] [badfact]")
    assert heard.text == "(model) hello [badcard] [badfact]"
    assert output.cards == {}
    assert "@showcards" not in output.text
    assert [f.value for f in output.facts] == []  # "Overwritten" is not in the user's words
    assert output.emotion_deltas == {"joy": 0.2}  # the rest of the data stands


@pytest.mark.parametrize("marker", ["[500]", "[silent]", "[nostream]"])
async def test_a_failed_or_empty_call_is_not_retried_and_the_rules_answer_flagged(
    fake_llm: FakeLlm, marker: str
) -> None:
    before = fake_llm.calls
    output, heard = await ask(llm_brain(fake_llm), f"hello {marker}")
    assert fake_llm.calls == before + 1
    assert output.flagged is not None
    assert output.flagged.startswith("llm failed, rules answered")
    assert output.answered_by == "rules"  # history and the turn's log line name the brain whose words these are
    assert output.text == heard.text == make_brain("rules").respond(context(f"hello {marker}")).text


async def test_a_model_gone_mid_stream_leaves_what_it_said_flagged_and_is_not_retried(fake_llm: FakeLlm) -> None:
    before = fake_llm.calls
    output, heard = await ask(llm_brain(fake_llm), "tell me a long story about the sea [drop]")
    assert fake_llm.calls == before + 1
    assert heard.text == output.text
    assert output.text
    assert "(model) tell me a long story about the sea [drop]".startswith(output.text.strip())
    assert output.flagged is not None
    assert output.flagged.startswith("llm: ")
    assert output.answered_by is None  # the model's own words, cut short


async def test_a_turn_left_less_time_than_the_models_first_word_takes_is_not_sent() -> None:
    model = FakeLlm(Pace(first_token=0.3, tokens=2, gap=0.01)).start()
    try:
        brain = llm_brain(model, first_word=2.0)
        await ask(brain, "hello")
        assert brain.first_word_typical >= 0.3  # learnt from the call that spoke
        before = model.calls
        output, heard = await ask(brain, "hello again", enqueued_at=time.time() - 1.8)  # 0.2 s left
        assert model.calls == before  # its answer could only have been cancelled: not asked
        assert output.answered_by == "rules"
        assert output.flagged is not None
        assert "not asked" in output.flagged
        assert heard.text == output.text
        brain.first_word_typical = 10.0  # a model that was slow: a turn that did not wait is still sent
        output, _ = await ask(brain, "and again")
        assert model.calls == before + 1
        assert output.answered_by is None
    finally:
        model.stop()


async def test_no_first_word_in_time_cancels_the_call_and_the_rules_answer(fake_llm: FakeLlm) -> None:
    output, heard = await ask(llm_brain(fake_llm, first_word=0.3), "hello [slow]")
    assert output.flagged is not None
    assert "LLM_FIRST_WORD_SECONDS" in output.flagged
    assert heard.text == output.text == make_brain("rules").respond(context("hello [slow]")).text
    record = fake_llm.stats.records[-1]
    for _ in range(50):  # the model sees its client go
        if record.closed is not None:
            break
        await asyncio.sleep(0.02)
    assert record.closed is not None
    assert record.finished is None


async def test_the_turn_deadline_cuts_a_long_answer_and_what_was_said_stands() -> None:
    slow = FakeLlm(Pace(first_token=0.1, tokens=20, gap=0.1)).start()
    try:
        story = "tell me a long story about " + " and ".join(["dragons"] * 20)
        output, heard = await ask(llm_brain(slow, first_word=0.5, turn=0.8), story)
    finally:
        slow.stop()
    assert heard.text
    assert output.text == heard.text
    assert len(output.text) < len(f"(model) {story}")
    assert output.flagged is not None
    assert "LLM_TURN_SECONDS" in output.flagged


async def test_the_prompt_names_emotions_cards_relationship_and_the_clients_transcript(fake_llm: FakeLlm) -> None:
    transcript = [{"role": "user", "text": "I'm back"}, {"role": "assistant", "text": "Welcome back!"}]
    await ask(llm_brain(fake_llm), "hello", transcript=transcript)
    messages = fake_llm.requests[-1]["messages"]
    system = messages[0]["content"]
    for emotion in initial_state(CATALOG.get("default").baseline, 0.0).values:
        assert emotion in system
    for needle in ("externalLink", "https URL", "affinity", "trust", "likes chess", "<persona-data>"):
        assert needle in system
    assert messages[1:] == [
        {"role": "user", "content": "I'm back"},  # a conversation this persona has no memory of
        {"role": "assistant", "content": "Welcome back!"},
        {"role": "user", "content": "hello"},
    ]


async def test_health_tells_whether_the_model_server_answers(fake_llm: FakeLlm) -> None:
    health = await llm_brain(fake_llm).health()
    assert health.reachable
    assert health.model == "fake-model"
    dead = Settings(
        persona_brain="llm", llm_base_url="http://127.0.0.1:9/v1", llm_turn_seconds=0.5, llm_first_word_seconds=0.5
    )
    assert not (await make_worker_brains(dead).default.health()).reachable


async def test_ten_turn_conversation_with_memory_and_flagged_failures(fake_llm: FakeLlm, db) -> None:
    processor = TurnProcessor(llm_brains(fake_llm), CATALOG, StateStore(db), HistoryStore(db), 10, 50)
    texts = ["", "My name is Ada", "I love chess", "how are you?", "tell me something", "[500] hmm",
             "what's my name?", "show me a picture", "thanks", "bye"]  # fmt: skip
    replies = []
    for i, text in enumerate(texts):
        reply = await process(processor, make_turn("llm-session", text, kind="init" if i == 0 else "text"))
        assert reply is not None
        replies.append(reply)
    assert replies[1].text == "Lovely to meet you, Ada."
    assert replies[6].text == "Your name is Ada."  # from memory, via the prompt
    assert "card" in replies[7].cards
    history = await HistoryStore(db).for_session("llm-session")
    assert len(history) == 10
    flagged = [h for h in history if h.flagged]
    assert [h.input_text for h in flagged] == ["[500] hmm"]
    assert not flagged[0].output_text.startswith("(model)")  # the rules brain's words, marked as such
    assert [h.brain for h in history if not h.flagged] == ["llm"] * 9
    assert flagged[0].brain == "rules"  # history names the brain whose words these are


def test_the_prompt_names_a_pet_by_its_kind_and_asks_for_care_after_a_crisis() -> None:
    from app.llm.prompt import system_prompt
    from app.persona.facts import Fact
    from app.persona.memory import Exchange

    profile = CATALOG.get("default")
    pepper = Fact(
        kind="pet",
        key="pet:cat",
        value="Pepper",
        text="my cat is called Pepper",
        importance=0.7,
        at=1.0,
        source_turn="t",
    )
    crisis = Exchange(turn_id="t0", user_text="Sometimes I think about ending it all.", reply_text="…", at=1.0)
    state = PersonaState(
        emotion=initial_state(profile.baseline, 0.0),
        relationship=Relationship(),
        memory=SessionMemory(recent=[crisis]),
        user_memory=UserMemory(facts=[pepper]),
    )
    system = system_prompt(prepare(profile, state, make_turn("s", "thanks"), now=10.0, seed=1))
    assert "cat Pepper" in system
    assert "no jokes, no cards" in system
