"""The pure pieces of streamed turns: reading a model's answer, passing words on at a door,
checking what a model proposes, and the client's transcript."""

import pytest

from app.bus.jobs import JobEvent, unheard, words_event
from app.channels.streaming import Phrases, StreamedText
from app.llm.reader import StreamReader
from app.persona import cards
from app.persona.facts import grounded
from app.persona.memory import Exchange, SessionMemory, reconcile
from app.turns import Delta, TranscriptLine


def read(pieces: list[str]) -> tuple[list[str], str, dict | None]:
    reader = StreamReader()
    said = [reader.feed(piece) for piece in pieces]
    rest, answer = reader.finish()
    assert "".join(said) + rest == answer.text  # what was spoken is exactly the reply
    return said, answer.text, answer.data


def test_the_words_come_out_as_they_come_and_the_data_after_the_marker_does_not() -> None:
    said, text, data = read(["Hello", " there,", " friend.", "\n<pers", "ona-data>", '{"emotions": {"joy": 0.2}}'])
    assert said[:3] == ["Hello", " there,", " friend."]
    assert text == "Hello there, friend."
    assert data == {"emotions": {"joy": 0.2}}


@pytest.mark.parametrize(
    ("pieces", "text", "data"),
    [
        (["Just ", "plain ", "text."], "Just plain text.", None),
        (["Sure.\n```", "json\n", '{"relationship": 0.5}\n```'], "Sure.", {"relationship": 0.5}),
        (['{"reply": "Hi', ' there", "relationship": 0.1}'], "Hi there", {"relationship": 0.1}),
        (["```json\n", '{"reply": "Hi"}', "\n```"], "Hi", {}),
        (["Use `code` ", "here."], "Use `code` here.", None),
    ],
)
def test_plain_fenced_and_json_only_answers_are_read(pieces: list[str], text: str, data: dict | None) -> None:
    assert read(pieces)[1:] == (text, data)


def test_data_that_is_not_json_leaves_the_words_and_says_why() -> None:
    reader = StreamReader()
    reader.feed("Fine. <persona-data>{not json")
    _, answer = reader.finish()
    assert answer.text == "Fine."
    assert answer.data is None
    assert answer.problem is not None


def test_a_door_takes_each_delta_once_in_order_and_the_final_reply_heals_a_gap() -> None:
    words = StreamedText()
    delta = lambda offset, text: Delta(session_id="s", turn_id="t", offset=offset, text=text)  # noqa: E731
    assert words.take(delta(0, "Hello")) == "Hello"
    assert words.take(delta(0, "Hello")) == ""  # a repeat (the turn run again elsewhere)
    assert words.take(delta(12, "lost")) == ""  # a gap: waits for the final reply
    assert words.take(delta(3, "lo there")) == " there"  # overlapping: only the new part
    assert words.rest("Hello there, friend.") == ", friend."
    assert words.delivered == "Hello there, friend."
    assert StreamedText("Hi!").rest("Something else") == ""  # words said cannot be taken back


def test_phrases_for_a_voice_are_sentences_and_clauses() -> None:
    phrases = Phrases()
    out = [p for piece in ["Well", ", hello", " there.", " How are", " you?", " I"] for p in phrases.add(piece)]
    assert out == ["Well,", "hello there.", "How are you?"]
    assert phrases.held == 2  # " I": the next phrase begun
    assert phrases.flush() == "I"


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("image", {"url": "javascript:alert(1)", "alt": "x"}),
        ("image", {"url": "http://example.org/a.png"}),
        ("externalLink", {"url": "https://example.org", "imageUrl": "data:text/html,hi"}),
        ("video", {"videoId": "<script>"}),
        ("options", {"options": []}),
        ("iframe", {"url": "https://example.org"}),
        ("markdown", "not an object"),
    ],
)
def test_cards_a_model_proposes_are_refused_unless_well_formed_and_https(kind: str, data: object) -> None:
    assert cards.checked(kind, data) is None


def test_a_well_formed_card_is_kept() -> None:
    card = cards.checked("externalLink", {"url": "https://example.org", "title": "Example", "imageUrl": ""})
    assert card is not None
    assert card.data["url"] == "https://example.org"
    options = cards.checked("options", {"options": [{"label": "Yes"}]})
    assert options is not None
    assert options.data == {"options": [{"label": "Yes", "value": "Yes"}]}


def test_a_fact_is_grounded_only_in_the_users_own_words() -> None:
    assert grounded("Ada", "Hi, my name is Ada.")
    assert grounded("New York", "I live in new  York now")
    assert not grounded("Overwritten", "Hi, my name is Ada.")
    assert not grounded("Ad", "my name is Ada")


def test_what_the_client_heard_is_what_the_persona_said() -> None:
    memory = SessionMemory(
        recent=[
            Exchange(turn_id="1", user_text="Tell me a story", reply_text="Once upon a time there was a dragon", at=1)
        ]
    )
    heard = [TranscriptLine(role="user", text="tell me a story"), TranscriptLine(role="assistant", text="Once upon")]
    assert reconcile(memory, heard).recent[0].reply_text == "Once upon"
    assert reconcile(memory, []).recent[0].reply_text == "Once upon a time there was a dragon"


def test_a_late_listener_is_sent_each_word_once() -> None:
    """It got the first `heard` characters from the job's record; progress events overlap them."""
    said = words_event("Hello there", 0)
    status = JobEvent(event="status", status="running", progress=0.1)
    assert unheard(status, 5) == status
    assert unheard(said, 11) is None  # all of it came with the words so far
    overlapping = unheard(said, 6)
    assert overlapping is not None
    assert (overlapping.delta, overlapping.offset) == ("there", 6)
    later = words_event(" friend", 11)
    assert unheard(later, 11) == later
