"""Skills memory semantics, as the SDK defines them."""

from app.channels.skills import memory
from app.channels.skills.models import ExecuteResponse, Intent, Memory, dump


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
    assert memory.user_of(entries, "sess") == ("u-42", {"name": "Sam", "lives": "Lisbon"})
    assert memory.user_of([], "sess") == ("skills-session:sess", {})


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
