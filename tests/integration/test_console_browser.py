"""The scene console in a real headless Chromium (Debian's, driven by Playwright) against a real stack.

The API runs under uvicorn on a real redis-server with its worker. With MONGO_URL set, the worker
is a separate `python -m worker` process sharing that MongoDB; without one the worker runs inside
the API process (EMBEDDED_WORKER=true), because the page reads state the worker wrote and
mongomock is private to each process. A scheduler makes the persona think and speak unprompted.

CONSOLE_SCREENSHOT=path saves a screenshot of the finished page (the README's picture).
"""

import os
import re
from collections.abc import Iterator

import pytest

from tests.support.stack import Managed, Stack
from tests.support.tools import require

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Locator, Page, Route, expect, sync_playwright

ADMIN_KEY = "operator-key-that-is-long-enough-0123456789"
STAND_IN_PICTURE = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="160" height="100"><rect width="160" height="100" fill="#f5d0a9"/>'
    '<text x="80" y="56" font-size="14" text-anchor="middle">a kitten</text></svg>'
)
UNPROMPTED_CARDS = {
    "category": "scene",
    "kind": "request",
    "name": "conversationResponse",
    "transaction": None,
    "body": {
        "personaId": 1,
        "input": {"text": ""},
        "output": {"text": "Watch this @showcards(clip) and read @showcards(note)"},
        "variables": {
            "public-clip": {
                "component": "video",
                "type": "video",
                "data": {"videoId": "dQw4w9WgXcQ", "autoplay": False},
            },
            "public-note": {"type": "markdown", "data": {"text": "*safe* <img src=x onerror=alert(1)>"}},
        },
        "fallback": False,
    },
}
THINK_FAST = {"THOUGHT_INTERVAL_SECONDS": "1", "IDLE_SPEAK_AFTER_SECONDS": "2", "SPONTANEOUS_MIN_GAP_SECONDS": "60"}


@pytest.fixture
def console_api(stack: Stack, redis_url: str) -> Managed:
    settings = {"ADMIN_API_KEY": ADMIN_KEY, "SM_SHARED_SECRET": "scene-secret", **THINK_FAST}
    api = stack.api(redis_url, EMBEDDED_WORKER="false", **settings)
    stack.workers(redis_url, processes=1, **settings)  # on the stack's one shared store
    stack.scheduler(redis_url, **THINK_FAST)
    return api


@pytest.fixture
def page() -> Iterator[Page]:
    chromium = require("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.set_default_timeout(15_000)
        yield page
        browser.close()


def persona_turns(page: Page) -> Locator:
    return page.locator("#log .turn.persona")


def say(page: Page, text: str) -> None:
    before = persona_turns(page).count()
    page.fill("#say-text", text)
    page.press("#say-text", "Enter")
    expect(persona_turns(page)).to_have_count(before + 1)


def charted_turns(page: Page) -> int:
    return int(page.get_attribute("#chart", "data-turns") or 0)


def open_console(page: Page, base_url: str) -> None:
    """Protected: the page asks for the operator key before it opens a session."""
    page.goto(f"{base_url}/console")
    expect(page.locator("#operator-key")).to_be_visible()
    expect(page.locator("#log .turn")).to_have_count(0)
    page.fill("#admin-key", ADMIN_KEY)
    page.click("#operator-key button")


def watch_for_problems(page: Page) -> list[str]:
    """Script errors, console errors and failed requests, as they happen."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("requestfailed", lambda request: _failed(problems, request.url, request.failure))
    return problems


def _failed(problems: list[str], url: str, failure: str | None) -> None:
    """A request the page cancelled itself (a fetch in flight when the page reloads) is no fault."""
    if failure != "net::ERR_ABORTED":
        problems.append(f"{url} failed: {failure}")


def answer_offline(page: Page) -> list[str]:
    """This machine is offline: what a card links to elsewhere gets a stand-in picture; the URLs asked for."""
    elsewhere: list[str] = []

    def offline(route: Route) -> None:
        elsewhere.append(route.request.url)
        route.fulfill(content_type="image/svg+xml", body=STAND_IN_PICTURE)

    page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), offline)
    return elsewhere


def test_console_plays_a_scene_and_shows_the_persona_live(console_api: Managed, page: Page) -> None:
    problems = watch_for_problems(page)
    elsewhere = answer_offline(page)

    open_console(page, console_api.url)

    # The welcome: the init request answered, the socket let in with the orchestration cookie.
    expect(page.locator("#status")).to_have_attribute("data-state", "open")
    expect(persona_turns(page)).to_have_count(1)
    expect(persona_turns(page).first).to_contain_text("Ava")
    expect(page.locator("#chart")).to_have_attribute("data-turns", "1")
    session_id = page.input_value("#resume-id")
    assert session_id

    say(page, "My name is Ada")
    say(page, "I love chess")
    expect(page.locator("#facts")).to_contain_text("name: Ada")
    expect(page.locator("#chart")).to_have_attribute("data-turns", "3")

    # An options card: clickable once, the choice goes back as the user's text.
    say(page, "what can you do?")
    options = page.locator("#log .card.options").last
    expect(options.locator("button")).to_have_count(4)
    before = persona_turns(page).count()
    options.locator("button", has_text="How are you?").click()
    expect(options.locator("button:enabled")).to_have_count(0)
    expect(page.locator("#log .turn.user").last).to_have_text("How are you?")
    expect(persona_turns(page)).to_have_count(before + 1)

    say(page, "tell me about yourself")  # a markdown card, rendered
    expect(page.locator("#log .card.markdown strong").last).to_have_text("Ava")
    say(page, "show me a picture")  # an image card
    expect(page.locator("#log .card.image img").last).to_have_attribute("alt", "A cute kitten")
    assert any("kitten" in url for url in elsewhere)
    say(page, "what's my name?")
    expect(persona_turns(page).last).to_contain_text("Ada")
    expect(page.locator("#recalled")).to_contain_text("name: Ada")

    # The emotion chart follows every turn; relationship, latency and a thought are shown.
    expect(page.locator("#chart")).to_have_attribute("data-turns", "8")
    assert page.locator("#chart canvas").count() == 1
    expect(page.locator("#relationship [data-label]")).to_have_text(re.compile("stranger|acquaintance|friend"))
    expect(page.locator("#latency")).to_contain_text("round trip")
    expect(page.locator("#latency")).to_contain_text("rules")

    # Left idle, the persona thinks and speaks on its own: marked as unprompted.
    expect(page.locator("#log .turn.spontaneous")).to_have_count(1, timeout=20_000)
    expect(page.locator("#thought")).not_to_have_text("no thoughts yet")

    # Reload: the same session resumes, with its history and chart, and carries on.
    page.reload()
    expect(page.locator("#status")).to_have_attribute("data-state", "open")
    assert page.input_value("#resume-id") == session_id
    expect(persona_turns(page)).to_have_count(9)  # eight answers and the unprompted line, from history
    expect(page.locator("#log .tag", has_text="earlier")).to_have_count(9)
    expect(page.locator("#log .turn.spontaneous")).to_have_count(1)
    assert charted_turns(page) == 8  # the chart counts turns the user took
    say(page, "what's my name?")
    expect(persona_turns(page).last).to_contain_text("Ada")
    expect(page.locator("#chart")).to_have_attribute("data-turns", "9")

    if path := os.environ.get("CONSOLE_SCREENSHOT"):
        page.screenshot(path=path)
    assert problems == []


def test_console_picks_persona_and_brain_marks_fallbacks_and_resumes_by_id(console_api: Managed, page: Page) -> None:
    open_console(page, console_api.url)
    expect(persona_turns(page)).to_have_count(1)
    first_session = page.input_value("#resume-id")

    page.select_option("#persona", "sage")
    page.select_option("#brain", "demo")
    page.click("#new-session button")
    expect(page.locator("#session-line")).to_contain_text("persona sage · brain demo")
    demo_session = page.input_value("#resume-id")
    assert demo_session != first_session
    expect(persona_turns(page)).to_have_count(1)
    expect(persona_turns(page).first).to_have_text("Hi there!")  # the demo brain's welcome
    expect(page.locator("#mood")).to_contain_text("Sage")

    say(page, "why is the sky blue?")
    expect(page.locator("#log .turn.persona.fallback")).to_have_count(1)
    expect(page.locator("#log .tag.fallback")).to_have_count(1)
    say(page, "show card")
    expect(page.locator("#log .card.image img")).to_have_count(1)
    page.select_option("#brain", "rules")
    page.click("#new-session button")
    expect(page.locator("#session-line")).to_contain_text("persona sage · brain rules")
    expect(persona_turns(page)).to_have_count(1)  # the new session's welcome
    say(page, "where can I read more?")  # an external link card
    link = page.locator("#log .card.externalLink a")
    expect(link).to_have_attribute("href", "https://www.soulmachines.com/")
    expect(link).to_contain_text("Soul Machines")
    expect(link.locator("img")).to_have_count(0)  # its imageUrl is empty: no broken thumbnail

    # Cards no brain here sends, as a scene would receive them: a video, and markdown with a script.
    page.evaluate("frame => onFrame(JSON.stringify(frame))", UNPROMPTED_CARDS)
    expect(page.locator("#log .card.video iframe")).to_have_attribute("src", re.compile(r"/embed/dQw4w9WgXcQ\?"))
    expect(page.locator("#log .card.markdown em")).to_have_text("safe")
    assert page.locator("#log .card.markdown [onerror]").count() == 0  # sanitised: no event handler survives
    expect(page.locator("#log .turn.spontaneous")).to_have_count(1)

    page.fill("#resume-id", first_session)
    page.click("#resume-session button")
    expect(page.locator("#session-line")).to_contain_text(f"session {first_session}")
    expect(page.locator("#session-line")).to_contain_text("persona default · brain rules")
    expect(persona_turns(page)).to_have_count(1)
    expect(page.locator("#status")).to_have_attribute("data-state", "open")
    say(page, "My name is Ada")
    expect(page.locator("#facts")).to_contain_text("name: Ada")


def test_the_api_docs_render_with_no_network(stack: Stack, page: Page) -> None:
    """Every request off this server is refused, as on a machine with no internet: /docs still
    draws the API's operations."""
    api = stack.api(None)
    offsite: list[str] = []

    def only_this_server(route: Route) -> None:
        if route.request.url.startswith(api.url):
            route.continue_()
        else:
            offsite.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(f"{api.url}/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/v1/auth/guest")).to_have_count(1)
    assert offsite == []
