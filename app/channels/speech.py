"""Text for voices: card markers are for screens, so they are not read aloud."""

import re

_CARD_MARKERS = re.compile(r"\s*@(?:showcards|showcardsnogesture|hidecards)\([^)]*\)")


def spoken(text: str) -> str:
    return _CARD_MARKERS.sub("", text).strip()


def spoken_piece(words: str) -> str:
    """Words of a reply on their way, markers taken out but spacing kept (the next piece joins on)."""
    return _CARD_MARKERS.sub("", words)
