"""Skills memory semantics, as the SDK defines them."""

from app.auth.identity import issue_identity_token
from app.channels.skills import memory
from app.channels.skills.models import ExecuteResponse, Intent, Memory, dump

SECRET = "s" * 40


def token(user_id: str, secret: str = SECRET) -> str:
    return issue_identity_token(user_id, secret, 60)


def test_keys_scopes_and_later_entries_win() -> None:
    entries = [
        Memory(name="colour", value="red"),
        Memory(name="colour", value="blue", scope="PRIVATE"),
        Memory(name="colour", value="green", scope="PUBLIC"),
        Memory(name="colour", value="teal", session_id="s1"),
        Memory(name="colour", value="navy"),
    ]
    assert memory.get_value(entries, "colour") == "navy"  # later wins; unscoped and PRIVATE read together
    assert memory.get_value(entries, "colour", scope="PUBLIC") == "green"  # PUBLIC ignores the others
    assert memory.get_value(entries, "colour", session_id="s1") == "teal"  # another key
    assert memory.get_value(entries, "missing") is None
    replaced = memory.set_value(entries, "colour", "gold", scope="PUBLIC")
    assert memory.get_value(replaced, "colour", scope="PUBLIC") == "gold"
    assert len([m for m in replaced if m.scope == "PUBLIC"]) == 1


def test_user_identity_and_location_become_the_user_and_what_is_known() -> None:
    entries = [
        Memory(
            name="userIdentity", value={"firstName": "Samuel", "preferredName": "Sam", "id": "u-42"}, scope="PUBLIC"
        ),
        Memory(name="userLocation", value={"city": "Lisbon", "country": "PT"}, scope="PUBLIC"),
        Memory(name="userIdentity", value={"id": "private-ignored"}, scope="PRIVATE"),
    ]
    assert memory.user_of(entries, "sess", SECRET) == ("skills:u-42", {"name": "Sam", "lives": "Lisbon"})
    assert memory.user_of([], "sess", SECRET) == ("skills-session:sess", {})
    linked = [Memory(name="userIdentity", value={"id": "u-42", "identityToken": token("acct-1")}, scope="PUBLIC")]
    assert memory.user_of(linked, "sess", SECRET)[0] == "acct-1"  # proven: the REST account itself
    forged = [Memory(name="userIdentity", value={"id": "u-42", "identityToken": token("acct-1", "x" * 40)})]
    forged[0].scope = "PUBLIC"
    assert memory.user_of(forged, "sess", SECRET)[0] == "skills:u-42"


def test_what_the_persona_learned_is_written_back_publicly() -> None:
    out = memory.write_back([], {"name": "Kim", "lives": "Porto"})
    assert {m.name: (m.scope, m.value) for m in out} == {
        "userIdentity": ("PUBLIC", {"firstName": None, "lastName": None, "id": None, "preferredName": "Kim"}),
        "userLocation": ("PUBLIC", {"country": None, "city": "Porto"}),
    }
    same = [Memory(name="userIdentity", value={"preferredName": "Kim"}, scope="PUBLIC")]
    assert memory.write_back(same, {"name": "Kim"}) == []  # nothing new to say


def test_responses_omit_unset_fields() -> None:
    response = ExecuteResponse(intent=Intent(name="NO_MATCH"), endConversation=False)
    assert dump(response) == {"intent": {"name": "NO_MATCH"}, "endConversation": False}
