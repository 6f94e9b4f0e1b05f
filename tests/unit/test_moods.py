"""Moods that make sense: opposites offset, one user moves the shared mood a little, and each
relationship has its own feeling towards its user."""

from app.api.v1.agents import mood_summary
from app.brains import make_worker_brains
from app.persona.emotion import apply_deltas, dominant, felt, initial_state
from app.persona.engine import SHARED_MOOD_SHARE
from app.persona.memory import Exchange, SessionMemory, remember
from app.persona.relationship import FEELING_HALF_LIFE_SECONDS, Relationship, faded, felt_after, record_interaction
from app.persona.thoughts import CARING_NUDGES, Activity, nudge_for, reflect
from app.settings import Settings
from app.store.history import HistoryStore
from app.store.state import StateStore, user_key
from tests.conftest import make_turn, process
from tests.unit.test_rules_brain import CATALOG, Conversation
from worker.turns import TurnProcessor

PROFILE = CATALOG.get("default")
FRIENDLY = ["My name is Mia", "I love painting", "You are wonderful", "That was lovely, thank you", "I'm happy today"]
HOSTILE = ["You are useless.", "Nobody likes you.", "Shut up.", "You're so stupid.", "I hate you"]
SAD = ["My dog died yesterday", "I feel awful", "Everything is going wrong", "I'm so lonely", "I failed my exam"]


def test_a_rise_in_one_feeling_lowers_its_opposite() -> None:
    sad = apply_deltas(initial_state(PROFILE.baseline, 0.0), {"sadness": 0.8}, PROFILE.baseline, 600, 0.0)
    cheered = apply_deltas(sad, {"joy": 0.6}, PROFILE.baseline, 600, 0.0)
    assert cheered.values["sadness"] < sad.values["sadness"]
    assert cheered.values["joy"] > sad.values["joy"]
    warm = apply_deltas(initial_state(PROFILE.baseline, 0.0), {"love": 0.5}, PROFILE.baseline, 600, 0.0)
    assert warm.values["anger"] < PROFILE.baseline["anger"]


def test_three_users_do_not_saturate_opposite_feelings_of_the_shared_mood() -> None:
    chats = [Conversation(), Conversation(), Conversation()]
    mood = chats[0].state.emotion
    for chat in chats:
        chat.say("", kind="init")
    for turn in range(25):
        for chat, lines in zip(chats, (FRIENDLY, HOSTILE, SAD), strict=True):
            chat.state = chat.state.model_copy(update={"emotion": mood})  # one mood, shared by every user
            chat.say(lines[turn % len(lines)])
            mood = chat.state.emotion
    values = mood.values  # the issue saw joy 0.94, sadness 0.91 and anger 0.65 at once
    assert not (values["joy"] > 0.6 and values["sadness"] > 0.6)
    assert max(values.values()) < 0.6
    assert values["anger"] < 0.4
    assert not mood_summary(mood, PROFILE.baseline).startswith("strongly joy")
    friend, foe = (chat.state.relationship.feelings for chat in chats[:2])
    assert dominant(felt(mood, friend), PROFILE.baseline) in ("joy", "love")  # what the friend meets
    assert max(foe, key=foe.__getitem__) == "anger"  # what it feels talking to the rude one
    assert dominant(felt(mood, foe), PROFILE.baseline) in ("anger", "sadness")  # never joy or love
    newcomer = Conversation()
    newcomer.state = newcomer.state.model_copy(update={"emotion": mood})
    welcome = newcomer.say("", kind="init")
    first_point = felt(mood, felt_after({}, welcome.emotion_deltas))  # the first point of a new user's chart
    assert not mood_summary(first_point, PROFILE.baseline).startswith("strongly")


def test_one_user_however_long_they_talk_moves_the_shared_mood_by_at_most_a_share() -> None:
    chat = Conversation()
    for turn in range(100):
        chat.say(HOSTILE[turn % len(HOSTILE)])
        chat.now -= 19  # a turn a second: no time for the mood to settle back
    values = chat.state.emotion.values
    assert values["anger"] - PROFILE.baseline["anger"] <= SHARED_MOOD_SHARE + 0.01
    assert values["sadness"] - PROFILE.baseline["sadness"] <= SHARED_MOOD_SHARE + 0.01
    assert chat.state.relationship.feelings["anger"] > 0.9  # the relationship takes it in full


def test_feelings_towards_a_user_fade_while_apart() -> None:
    rel = record_interaction(Relationship(), 0.5, 0.0, feeling_deltas={"joy": 0.8})
    a_day_later = faded(rel, FEELING_HALF_LIFE_SECONDS)
    assert a_day_later.feelings["joy"] == rel.feelings["joy"] / 2
    assert a_day_later.affinity == rel.affinity  # the relationship itself stays
    back = record_interaction(rel, 0.5, FEELING_HALF_LIFE_SECONDS, feeling_deltas={"joy": 0.1})
    assert back.feelings["joy"] < rel.feelings["joy"]


def test_one_users_conversation_moves_the_shared_mood_only_a_little_but_its_own_feeling_fully() -> None:
    chat = Conversation()
    chat.say("", kind="init")
    for turn in range(25):
        chat.say(FRIENDLY[turn % len(FRIENDLY)])
    shared_rise = chat.state.emotion.values["joy"] - PROFILE.baseline["joy"]
    assert shared_rise < 0.25
    assert chat.state.relationship.feelings["joy"] > PROFILE.baseline["joy"] + shared_rise


def test_each_relationship_feels_its_own_way_and_love_does_not_rise_under_insults() -> None:
    kind, rude = Conversation(), Conversation()
    for turn in range(10):
        kind.say(FRIENDLY[turn % len(FRIENDLY)])
        rude.say(HOSTILE[turn % len(HOSTILE)])
    assert kind.state.relationship.feelings["love"] > 0.3
    assert rude.state.relationship.feelings.get("love", 0.0) == 0.0
    assert rude.state.relationship.feelings["anger"] > 0.5
    assert kind.state.relationship.feelings.get("anger", 0.0) == 0.0
    assert "edge" in rude.say("how are you?").reply_text or rude.state.relationship.label in ("wary", "hostile")


def test_feelings_follow_the_turns_changes_and_opposites_offset() -> None:
    rel = record_interaction(Relationship(), 0.5, 1.0, feeling_deltas={"anger": 0.4})
    rel = record_interaction(rel, 0.5, 2.0, feeling_deltas={"love": 0.5})
    assert rel.feelings["love"] == 0.5
    assert rel.feelings["anger"] < 0.4


def test_a_quiet_day_does_not_turn_the_mood_before_anyone_spoke() -> None:
    calm = initial_state(PROFILE.baseline, 0.0)
    quiet = reflect(PROFILE, calm, Activity(), 10.0, seed=1)
    assert quiet.emotion_deltas == {}
    glad = apply_deltas(calm, {"joy": 0.3}, PROFILE.baseline, 600, 0.0)
    for mood in (calm, glad):  # a scene open, nobody has spoken lately: thinking alone moves nothing
        assert reflect(PROFILE, mood, Activity(live_sessions=1), 10.0, seed=1).emotion_deltas == {}
    assert reflect(PROFILE, glad, Activity(live_sessions=1, recent_sessions=1), 10.0, seed=1).emotion_deltas


def test_a_nudge_draws_on_the_sessions_own_topics_and_keeps_its_capitals() -> None:
    calm = initial_state(PROFILE.baseline, 0.0)
    thought = reflect(PROFILE, calm, Activity(live_sessions=1), 10.0, seed=1)
    assert str(nudge_for(thought, session("I planted tomatoes in my garden"), seed=3)).count("your garden") == 1
    assert nudge_for(thought, SessionMemory(), seed=3) == thought.nudge
    upset = apply_deltas(calm, {"sadness": 0.9}, PROFILE.baseline, 600, 0.0)
    for seed in range(6):
        assert " i've" not in reflect(PROFILE, upset, Activity(), 10.0, seed=seed).nudge


def session(*said: str) -> SessionMemory:
    memory = SessionMemory()
    for i, text in enumerate(said):
        memory = remember(memory, Exchange(turn_id=f"t{i}", user_text=text, reply_text="...", at=float(i)), 10)
    return memory


def test_a_nudge_speaks_of_the_sessions_topic_as_a_person_would() -> None:
    thought = reflect(PROFILE, initial_state(PROFILE.baseline, 0.0), Activity(live_sessions=1), 10.0, seed=1)
    for seed in range(4):
        deer = str(nudge_for(thought, session("We saw a deer"), seed=seed))
        assert "the deer" in deer
        assert "How is that going" not in deer  # not for a deer, a sister or a city
        lena = str(nudge_for(thought, session("My sister is called Lena"), seed=seed))
        assert "How is that going" not in lena


def test_no_nudge_after_a_goodbye_and_only_care_after_hard_words() -> None:
    thought = reflect(PROFILE, initial_state(PROFILE.baseline, 0.0), Activity(live_sessions=1), 10.0, seed=1)
    assert nudge_for(thought, session("I love my garden", "Thanks, bye!"), seed=1) is None
    for hard in ("Sometimes I think about ending it all.", "I lost my job and I feel awful", "Nobody cares about me"):
        for seed in range(4):
            said = nudge_for(thought, session("I planted tomatoes in my garden", hard), seed=seed)
            assert said in CARING_NUDGES, said


async def test_the_worker_keeps_the_feelings_and_charts_the_mood_this_user_meets(db) -> None:
    processor = TurnProcessor(
        make_worker_brains(Settings(_env_file=None)),
        CATALOG,
        StateStore(db),
        HistoryStore(db),
        10,
        50,
    )
    for text in ("You are useless.", "Nobody likes you."):
        await process(processor, make_turn("rude", text))
    shared = (await StateStore(db).mood.read(PROFILE)).current
    rel = (await StateStore(db).relationship.read(user_key("default", "user-of-rude"), Relationship)).value
    assert rel.feelings["anger"] > 0.3
    last = (await HistoryStore(db).for_session("rude"))[-1]
    assert last.mood["anger"] > shared.values["anger"] + 0.1  # what this user meets, not only the shared mood
    assert shared.values["anger"] - PROFILE.baseline["anger"] < 0.1  # one user moved it only a little
