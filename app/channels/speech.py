"""Text for voices: card markers are for screens, so they are not read aloud."""

import re

_CARD_MARKERS = re.compile(r"\s*@(?:showcards|showcardsnogesture|hidecards)\([^)]*\)")


def spoken(text: str) -> str:
    return _CARD_MARKERS.sub("", text).strip()
