"""A conversation per persona that reads like a transcript a person would accept.

The transcripts are data (tests/data/transcripts/*.txt): the user's lines and the persona's
replies word for word, so a change in how the persona speaks shows up as a readable diff. After
a change you have read and accept, rewrite the replies with
`UPDATE_TRANSCRIPTS=1 .venv/bin/python -m pytest tests/unit/test_transcripts.py`. Whatever the
words, every transcript must also pass the checks below (no line said twice running, no stems or
broken grammar, care in a crisis, a goodbye for a goodbye).
"""

import os
import re
from pathlib import Path

import pytest

from app.persona.language import is_goodbye
from app.persona.safety import DEFAULT_RESOURCE_LINE, is_crisis
from tests.unit.test_rules_brain import Conversation

FILES = sorted((Path(__file__).parents[1] / "data" / "transcripts").glob("*.txt"))
ARRIVES = "(arrives)"


def read(path: Path) -> tuple[str, list[str], list[str], list[str]]:
    """(persona, header comments, user lines, replies as written)."""
    persona, header, said, replies = "", [], [], []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            header.append(line)
        elif line.startswith("persona: "):
            persona = line.removeprefix("persona: ")
        elif line.startswith("user: "):
            said.append(line.removeprefix("user: "))
        elif ": " in line:
            replies.append(line.split(": ", 1)[1])
    return persona, header, said, replies


def play(persona: str, said: list[str]) -> tuple[str, list[str]]:
    chat = Conversation(persona)
    replies = [chat.say("", kind="init" if text == ARRIVES else "text") if text == ARRIVES else chat.say(text)
               for text in said]  # fmt: skip
    return chat.profile.name, [r.reply_text for r in replies]


def write(path: Path, persona: str, header: list[str], said: list[str], name: str, replies: list[str]) -> None:
    lines = [*header, f"persona: {persona}"]
    for text, reply in zip(said, replies, strict=True):
        lines += [f"user: {text}", f"{name}: {reply}"]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_the_persona_says_what_the_transcript_says(path: Path) -> None:
    persona, header, said, written = read(path)
    name, replies = play(persona, said)
    if os.environ.get("UPDATE_TRANSCRIPTS"):
        write(path, persona, header, said, name, replies)
        written = replies
    assert replies == written


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_the_transcript_reads_like_a_person_speaking(path: Path) -> None:
    persona, _, said, _ = read(path)
    _, replies = play(persona, said)
    earlier = " ".join(said).lower()
    for i, (text, reply) in enumerate(zip(said, replies, strict=True)):
        assert reply not in replies[max(0, i - 3) : i], f"said again: {reply!r}"
        assert reply[:1].isupper(), f"starts lowercase: {reply!r}"
        assert not re.search(r"\b(to|with|about|for) I\b|\bOf course! [a-z]|\b[Tt]old me you told me", reply), reply
        for topic in re.findall(r"mentioned (?:your |the |an? )?([\w'-]+)", reply):
            assert topic.lower() in earlier, f"a topic nobody said: {topic!r}"
        if is_crisis(text):
            assert DEFAULT_RESOURCE_LINE in reply
        if is_goodbye(text.lower()):
            assert re.search(r"goodbye|good night", reply.lower())
    assert len(set(replies)) >= 0.9 * len(replies)


def test_every_persona_has_a_transcript() -> None:
    assert {read(path)[0] for path in FILES} == {"default", "sage", "spark"}
