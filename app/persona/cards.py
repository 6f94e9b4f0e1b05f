"""Content cards the persona can show, and the text markers that place them."""

from app.turns import Card

KITTEN_URL = "https://placekitten.com/800/600"


def show(card_id: str) -> str:
    return f"@showcards({card_id})"


def image(url: str, alt: str) -> Card:
    return Card(kind="image", data={"url": url, "alt": alt})
