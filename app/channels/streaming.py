"""A reply's words as a door passes them on while the worker still produces them.

`StreamedText` takes each `Delta` once, in order, by its offset: a repeated piece (the turn run
again elsewhere) is skipped, a gap (a lost message) waits for the final reply, which sends what
is missing if it continues what went out. What went out (`delivered`, in the worker's own
characters) is what a barge-in reports back, so history records exactly that. `Phrases` groups
words into sentences and clauses, so a voice has something to say.
"""

import re
from dataclasses import dataclass, field

from app.turns import Delta

# A phrase ends at a clause's punctuation followed by a space or a line break, or at a sentence's
# end with nothing after it yet (a reply's last sentence is said at once, not when the reply is
# whole); not at a digit's point ("3." may go on "5").
_PHRASE_END = re.compile(r"[.!?;,\u2026][\"')\]]*\s+|\n+|(?<!\d)[.!?\u2026][\"')\]]*$")


@dataclass
class StreamedText:
    delivered: str = ""

    def take(self, delta: Delta) -> str:
        """The part of `delta` not yet passed on ("" for a repeat or after a gap)."""
        have = len(self.delivered)
        if delta.offset > have or delta.offset + len(delta.text) <= have:
            return ""
        piece = delta.text[have - delta.offset :]
        self.delivered += piece
        return piece

    def rest(self, text: str) -> str:
        """What the whole reply adds to what went out (nothing, when it does not continue it: words
        spoken cannot be taken back)."""
        if not text.startswith(self.delivered):
            return ""
        piece = text[len(self.delivered) :]
        self.delivered = text
        return piece


@dataclass
class Phrases:
    _pending: str = field(default="")

    def add(self, words: str) -> list[str]:
        """Whole phrases now complete; the unfinished rest waits for more words."""
        self._pending += words
        phrases = []
        while match := _PHRASE_END.search(self._pending):
            phrase, self._pending = self._pending[: match.end()].strip(), self._pending[match.end() :]
            if phrase:
                phrases.append(phrase)
        return phrases

    @property
    def held(self) -> int:
        """Characters taken in but not yet said (an unfinished phrase)."""
        return len(self._pending)

    def flush(self) -> str:
        rest, self._pending = self._pending.strip(), ""
        return rest
