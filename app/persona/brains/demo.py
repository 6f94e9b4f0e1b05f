"""The seed example's four behaviours, kept selectable as a reference brain."""

from app.persona import cards
from app.persona.brains.base import BrainContext, BrainOutput


class DemoBrain:
    name = "demo"

    def respond(self, ctx: BrainContext) -> BrainOutput:
        turn = ctx.turn
        text = turn.text.strip()
        if turn.kind == "init":
            return BrainOutput(text="Hi there!", emotion_deltas={"joy": 0.1}, relationship_signal=0.2)
        if text.lower().startswith("why"):
            return BrainOutput(
                text="I do not know how to answer that",
                fallback=True,
                emotion_deltas={"surprise": 0.1},
            )
        if text.lower() == "show card":
            return BrainOutput(
                text=f"Here is a cat {cards.show('cat')}",
                cards={"cat": cards.image(cards.KITTEN_URL, "A cute kitten")},
                emotion_deltas={"joy": 0.1, "love": 0.05},
                relationship_signal=0.3,
            )
        return BrainOutput(text=f"Echo: {turn.text}", relationship_signal=0.1)
