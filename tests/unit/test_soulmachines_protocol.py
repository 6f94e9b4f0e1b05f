"""Soul Machines frame parsing and rendering (pure)."""

import pytest
from pydantic import ValidationError

from app.auth.identity import issue_identity_token
from app.channels.soulmachines import protocol
from app.turns import Card, Reply


def test_user_info_is_parsed_from_json_strings_and_objects() -> None:
    assert protocol.parse_user_info('{"id": "abc"}') == {"id": "abc"}
    assert protocol.parse_user_info({"userId": 7}) == {"userId": 7}
    assert protocol.parse_user_info("") == {}
    assert protocol.parse_user_info("not json") == {}
    assert protocol.parse_user_info("[1, 2]") == {}
    assert protocol.parse_user_info(None) == {}


def test_user_id_comes_from_user_info_else_the_session() -> None:
    secret = "s" * 40
    assert protocol.user_id_for({"id": "abc"}, "s1", secret) == "sm:abc"  # a scene's claim, never an account
    assert protocol.user_id_for({"userId": 7}, "s1", secret) == "sm:7"
    assert protocol.user_id_for({"id": "  "}, "s1", secret) == "sm-session:s1"
    assert protocol.user_id_for({"id": True}, "s1", secret) == "sm-session:s1"
    assert protocol.user_id_for({"id": "a\nforged log line"}, "s1", secret) == "sm-session:s1"
    assert protocol.user_id_for({}, "s1", secret) == "sm-session:s1"
    proof = issue_identity_token("acct-9", secret, 60)
    assert protocol.user_id_for({"id": "abc", "identityToken": proof}, "s1", secret) == "acct-9"
    assert protocol.user_id_for({"identityToken": issue_identity_token("acct-9", "t" * 40, 60)}, "s1", secret) == (
        "sm-session:s1"
    )
    assert protocol.user_id_for({"identityToken": issue_identity_token("acct-9", secret, -1)}, "s1", secret) == (
        "sm-session:s1"
    )


def test_conversation_request_accepts_string_or_int_persona_and_marks_init() -> None:
    request = protocol.ConversationRequest.model_validate(
        {"personaId": 1, "input": {"text": ""}, "optionalArgs": {"kind": "init"}, "variables": {"Turn_Id": "t-1"}}
    )
    assert request.kind == "init"
    assert request.client_turn_id == "t-1"
    request = protocol.ConversationRequest.model_validate({"personaId": "1", "input": {"text": "hi"}})
    assert request.kind == "text"
    assert request.client_turn_id is None
    with pytest.raises(ValidationError):
        protocol.ConversationRequest.model_validate({"input": {"text": 5}})


def test_conversation_response_has_the_documented_shape() -> None:
    reply = Reply(
        session_id="s",
        turn_id="t",
        persona_id="default",
        input_text="show card",
        text="Here is a cat @showcards(cat)",
        cards={"cat": Card(kind="image", data={"url": "u", "alt": "a"})},
    )
    frame = protocol.reply_frame("1", reply)
    assert frame == {
        "category": "scene",
        "kind": "request",
        "name": "conversationResponse",
        "transaction": None,
        "body": {
            "personaId": "1",
            "input": {"text": "show card"},
            "output": {"text": "Here is a cat @showcards(cat)"},
            "variables": {"public-cat": {"component": "image", "type": "image", "data": {"url": "u", "alt": "a"}}},
            "fallback": False,
        },
    }
    fallback = protocol.fallback_frame(1, "hello", "")
    assert fallback["body"]["fallback"] is True
    assert fallback["body"]["output"] == {"text": ""}
    assert fallback["body"]["personaId"] == 1


@pytest.mark.parametrize("session_id", ["rest:u-0123:default", "skills:abc", "hume:chat-1"])
def test_a_scene_cannot_take_another_doors_session(session_id: str) -> None:
    """Found in review: a state event naming a REST session joined its memory (invariant 8)."""
    with pytest.raises(ValidationError):
        protocol.SceneSession.model_validate({"sessionId": session_id})
    assert protocol.SceneSession.model_validate({"sessionId": "sm-4f2a:rest:x"}).sessionId == "sm-4f2a:rest:x"
