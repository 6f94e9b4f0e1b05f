"""CPU of the pure engine for one rules turn (appraisal, facts, recall, the rules brain, changes).

This is the work a worker does on its event loop between a turn's reads and its writes; while it
runs, no other turn of that process moves. Measured here, in-process, over a varied conversation,
to decide whether CPU-bound brains need a thread (docs/architecture.md).
"""

import time

from app.persona.brains import make_brain
from app.persona.emotion import initial_state
from app.persona.engine import PersonaState, step
from app.persona.memory import SessionMemory
from app.persona.profiles import default_profile
from app.persona.relationship import Relationship
from app.turns import Turn
from bench.stats import Latencies

LINES = [
    "Hi there, my name is Mia and I live in Bergen.",
    "I'm feeling a bit sad today, work was awful.",
    "Can you show me a picture of a kitten?",
    "What's my name?",
    "I love hiking in the mountains with my dog Rex.",
    "Why is the sky blue?",
    "Thanks, that really helped!",
    "Tell me a joke.",
]


def engine_cost(turns: int = 2000) -> Latencies:
    profile, brain = default_profile("default"), make_brain("rules")
    state = PersonaState(
        emotion=initial_state(profile.baseline, 0.0), relationship=Relationship(), memory=SessionMemory()
    )
    out = []
    for i in range(turns):
        turn = Turn(
            turn_id=f"{i:016x}abcdef01",
            session_id="s",
            user_id="u",
            persona_id="default",
            channel="bench",
            kind="text",
            text=LINES[i % len(LINES)],
            variables={},
            reply_to="api",
        )
        started = time.perf_counter()
        step(profile, state, turn, brain, now=10.0 + i, seed=i)
        out.append((time.perf_counter() - started) * 1000)
    return Latencies(out[100:])  # past the warm-up (lexicon load, caches)


if __name__ == "__main__":
    print(f"rules engine CPU per turn: {engine_cost().summary()}")
