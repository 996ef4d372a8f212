"""/docs in a real browser: Debian's Chromium, driven by Playwright, against the service under
Gunicorn. The page offers the served model's movie fields, a valid movie gets the service's
rating and interval, an invalid one gets the service's message next to each field, and the
page logs nothing to the console and asks nothing of any origin but the service's own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Response, sync_playwright

from harness.loopback import GunicornService, http_json, http_request
from imdb_rating.movie import IMDB_GENRES
from service.api.docs import CONTENT_SECURITY_POLICY

# Debian's build (package chromium, installed by .ci/system-packages), never Playwright's
# download; headless, with nothing that phones home.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

VALID_MOVIE = {
    "year": "1999",
    "num_votes": "25000",
    "runtime_minutes": "136",
    "title": "The Matrix",
    "directors": "nm0000007",
}
VALID_GENRES = ["Drama", "Horror"]
INVALID_MOVIE = {"year": "1800", "num_votes": "many", "directors": "nm0000007, nm12"}


@dataclass
class DocsPage:
    """The page, with everything it logged and asked for since it was opened."""

    page: Page
    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def fill(self, text_fields: dict[str, str], genres: list[str]) -> None:
        for name, value in text_fields.items():
            self.page.fill(f"#field-{name}", value)
        for genre in genres:
            self.page.check(f'[data-field="genres"] input[value="{genre}"]')

    def submit(self) -> Response:
        """Click the form's button; the service's answer to the request the page sent."""
        with self.page.expect_response(lambda response: response.url.endswith("/predict")) as sent:
            self.page.click("#try-a-movie button[type=submit]")
        return sent.value

    def field_error(self, name: str) -> str | None:
        """The message shown inside the field's own box; None while hidden."""
        error = self.page.locator(f'[data-field="{name}"] .field-error')
        return error.text_content() if error.is_visible() else None


@pytest.fixture(scope="module")
def service(model_card_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    running = GunicornService(tmp_path_factory.mktemp("service"), model_card_path).start()
    yield running.url
    running.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: .ci/system-packages installs chromium"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1000, "height": 900},
        )
        yield context
        context.close()


@pytest.fixture
def docs(browser: BrowserContext, service: str) -> Iterator[DocsPage]:
    page = browser.new_page()
    opened = DocsPage(page)
    page.on(
        "console",
        lambda message: opened.console.append(
            f"{message.type}: {message.text} [{message.location['url']}]"
        ),
    )
    page.on("pageerror", lambda error: opened.page_errors.append(str(error)))
    page.on("request", lambda request: opened.requests.append(request.url))
    response = page.goto(service + "/docs")
    assert response is not None and response.status == 200
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    yield opened
    page.close()


def assert_clean(docs: DocsPage, service: str, console: tuple[str, ...] = ()) -> None:
    """Nothing in the console but `console`, no uncaught error, no request to another origin."""
    assert docs.console == list(console)
    assert docs.page_errors == []
    assert [url for url in docs.requests if not url.startswith(service + "/")] == []


def test_the_form_asks_for_the_served_models_movie_fields(docs: DocsPage, service: str) -> None:
    movie = http_json(service + "/openapi.json")["components"]["schemas"]["Movie"]
    fields = docs.page.locator("[data-field]").evaluate_all("els => els.map(e => e.dataset.field)")
    assert fields == list(movie["properties"])  # crew inputs included: this model uses crew
    genres = docs.page.locator('[data-field="genres"] input').evaluate_all(
        "els => els.map(e => e.value)"
    )
    assert genres == list(IMDB_GENRES)  # all of IMDb's: the model's own and those it ignores
    assert_clean(docs, service)


def test_a_valid_movie_gets_the_services_rating_and_interval(
    docs: DocsPage, service: str, tmp_path: Path
) -> None:
    docs.fill(VALID_MOVIE, VALID_GENRES)
    sent = docs.submit().request.post_data_json
    assert sent == {
        "year": 1999,
        "num_votes": 25000,
        "runtime_minutes": 136,
        "genres": VALID_GENRES,
        "title": "The Matrix",
        "is_adult": False,
        "directors": ["nm0000007"],
    }
    docs.page.locator("#result").wait_for(state="visible")

    expected = http_json(service + "/predict", sent)
    shown = {
        name: docs.page.text_content(f"#{name}")
        for name in ("rating", "interval-low", "interval-high", "coverage", "model-id")
    }
    assert shown == {
        "rating": str(expected["rating"]),
        "interval-low": str(expected["interval"]["low"]),
        "interval-high": str(expected["interval"]["high"]),
        "coverage": f"{expected['interval']['coverage']:.0%}",
        "model-id": expected["model_id"],
    }
    assert docs.page.locator(".field-error:visible").count() == 0
    screenshot = docs.page.locator("#try").screenshot(path=tmp_path / "try-a-movie.png")
    assert screenshot.startswith(b"\x89PNG")
    assert_clean(docs, service)


def test_an_invalid_movie_gets_each_fields_message_next_to_it(docs: DocsPage, service: str) -> None:
    docs.fill(INVALID_MOVIE, [])
    sent = docs.submit().request.post_data_json
    assert sent == {
        "year": 1800,
        "num_votes": "many",  # not a number: sent as typed, for the service to judge
        "genres": [],
        "is_adult": False,
        "directors": ["nm0000007", "nm12"],
    }
    docs.page.locator('[data-field="year"] .field-error').wait_for(state="visible")

    headers = {"Content-Type": "application/json"}
    status, answer = http_request("POST", service + "/predict", json.dumps(sent).encode(), headers)
    assert status == 422
    messages = json.loads(answer)["fields"]
    assert set(messages) == {"year", "num_votes", "directors"}
    assert docs.field_error("year") == " ".join(messages["year"])
    assert docs.field_error("num_votes") == " ".join(messages["num_votes"])
    assert docs.field_error("directors") == f'"nm12": {messages["directors"]["1"][0]}'
    assert docs.field_error("title") is None
    assert docs.page.get_attribute("#field-year", "aria-invalid") == "true"
    assert docs.page.locator("#result").is_hidden()
    # Chromium logs every 4xx answer as a network error: the 422 asked for is the only entry.
    rejected = "error: Failed to load resource: the server responded with a status of 422"
    assert_clean(docs, service, console=(f"{rejected} (UNPROCESSABLE ENTITY) [{service}/predict]",))
