"""Content cards the persona can show, and the text markers that place them.

Cards are protocol-neutral here; each channel renders them (Soul Machines: `public-<id>`
variables with both `component` and `type`).
"""

from collections.abc import Iterable
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field, ValidationError

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


# ---- cards a model proposes: checked field by field, every URL https ----------------------------


def _https(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise ValueError("only https: URLs")
    return url


HttpsUrl = Annotated[str, Field(max_length=2000), AfterValidator(_https)]
ShortText = Annotated[str, Field(max_length=300)]


class _ImageData(BaseModel):
    url: HttpsUrl
    alt: ShortText = ""


class _Option(BaseModel):
    label: Annotated[str, Field(min_length=1, max_length=80)]
    value: Annotated[str, Field(max_length=200)] = ""


class _OptionsData(BaseModel):
    options: Annotated[list[_Option], Field(min_length=1, max_length=8)]


class _MarkdownData(BaseModel):
    text: Annotated[str, Field(min_length=1, max_length=4000)]


class _LinkData(BaseModel):
    url: HttpsUrl
    title: ShortText = ""
    description: ShortText = ""
    imageUrl: HttpsUrl | Literal[""] = ""  # the platform's field name


class _VideoData(BaseModel):
    videoId: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{6,20}$")]  # a YouTube id
    autoplay: bool = False


_CARD_DATA: dict[str, type[BaseModel]] = {
    "image": _ImageData,
    "options": _OptionsData,
    "markdown": _MarkdownData,
    "externalLink": _LinkData,
    "video": _VideoData,
}


def checked(kind: str, data: Any) -> Card | None:
    """A card from untrusted data (a model's answer): only known kinds with well-formed fields, and
    no URL but https (a `javascript:` or `data:` link never reaches a screen). None if it fails."""
    shape = _CARD_DATA.get(kind)
    if shape is None:
        return None
    try:
        fields = shape.model_validate(data).model_dump()
    except ValidationError:
        return None
    if kind == "options":
        fields["options"] = [{"label": o["label"], "value": o["value"] or o["label"]} for o in fields["options"]]
    return Card(kind=kind, data=fields)
