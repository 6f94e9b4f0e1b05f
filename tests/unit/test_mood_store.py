"""The shared mood: appended changes never conflict, fold in time order, and apply once each."""

import asyncio

from app.catalog import load_catalog
from app.persona.emotion import apply_deltas, initial_state
from app.settings import Settings
from app.store.mood import MoodChange, MoodStore

PROFILE = load_catalog(Settings().personas_file, "lite", "default").get("default")


def change(op: str, at: float, **deltas: float) -> MoodChange:
    return MoodChange(op_id=op, at=at, deltas=deltas)


async def test_changes_fold_in_time_order_whatever_order_they_arrived_in(db) -> None:
    store = MoodStore(db["moods"])
    await store.add("default", change("b", 20.0, sadness=0.5))
    await store.add("default", change("a", 10.0, joy=0.5))
    expected = initial_state(PROFILE.baseline, 0.0)
    for at, deltas in ((10.0, {"joy": 0.5}), (20.0, {"sadness": 0.5})):
        expected = apply_deltas(expected, deltas, PROFILE.baseline, PROFILE.half_life_seconds, at)
    assert (await store.read(PROFILE)).current == expected


async def test_a_change_sent_twice_applies_once_before_and_after_compaction(db) -> None:
    store = MoodStore(db["moods"], compact_after=2)
    await store.add("default", change("t1", 10.0, joy=0.3))
    await store.add("default", change("t1", 10.0, joy=0.3))
    await store.add("default", change("t2", 11.0, joy=0.3))
    read = await store.read(PROFILE)
    assert [c.op_id for c in read.pending] == ["t1", "t2"]
    assert await store.compact_if_due(read)
    await store.add("default", change("t1", 10.0, joy=0.3))  # a turn run again after its change was folded
    again = await store.read(PROFILE)
    assert again.pending == ()
    assert again.current == read.current


async def test_compaction_keeps_changes_pushed_meanwhile_and_loses_its_race_harmlessly(db) -> None:
    store = MoodStore(db["moods"], compact_after=2)
    for i in range(3):
        await store.add("default", change(f"t{i}", 10.0 + i, joy=0.1))
    first, second = await store.read(PROFILE), await store.read(PROFILE)
    await store.add("default", change("late", 20.0, anger=0.2))  # after both reads
    assert await store.compact_if_due(first)
    assert not await store.compact_if_due(second)  # the other reader compacted already
    after = await store.read(PROFILE)
    assert [c.op_id for c in after.pending] == ["late"]
    assert after.version == 1
    assert after.current.values["anger"] > PROFILE.baseline["anger"]


async def test_hundreds_of_concurrent_changes_all_land(db, yielding) -> None:
    store = MoodStore(yielding(db["moods"]), compact_after=16)

    async def turn(i: int) -> None:
        read = await store.read(PROFILE)
        await store.add("default", change(f"t{i}", float(i), joy=0.01))
        await store.compact_if_due(read)

    await asyncio.gather(*(turn(i) for i in range(200)))
    doc = await db["moods"].find_one({"_id": "default"})
    landed = [*doc.get("applied", []), *(c["op_id"] for c in doc.get("pending", []))]
    assert sorted(landed) == sorted(f"t{i}" for i in range(200))
