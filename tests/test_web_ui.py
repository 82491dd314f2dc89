"""The web UI in a real browser: Debian's Chromium, driven by Playwright, against the app
served by a real uvicorn server on 127.0.0.1.

The stories: a consumer finds a product by search and requests access; a steward
approves it in the inbox without the PII columns; the consumer sees it approved and runs
a query that returns rows; a steward accepts a classification recommendation; a
colleague cannot see another's request. Full-page screenshots of the main pages go to
``build/screenshots/`` (git-ignored) for a human to look at.

Playwright's own browser download cannot work here: the system's Chromium is used, and
a machine without it fails this module (it never skips).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from lakemesh.api.app import create_app
from lakemesh.mesh import Mesh
from lakemesh.service.requests import issue_links, read_ticket
from tests.test_web_pages import (
    ADMIN,
    ANALYST,
    OTHER,
    PRODUCT,
    STEWARD,
    build_web_mesh,
)

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    home = build_web_mesh(tmp_path_factory.mktemp("web-ui"))
    with Mesh.open(home) as m:
        yield m


@pytest.fixture(scope="module")
def base_url(mesh: Mesh) -> Iterator[str]:
    """The app on a real uvicorn server, on a thread, for the module's stories."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(mesh=mesh, worker=False),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws="none",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="web-ui-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the uvicorn server did not start", pytrace=False)
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Debian's Chromium; its absence is a broken machine, not a reason to skip."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the web UI tests need it (apt-get install chromium)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-home")
    with sync_playwright() as p:
        try:
            launched = p.chromium.launch(
                executable_path=str(CHROMIUM),
                args=ARGS,
                env={"HOME": str(profile)},  # Playwright keeps the profile in a temp dir
            )
        except Exception as exc:
            pytest.fail(
                f"{CHROMIUM} did not start ({str(exc).splitlines()[0]}); apt-get install chromium",
                pytrace=False,
            )
        yield launched
        launched.close()


class User:
    """One user's browser context (its own cookies), signed in through the form."""

    def __init__(self, browser: object, base_url: str, mesh: Mesh, name: str) -> None:
        self.context = browser.new_context(  # type: ignore[attr-defined]
            base_url=base_url, viewport={"width": 1280, "height": 900}
        )
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.page.goto("/")
        assert "/signin" in self.page.url  # signed out: the sign-in page, then back
        self.page.fill("#token", mesh.access.new_token(name))
        self.page.click("button:has-text('Sign in')")
        self.page.wait_for_url(re.compile(r".*/$"))
        assert name in self.page.inner_text("header")

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def flash(self) -> str:
        return str(self.page.inner_text(".flash"))


@pytest.fixture(scope="module")
def users(browser: object, base_url: str, mesh: Mesh) -> Iterator[dict[str, User]]:
    made = {n: User(browser, base_url, mesh, n) for n in (ANALYST, STEWARD, OTHER, ADMIN)}
    yield made
    for u in made.values():
        u.context.close()


def test_a_consumer_finds_requests_gets_approved_and_queries(
    users: dict[str, User], mesh: Mesh
) -> None:
    analyst, steward = users[ANALYST], users[STEWARD]
    page = analyst.page
    page.goto("/")
    page.fill("input[name=q]", "credit history")
    page.click("form.search button")
    page.wait_for_url(re.compile(r".*\?q=credit"))
    assert PRODUCT in page.inner_text("ul.cards")
    analyst.shot("catalog")
    page.click(f"a.name:has-text('{PRODUCT}')")
    page.wait_for_url(f"**/tables/{PRODUCT}")
    assert page.locator("svg.chart circle").count() >= 2  # quality over time: two runs
    assert (
        page.locator("svg.lineage .node").count() == 2
    )  # the raw table is not the analyst's to see
    assert "hash" in page.inner_text("table.data")  # the pii=true mask, as the analyst sees it
    analyst.shot("product")

    page.click("a.button:has-text('Request access')")
    page.wait_for_url(f"**/tables/{PRODUCT}/request")
    page.fill("#reason", "credit-risk model for the analytics centre")
    page.fill("#duration", "30d")
    analyst.shot("request_form")
    page.click("button:has-text('Send request')")
    page.wait_for_url(re.compile(r".*/requests/r[0-9a-f]+$"))
    request_id = page.url.rpartition("/")[2]
    assert "pending" in analyst.flash()

    page.goto("/requests")
    assert request_id in page.inner_text("table.data")
    analyst.shot("my_requests")

    # the steward decides in the inbox: approve without the PII columns
    sp = steward.page
    sp.goto("/approvals")
    ticket = sp.locator("article.ticket", has_text=request_id)
    assert "credit-risk model" in ticket.inner_text()
    steward.shot("approvals_inbox")
    ticket.locator("button:has-text('Approve without PII')").click()
    sp.wait_for_url("**/approvals")
    assert f"Request {request_id} is approved." in steward.flash()

    # the consumer sees it approved, with its history, and queries
    page.goto(f"/requests/{request_id}")
    assert "approved" in page.inner_text("h1")
    assert STEWARD in page.inner_text("ol.history")
    page.click("a.button:has-text('Query')")
    page.wait_for_url("**/query?table=*")
    page.fill("#sql", f"SELECT customer_id, purpose, credit_amount FROM {PRODUCT} LIMIT 25")
    page.click("button:has-text('Run')")
    page.wait_for_selector("table.result")
    assert page.locator("table.result tbody tr").count() == 25
    assert "25 rows" in page.inner_text("main")
    analyst.shot("query")

    page.goto(f"/access?table={PRODUCT}")
    assert "may SELECT" in page.inner_text("section.explain")
    analyst.shot("access_explain")
    assert mesh.requests.show(request_id, as_=ANALYST)[0].status == "approved"


def test_a_steward_accepts_a_classification_recommendation(
    users: dict[str, User], mesh: Mesh
) -> None:
    steward = users[STEWARD]
    page = steward.page
    page.goto("/classification")
    row = page.locator("table.data tr", has_text="customer_id")
    assert "pii=true" in row.inner_text()
    steward.shot("classification_queue")
    row.locator("button:has-text('Accept')").click()
    page.wait_for_url("**/classification")
    assert "accepted" in steward.flash()
    assert page.locator("table.data tr", has_text="customer_id").count() == 0
    shown = mesh.catalog.show(PRODUCT, as_=STEWARD)
    tags = {c["name"]: c["tags"] for c in shown["columns"]}
    assert tags["customer_id"].get("pii") == "true"

    page.goto("/domains/consumer_banking")
    assert "Sync status" in page.inner_text("main")
    assert "ok" in page.inner_text("dl.facts.grid >> nth=1")
    steward.shot("domain")


def test_a_colleague_cannot_see_anothers_request(users: dict[str, User], mesh: Mesh) -> None:
    ticket = mesh.requests.create(PRODUCT, reason="only mine", as_=ANALYST)
    page = users[OTHER].page
    response = page.goto(f"/requests/{ticket.id}")
    assert response is not None and response.status == 404
    assert "only mine" not in page.content()
    assert "unknown request" in page.inner_text("main")
    page.goto("/requests")
    assert ticket.id not in page.inner_text("main")


def test_operators_pages_and_the_link_confirmation(
    users: dict[str, User], mesh: Mesh, browser: object, base_url: str
) -> None:
    admin = users[ADMIN]
    page = admin.page
    page.goto("/audit")
    page.click("button:has-text('verify the chain')")
    page.wait_for_selector("p.verify")
    assert "The chain verifies" in page.inner_text("p.verify")
    admin.shot("audit")
    page.goto("/events")
    assert "request.created" in page.inner_text("main")
    admin.shot("events")

    ticket = read_ticket(mesh, mesh.requests.create(PRODUCT, reason="link story", as_=OTHER).id)
    url = issue_links(mesh, ticket, STEWARD)["approve-exclude"]
    visitor = browser.new_context(base_url=base_url)  # type: ignore[attr-defined]  # no session
    try:
        link_page = visitor.new_page()
        link_page.goto("/links/" + url.rpartition("/links/")[2])
        assert "Approve without" in link_page.inner_text("main")
        assert mesh.requests.show(ticket.id, as_=STEWARD)[0].status == "pending"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        link_page.screenshot(path=str(SCREENSHOTS / "link_confirmation.png"), full_page=True)
        link_page.click("button:has-text('Confirm')")
        link_page.wait_for_selector("text=Decision recorded")
        assert mesh.requests.show(ticket.id, as_=STEWARD)[0].status == "approved"
    finally:
        visitor.close()
