"""Content cards the persona can show, and the text markers that place them.

Cards are protocol-neutral here; each channel renders them (Soul Machines: `public-<id>`
variables with both `component` and `type`).
"""

from collections.abc import Iterable

from app.turns import Card

KITTEN_URL = "https://placekitten.com/800/600"


def show(card_id: str) -> str:
    return f"@showcards({card_id})"


def image(url: str, alt: str) -> Card:
    return Card(kind="image", data={"url": url, "alt": alt})


def options(labels: Iterable[str]) -> Card:
    """Clickable choices; a click comes back as the user's next turn (its label)."""
    return Card(kind="options", data={"options": [{"label": label, "value": label} for label in labels]})


def markdown(text: str) -> Card:
    return Card(kind="markdown", data={"text": text})


def external_link(url: str, title: str, description: str, image_url: str = "") -> Card:
    return Card(
        kind="externalLink", data={"url": url, "title": title, "description": description, "imageUrl": image_url}
    )
