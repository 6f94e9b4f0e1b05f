"""The thinking job: reflect, keep the thought, let it move the mood, nudge quiet sessions.

Enqueued once per persona per period by worker/scheduler.py. Spoken nudges travel the same
reply path as answers (an unprompted conversationResponse) and are kept in the session's history.
"""

import logging
import time
from typing import TYPE_CHECKING

from app.bus import presence
from app.bus.replies import speak
from app.catalog import PersonaCatalog
from app.persona.emotion import decayed
from app.persona.thoughts import Activity, Thought, interests_in, nudge_for, reflect
from app.store.history import HistoryEntry, HistoryStore
from app.store.mood import MoodChange
from app.store.sessions import SessionStore
from app.store.state import StateStore
from app.store.thoughts import ThoughtStore
from app.turns import Reply, new_turn_id

if TYPE_CHECKING:
    from worker.runtime import WorkerRuntime

log = logging.getLogger(__name__)
RECENT_SECONDS = 300


class Thinker:
    def __init__(
        self,
        catalog: PersonaCatalog,
        state: StateStore,
        thoughts: ThoughtStore,
        sessions: SessionStore,
        history: HistoryStore,
    ) -> None:
        self.catalog = catalog
        self.state = state
        self.thoughts = thoughts
        self.sessions = sessions
        self.history = history

    async def reflect(self, persona_id: str, activity: Activity, now: float) -> Thought:
        profile = self.catalog.get(persona_id)
        mood = await self.state.mood.read(profile)
        mood_now = decayed(mood.current, profile.baseline, profile.half_life_seconds, now)
        thought = reflect(profile, mood_now, activity, now, seed=int(now))
        await self.thoughts.append(thought)
        if thought.emotion_deltas:
            change = MoodChange(op_id=thought.thought_id, at=now, deltas=thought.emotion_deltas)
            await self.state.mood.add(persona_id, change)
        await self.state.mood.compact_if_due(mood)
        return thought

    async def nudge(self, thought: Thought, session_id: str) -> str | None:
        """What to say to a quiet session, from its own memory; None once it has said goodbye."""
        memory = await self.state.session_memory.read(session_id)
        return nudge_for(thought, memory, seed=memory.turn_count)

    async def record_spoken(self, persona_id: str, session_id: str, text: str, now: float) -> None:
        session = await self.sessions.get(session_id) or {}
        await self.history.append(
            HistoryEntry(
                turn_id=new_turn_id(),
                session_id=session_id,
                user_id=session.get("user_id", ""),
                persona_id=persona_id,
                channel=session.get("channel", ""),
                kind="spontaneous",
                input_text="",
                output_text=text,
                enqueued_at=now,
                started_at=now,
                finished_at=time.time(),
            )
        )


async def think(rt: "WorkerRuntime", persona_id: str) -> str:
    """RQ job: returns the thought's text (kept as the job's result for a while)."""
    now = time.time()
    live, recent = await presence.activity(rt.redis, persona_id, now, RECENT_SECONDS)
    interests = interests_in(await rt.thinker.history.recent_words(persona_id, now - RECENT_SECONDS))
    activity = Activity(live_sessions=live, recent_sessions=recent, interests=interests)
    thought = await rt.thinker.reflect(persona_id, activity, now)
    for session_id in await presence.idle_sessions(rt.redis, persona_id, now, rt.idle_speak_after):
        text = await rt.thinker.nudge(thought, session_id)
        if text is None or not await presence.claim_nudge(rt.redis, session_id, rt.spontaneous_min_gap):
            continue
        if await speak(rt.redis, Reply(session_id=session_id, persona_id=persona_id, text=text)):
            await presence.touch(rt.redis, persona_id, session_id, time.time())
            await rt.thinker.record_spoken(persona_id, session_id, text, now)
            log.info("spoke to an idle session", extra={"session_id": session_id})
        else:
            await presence.forget(rt.redis, persona_id, session_id)  # its socket is gone
    return thought.text
