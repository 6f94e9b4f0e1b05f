"""The LLM brain through the official openai client against an OpenAI-compatible server on loopback."""

from collections.abc import Iterator

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
from tests.support.fake_llm import FakeLlm
from worker.turns import TurnProcessor

CATALOG = load_catalog(Settings().personas_file, "lite", "default")


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeLlm]:
    server = FakeLlm().start()
    yield server
    server.stop()


def llm_brains(fake: FakeLlm, timeout: float = 2.0) -> BrainSet:
    settings = Settings(
        persona_brain="llm", llm_base_url=fake.base_url, llm_model="fake-model", llm_timeout_seconds=timeout
    )
    return make_worker_brains(settings)


def llm_brain(fake: FakeLlm, timeout: float = 2.0) -> LlmBrain:
    brain = llm_brains(fake, timeout).default
    assert isinstance(brain, LlmBrain)
    return brain


def context(text: str):  # type: ignore[no-untyped-def]
    profile = CATALOG.get("default")
    state = PersonaState(
        emotion=initial_state(profile.baseline, 0.0),
        relationship=Relationship(),
        memory=SessionMemory(),
        user_memory=UserMemory(),
    )
    return prepare(profile, state, make_turn("s", text), now=10.0, seed=1)


async def test_one_structured_call_per_turn(fake_llm: FakeLlm) -> None:
    before = fake_llm.calls
    output = await llm_brain(fake_llm).respond(context("show me a picture, my name is Ada"))
    assert fake_llm.calls == before + 1
    assert output.text.startswith("Lovely to meet you, Ada.")
    assert output.text.endswith("@showcards(card)")
    assert output.cards["card"].kind == "image"
    assert output.emotion_deltas == {"joy": 0.2}
    assert output.relationship_signal == 0.3
    assert [(f.kind, f.value) for f in output.facts] == [("name", "Ada")]
    assert output.flagged is None
    request = fake_llm.requests[-1]
    assert request["response_format"] == {"type": "json_object"}
    assert request["model"] == "fake-model"


@pytest.mark.parametrize("marker", ["[garbage]", "[500]"])
async def test_bad_output_is_retried_once_then_rules_answer_flagged(fake_llm: FakeLlm, marker: str) -> None:
    before = fake_llm.calls
    output = await llm_brain(fake_llm).respond(context(f"hello {marker}"))
    assert fake_llm.calls == before + 2
    assert output.flagged is not None
    assert output.flagged.startswith("llm failed, rules answered")
    assert output.text == make_brain("rules").respond(context(f"hello {marker}")).text


async def test_a_timeout_falls_back_too(fake_llm: FakeLlm) -> None:
    output = await llm_brain(fake_llm, timeout=0.3).respond(context("hello [slow]"))
    assert output.flagged is not None
    assert "Timeout" in output.flagged


async def test_a_single_retry_recovers(fake_llm: FakeLlm) -> None:
    before = fake_llm.calls
    output = await llm_brain(fake_llm).respond(context("hello [flaky]"))
    assert fake_llm.calls == before + 2
    assert output.flagged is None
    assert output.text == "(model) hello [flaky]"


async def test_health_tells_whether_the_model_server_answers(fake_llm: FakeLlm) -> None:
    health = await llm_brain(fake_llm).health()
    assert health.reachable
    assert health.model == "fake-model"
    dead = Settings(persona_brain="llm", llm_base_url="http://127.0.0.1:9/v1", llm_timeout_seconds=0.5)
    assert not (await make_worker_brains(dead).default.health()).reachable


async def test_ten_turn_conversation_with_memory_and_flagged_failures(fake_llm: FakeLlm, db) -> None:  # type: ignore[no-untyped-def]
    processor = TurnProcessor(llm_brains(fake_llm), CATALOG, StateStore(db), HistoryStore(db), 10, 50)
    texts = ["", "My name is Ada", "I love chess", "how are you?", "tell me something", "[garbage] hmm",
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
    assert [h.input_text for h in flagged] == ["[garbage] hmm"]
    assert not flagged[0].output_text.startswith("(model)")  # the rules brain's words, marked as such
