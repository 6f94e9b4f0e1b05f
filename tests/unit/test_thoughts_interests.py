"""Thoughts draw on what recent conversations were about, in words that say nothing about anyone."""

from app.catalog import load_catalog
from app.persona.emotion import initial_state
from app.persona.thoughts import Activity, interests_in, reflect
from app.settings import Settings

PROFILE = load_catalog(Settings().personas_file, "lite", "default").get("default")


def test_the_general_interests_most_named_lately_and_nothing_else() -> None:
    said = [
        "I play chess with my sister Lena every Sunday",
        "Do you like music? I love music.",
        "We went hiking near Bergen, chess after",
        "My husband has cancer",
    ]
    assert interests_in(said) == ["chess", "hiking"]  # counted once per turn; names, places, health never


def test_a_thought_names_them_and_no_user_fact() -> None:
    said = ["I play chess with my sister Lena", "chess is my thing", "music helps me relax"]
    activity = Activity(live_sessions=1, recent_sessions=2, interests=interests_in(said))
    thought = reflect(PROFILE, initial_state(PROFILE.baseline, 0.0), activity, now=100.0, seed=1)
    assert thought.text == "Chess and music came up in conversation lately. I'd like to hear more about that."
    assert "Lena" not in thought.text
    assert "sister" not in thought.nudge
