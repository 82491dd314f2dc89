"""The web UI's pages over HTTP (FastAPI's TestClient): signing in and out, the session
cookie, CSRF on every form, the CSP and no inline script or style, user text escaped
everywhere it shows, approval links that decide only on POST, and every page rendering
for a steward and for a consumer.

The mesh is demo-like (``build_web_mesh``): consumer_banking's curated credit product
with an ODCS contract, quality measured twice, lineage, classification recommendations
(three accepted, one pending) and a hash mask on ``pii=true``; investment_banking's
holdings; the analytics consumer domain. Built once, copied per test.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from lakemesh.api.app import create_app
from lakemesh.mesh import Mesh

PRODUCT = "consumer_banking.curated.consumer_credit_profile"
HOLDINGS = "investment_banking.wealth.customer_holdings"
RAW = "consumer_banking.raw.kredit_raw"
STEWARD = "steward@consumer_banking"
ANALYST = "analyst@analytics"
OTHER = "other@analytics"
ADMIN = "admin@central"
EVIL = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
USERS = {
    STEWARD: "steward",
    "steward@investment_banking": "steward",
    "admin@analytics": "admin",
    ANALYST: "member",
    OTHER: "member",
}


def build_web_mesh(base: Path) -> Path:
    """The demo's story up to the point where the analyst comes in; returns the home."""
    from lakemesh.demo.datasets import curate_credit, find_contract, find_data, holdings
    from lakemesh.products.lineage import Dataset, emit_run, table_dataset

    cb, ib = base / "cb", base / "ib"
    data = find_data()
    landed = cb / "raw" / "kredit_raw" / "kredit_raw.csv"
    landed.parent.mkdir(parents=True)
    landed.write_bytes((data / "kredit_raw.csv").read_bytes())
    curated = curate_credit(landed, data / "columns.csv").slice(0, 200)
    target = cb / "curated" / "consumer_credit_profile" / "part-0.parquet"
    target.parent.mkdir(parents=True)
    pq.write_table(curated, target)
    for month, table in holdings(curated["customer_id"].to_pylist()).items():
        path = ib / "wealth" / "customer_holdings" / f"month={month}" / "part-0.parquet"
        path.parent.mkdir(parents=True)
        pq.write_table(table, path)
    home = base / "home"
    with Mesh.init(home) as mesh:
        mesh.domains.create("consumer_banking", str(cb), owners=[STEWARD])
        mesh.domains.create("investment_banking", str(ib))
        mesh.domains.create("analytics", str(base / "an"), kind="consumer", create=True)
        for name, role in USERS.items():
            mesh.access.create_user(name, role)
        mesh.access.define_tag("pii", ["true", "false"])
        mesh.domains.crawl("consumer_banking")
        mesh.domains.crawl("investment_banking")
        mesh.domains.sync()
        for column in ("email", "iban", "full_name"):  # customer_id stays in the queue
            mesh.classification.accept(f"{PRODUCT}.{column}", as_=STEWARD)
        mesh.access.mask(tag="pii=true", spec="hash")
        lineage = base / "lineage.jsonl"
        emit_run(
            lineage,
            job_namespace="consumer_banking",
            job_name="curate_consumer_credit_profile",
            inputs=[Dataset("file", str(landed))],
            outputs=[Dataset("file", str(target.parent))],
        )
        emit_run(
            lineage,
            job_namespace="analytics",
            job_name="credit_risk_model",
            inputs=[table_dataset(PRODUCT)],
            outputs=[Dataset("s3://analytics-models", "credit_risk")],
        )
        mesh.lineage.ingest(lineage)
        mesh.products.register(
            PRODUCT,
            description="Consumer credit profile: one row per credit application " + EVIL,
            contract_file=find_contract(),
            classification="confidential",
            sensitivity="high",
            as_=STEWARD,
        )
        mesh.products.check(PRODUCT, as_=STEWARD)  # a second point on the quality chart
        mesh.products.register(
            HOLDINGS, description="Monthly investment holdings per customer", as_=ADMIN
        )
    return home


class Page(HTMLParser):
    """What the tests look for in a page: inline script or style, POST forms and their
    CSRF fields, hidden inputs."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.forms: list[dict[str, str]] = []
        self.hidden: dict[str, str] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "script" and not a.get("src"):
            self.inline.append("<script> without src")
        if tag == "style":
            self.inline.append("<style>")
        if "style" in a:
            self.inline.append(f"style= on <{tag}>")
        self.inline += [f"{k}= on <{tag}>" for k in a if k.startswith("on")]
        if tag == "a" and a.get("href", "").lower().startswith("javascript:"):
            self.inline.append("javascript: link")
        if tag == "form" and a.get("method", "get").lower() == "post":
            self.forms.append({"action": a.get("action", ""), "csrf": ""})
        if tag == "input" and a.get("type") == "hidden":
            self.hidden.setdefault(a.get("name", ""), a.get("value", ""))
            if self.forms and a.get("name") in ("csrf", "confirm"):
                self.forms[-1]["csrf"] = a.get("value", "")


@pytest.fixture(scope="session")
def web_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_web_mesh(tmp_path_factory.mktemp("web"))


@pytest.fixture
def web_mesh(web_template: Path, tmp_path: Path) -> Iterator[Mesh]:
    shutil.copytree(web_template, tmp_path / "home")
    with Mesh.open(tmp_path / "home") as mesh:
        yield mesh


@pytest.fixture
def app_client(web_mesh: Mesh) -> Iterator[TestClient]:
    with TestClient(create_app(mesh=web_mesh, worker=False)) as client:
        yield client


def sign_in(client: TestClient, mesh: Mesh, user: str) -> str:
    """Sign ``user`` in through the form; returns its session's CSRF token."""
    form = Page(client.get("/signin").text)
    response = client.post(
        "/signin",
        data={"token": mesh.access.new_token(user), "csrf": form.hidden["csrf"], "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client)


def csrf_of(client: TestClient) -> str:
    return Page(client.get("/").text).hidden["csrf"]


def as_user(app: TestClient, mesh: Mesh, user: str) -> TestClient:
    """A second browser on the same app."""
    client = TestClient(app.app)
    sign_in(client, mesh, user)
    return client


PAGES = [
    "/",
    "/?q=credit",
    f"/tables/{PRODUCT}",
    f"/tables/{PRODUCT}/request",
    "/requests",
    "/approvals",
    "/classification",
    "/domains",
    "/domains/consumer_banking",
    f"/access?table={PRODUCT}",
    "/access",
    "/audit",
    "/audit?verify=true&action=catalog.search",
    "/events",
    "/query",
    f"/query?table={PRODUCT}",
]


PUBLIC = ["/signin"]


def _location(response: object) -> str:
    return str(getattr(response, "headers", {}).get("location", ""))


# --------------------------------------------------------------------------- sessions


def test_signed_out_pages_redirect_to_the_sign_in_page(app_client: TestClient) -> None:
    for path in PAGES:
        response = app_client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert _location(response).startswith("/signin?next=/"), path
    posted = app_client.post("/query", data={"sql": "select 1"}, follow_redirects=False)
    assert posted.status_code == 303
    assert _location(posted).startswith("/signin")


def test_sign_in_sets_a_strict_http_only_session_cookie_and_sign_out_ends_it(
    app_client: TestClient, web_mesh: Mesh
) -> None:
    form = Page(app_client.get("/signin").text)
    token = web_mesh.access.new_token(ANALYST)
    response = app_client.post(
        "/signin",
        data={"token": token, "csrf": form.hidden["csrf"], "next": "/requests"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert _location(response) == "/requests"
    assert token not in _location(response)
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("lakemesh_session=")
    )
    flags = {f.strip().lower() for f in cookie.split(";")[1:]}
    assert {"httponly", "path=/", "samesite=strict"} <= flags
    assert "secure" not in flags  # plain http: a Secure cookie would never come back
    assert ANALYST in app_client.get("/requests").text
    csrf = csrf_of(app_client)
    out = app_client.post("/signout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert app_client.get("/requests", follow_redirects=False).status_code == 303
    records = web_mesh.audit.records(principal=ANALYST)
    assert {"session.open", "session.close"} <= {r.action for r in records}
    opened = next(r for r in records if r.action == "session.open")
    assert opened.details["via"] == "web" and token not in str(opened.details)


def test_the_session_cookie_is_secure_over_https(app_client: TestClient, web_mesh: Mesh) -> None:
    client = TestClient(app_client.app, base_url="https://testserver")
    form = Page(client.get("/signin").text)
    response = client.post(
        "/signin",
        data={"token": web_mesh.access.new_token(ANALYST), "csrf": form.hidden["csrf"]},
        follow_redirects=False,
    )
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("lakemesh_session=")
    )
    assert "secure" in {f.strip().lower() for f in cookie.split(";")}


def test_a_wrong_token_is_refused_on_the_page_and_an_outside_next_is_ignored(
    app_client: TestClient, web_mesh: Mesh
) -> None:
    form = Page(app_client.get("/signin").text)
    bad = app_client.post("/signin", data={"token": "lm_nope", "csrf": form.hidden["csrf"]})
    assert bad.status_code == 401
    assert "that token is not valid" in bad.text
    form = Page(bad.text)
    response = app_client.post(
        "/signin",
        data={
            "token": web_mesh.access.new_token(ANALYST),
            "csrf": form.hidden["csrf"],
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert _location(response) == "/"


def test_forms_without_or_with_a_wrong_csrf_token_are_refused(
    app_client: TestClient, web_mesh: Mesh
) -> None:
    no_csrf = app_client.post("/signin", data={"token": web_mesh.access.new_token(ANALYST)})
    assert no_csrf.status_code == 403
    csrf = sign_in(app_client, web_mesh, ANALYST)
    form = {"reason": "churn model", "columns": ["customer_id"], "every": ["customer_id"]}
    for sent in (None, "", "0" * 64, csrf[:-1] + ("0" if csrf[-1] != "0" else "1")):
        data = dict(form) if sent is None else {**form, "csrf": sent}
        response = app_client.post(f"/tables/{PRODUCT}/request", data=data)
        assert response.status_code == 403, sent
        assert "did not come from this site" in response.text
    assert web_mesh.requests.list(as_=ANALYST) == []  # nothing was asked
    refused = app_client.post("/signout", data={"csrf": "x"})
    assert refused.status_code == 403
    assert app_client.get("/", follow_redirects=False).status_code == 200  # still signed in
    ok = app_client.post(f"/tables/{PRODUCT}/request", data={**form, "csrf": csrf})
    assert ok.status_code == 200  # after the redirect
    assert len(web_mesh.requests.list(as_=ANALYST)) == 1


# --------------------------------------------------------------------------- pages


@pytest.mark.parametrize("user", [STEWARD, ANALYST])
def test_every_page_renders_with_the_csp_and_no_inline_script_or_style(
    app_client: TestClient, web_mesh: Mesh, user: str
) -> None:
    ticket = web_mesh.requests.create(PRODUCT, reason="churn model", as_=ANALYST)
    client = as_user(app_client, web_mesh, user)
    for path in [*PAGES, f"/requests/{ticket.id}", f"/tables/{HOLDINGS}", *PUBLIC]:
        response = client.get(path)
        assert response.status_code == 200, (user, path, response.text[:500])
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp, path
        page = Page(response.text)
        assert page.inline == [], (path, page.inline)
        assert all(f["csrf"] for f in page.forms), (path, page.forms)
    css = client.get("/static/lakemesh.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_user_text_is_escaped_on_every_page_that_shows_it(
    app_client: TestClient, web_mesh: Mesh
) -> None:
    analyst = as_user(app_client, web_mesh, ANALYST)
    csrf = csrf_of(analyst)
    done = analyst.post(
        f"/tables/{PRODUCT}/request",
        data={"csrf": csrf, "reason": EVIL, "duration": "30d", "columns": ["customer_id", "email"]},
    )
    assert done.status_code == 200
    [ticket] = web_mesh.requests.list(as_=ANALYST)
    steward = as_user(app_client, web_mesh, STEWARD)
    from lakemesh.service.requests import issue_links

    link = issue_links(web_mesh, ticket, STEWARD)["approve"]
    shown = [
        (analyst, "/"),
        (analyst, "/?q=credit"),
        (analyst, f"/tables/{PRODUCT}"),
        (analyst, "/requests"),
        (analyst, f"/requests/{ticket.id}"),
        (steward, "/approvals"),
        (steward, f"/requests/{ticket.id}"),
        (app_client, link.partition("/links/")[1] + link.partition("/links/")[2]),
    ]
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for client, path in shown:
        html = client.get(path).text
        assert escaped in html, path
        assert "<script>" not in html and "<img" not in html, path
        assert Page(html).inline == [], path
    # a query's result and its error message carry what the user typed: escaped too
    result = analyst.post("/query", data={"csrf": csrf, "sql": "select '<b>x</b>' as v"})
    assert result.status_code == 200 and "&lt;b&gt;x&lt;/b&gt;" in result.text
    refused = analyst.post("/query", data={"csrf": csrf, "sql": "selec '<b>x</b>' frm"})
    assert refused.status_code == 403  # a refused query says only that, with a correlation id
    assert "<b>" not in refused.text


def test_a_failed_post_shows_one_line_with_its_status(
    app_client: TestClient, web_mesh: Mesh
) -> None:
    ticket = web_mesh.requests.create(PRODUCT, reason="churn model", as_=ANALYST)
    analyst = as_user(app_client, web_mesh, ANALYST)
    csrf = csrf_of(analyst)
    refused = analyst.post(
        f"/requests/{ticket.id}/approve", data={"csrf": csrf, "mode": "full", "back": "inbox"}
    )
    assert refused.status_code == 403
    assert re.search(r'class="flash flash-error"[^>]*>[^<]*may not decide', refused.text)
    assert "Traceback" not in refused.text
    bad = analyst.post("/query", data={"csrf": csrf, "sql": f"select * from {PRODUCT}"})
    assert bad.status_code == 403  # no grant yet: refused, with a correlation id only
    assert 'class="flash flash-error"' in bad.text


def test_a_consumer_cannot_see_another_consumers_request(
    app_client: TestClient, web_mesh: Mesh
) -> None:
    ticket = web_mesh.requests.create(PRODUCT, reason="churn model", as_=ANALYST)
    other = as_user(app_client, web_mesh, OTHER)
    theirs = other.get(f"/requests/{ticket.id}")
    unknown = other.get("/requests/r000000000000")
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.text.replace(ticket.id, "ID") == unknown.text.replace("r000000000000", "ID")
    assert "churn model" not in theirs.text
    assert ticket.id not in other.get("/requests").text
    mine = as_user(app_client, web_mesh, ANALYST).get(f"/requests/{ticket.id}")
    assert mine.status_code == 200 and "churn model" in mine.text


def test_a_steward_approves_without_pii_in_the_inbox_and_the_consumer_queries(
    app_client: TestClient, web_mesh: Mesh
) -> None:
    analyst = as_user(app_client, web_mesh, ANALYST)
    form = analyst.get(f"/tables/{PRODUCT}/request").text
    columns = re.findall(r'name="columns" value="([^"]+)" checked', form)
    assert "email" in columns and len(columns) > 20  # every column checked to begin with
    nothing = analyst.post(
        f"/tables/{PRODUCT}/request",
        data={"csrf": csrf_of(analyst), "reason": "credit risk model", "every": columns},
    )
    assert nothing.status_code == 400 and "check at least one column" in nothing.text
    analyst.post(
        f"/tables/{PRODUCT}/request",
        data={
            "csrf": csrf_of(analyst),
            "reason": "credit risk model",
            "duration": "30d",
            "columns": columns,
            "every": columns,
        },
    )
    [ticket] = web_mesh.requests.list(as_=ANALYST)
    assert ticket.status == "pending"  # the whole table: PII columns included
    steward = as_user(app_client, web_mesh, STEWARD)
    inbox = Page(steward.get("/approvals").text)
    assert any(f["action"] == f"/requests/{ticket.id}/approve" for f in inbox.forms)
    page = steward.get("/approvals").text
    excluded = re.findall(r'name="exclude" value="([^"]+)"', page)
    assert sorted(excluded) == ["email", "full_name", "iban"]
    done = steward.post(
        f"/requests/{ticket.id}/approve",
        data={
            "csrf": csrf_of(steward),
            "mode": "without-pii",
            "exclude": excluded,
            "back": "inbox",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303 and _location(done) == "/approvals"
    assert f"Request {ticket.id} is approved." in steward.get("/approvals").text
    detail = analyst.get(f"/requests/{ticket.id}").text
    assert "approved" in detail and STEWARD in detail
    result = analyst.post(
        "/query",
        data={"csrf": csrf_of(analyst), "sql": f"select customer_id, purpose from {PRODUCT}"},
    )
    assert result.status_code == 200
    assert "200 rows" in result.text


# --------------------------------------------------------------------------- approval links


def _link(mesh: Mesh, decision: str = "approve") -> tuple[str, str]:
    from lakemesh.service.requests import issue_links

    ticket = mesh.requests.create(PRODUCT, reason="churn model", as_=ANALYST)
    url = issue_links(mesh, ticket, STEWARD)[decision]
    return ticket.id, "/links/" + url.rpartition("/links/")[2]


def test_an_approval_link_decides_only_on_the_confirmation_post(
    app_client: TestClient, web_mesh: Mesh
) -> None:
    request_id, path = _link(web_mesh)
    preview = app_client.get(path)  # a mail scanner, or the approver's first click
    assert preview.status_code == 200
    assert "Approve in full" in preview.text and STEWARD in preview.text
    assert web_mesh.requests.show(request_id, as_=STEWARD)[0].status == "pending"
    app_client.get(path)
    app_client.head(path)
    assert web_mesh.requests.show(request_id, as_=STEWARD)[0].status == "pending"
    confirm = Page(preview.text).hidden["confirm"]
    forged = app_client.post(path, data={"confirm": "0" * 64})
    assert forged.status_code == 403
    assert web_mesh.requests.show(request_id, as_=STEWARD)[0].status == "pending"
    done = app_client.post(path, data={"confirm": confirm, "comment": "fine"})
    assert done.status_code == 200, done.text
    ticket, history = web_mesh.requests.show(request_id, as_=STEWARD)
    assert ticket.status == "approved" and ticket.decided_by == STEWARD
    assert history[-1].comment == "fine"
    again = app_client.get(path)
    assert again.status_code == 409 and "already decided" in again.text
    replay = app_client.post(path, data={"confirm": confirm})
    assert replay.status_code == 409


def test_a_forged_or_expired_link_shows_one_clear_line(
    app_client: TestClient, web_mesh: Mesh
) -> None:
    _, path = _link(web_mesh, "reject")
    token = path.rpartition("/")[2]
    prefix, body, mac = token.split(".")
    tampered = f"/links/{prefix}.{body}.{'A' * len(mac)}"
    for bad in ("/links/lmr1.e30.AAAA", "/links/nonsense", tampered, "/links/" + "x" * 5000):
        response = app_client.get(bad)
        assert response.status_code == 403, bad
        assert "invalid approval link" in response.text
        assert "Traceback" not in response.text
        assert app_client.post(bad, data={"confirm": "x"}).status_code == 403
    from lakemesh.service.requests import issue_links, read_ticket

    settings = web_mesh.settings
    settings.workflow.link_ttl_seconds = 1
    ticket = read_ticket(web_mesh, web_mesh.requests.create(PRODUCT, reason="x", as_=OTHER).id)
    url = issue_links(web_mesh, ticket, STEWARD)["approve"]
    time.sleep(1.2)
    expired = app_client.get("/links/" + url.rpartition("/links/")[2])
    assert expired.status_code == 403 and "expired" in expired.text
