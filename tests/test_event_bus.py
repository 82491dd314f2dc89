"""The event bus of a mesh, with real targets: a webhook receiver and an SMTP server on
loopback. Events are routed once, delivered at least once, retried with backoff, dead-
lettered past the retry window and redriven; a crash between a change and its delivery
loses nothing; duplicates change nothing; the approval mail's link decides the request."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from standardwebhooks.webhooks import Webhook

from lakemesh.errors import InvalidInput, NotFound, PermissionDenied
from lakemesh.events import mail
from lakemesh.home import write_settings
from lakemesh.mesh import Mesh
from lakemesh.store import tables as t
from tests import govmesh
from tests.conftest import Cli
from tests.pgserver import free_port
from tests.smtp_server import SmtpServer

ORDERS = "cb.sales.orders"
CUSTOMERS = "cb.sales.customers"
ANALYST = "analyst@analytics"
REQUESTS = '{"type": [{"prefix": "request."}]}'

pytestmark = govmesh.ON_BOTH_STORES


class Receiver:
    """A webhook endpoint on loopback: answers ``status`` (or redirects), keeps what it got."""

    def __init__(self, port: int | None = None, status: int = 204) -> None:
        self.port = port or free_port()
        self.status = status
        self.location: str | None = None
        self.got: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("location", receiver.location)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def configure(mesh: Mesh, **changes: Any) -> Mesh:
    """Write settings and reopen (settings are read when a mesh opens)."""
    settings = mesh.settings.model_copy(deep=True)
    settings.events.allow_private_targets = True
    settings.events.retry_base_seconds = 0.02
    settings.events.retry_cap_seconds = 0.05
    settings.events.retry_window_seconds = 0.4
    for key, value in changes.items():
        setattr(settings, key, value)
    write_settings(mesh.home, settings)
    mesh.close()
    return Mesh.open(mesh.home)


@pytest.fixture
def mesh(gov: Mesh) -> Iterator[Mesh]:
    gov.access.assign_tag(f"{CUSTOMERS}.email", "pii=true", as_="steward@cb")
    gov.products.register(CUSTOMERS, owner="steward@cb")
    gov.products.register(ORDERS, owner="steward@cb")
    m = configure(gov)
    yield m
    m.close()


def drain(mesh: Mesh, until: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "the bus did not get there in time"
        mesh.bus.run_once()
        time.sleep(0.02)


def deliveries(mesh: Mesh) -> list[dict[str, Any]]:
    with mesh.store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(t.deliveries))]


# --------------------------------------------------------------------------- webhooks


def test_a_webhook_receives_signed_events(mesh: Mesh, receiver: Receiver) -> None:
    hook = mesh.bus.add_webhook(receiver.url, REQUESTS)
    assert hook["secret"].startswith("whsec_")
    ticket = mesh.requests.create(ORDERS, reason="dashboards", as_=ANALYST)
    drain(mesh, lambda: len(receiver.got) >= 2)
    types = []
    for headers, body in receiver.got:
        event = Webhook(hook["secret"]).verify(body, headers)  # raises if forged
        assert headers["webhook-id"] == event["id"]
        types.append(event["type"])
        assert event["detail"]["request_id"] == ticket.id
    assert sorted(types) == ["request.approved", "request.created"]
    assert all(d["state"] == "delivered" for d in deliveries(mesh))
    listed = mesh.bus.targets(kind="webhook")
    assert [h["id"] for h in listed] == [hook["id"]]
    assert "secret" not in listed[0]


def test_webhooks_to_loopback_are_refused_unless_allowed(gov: Mesh, receiver: Receiver) -> None:
    with pytest.raises(InvalidInput, match="loopback"):
        gov.bus.add_webhook(receiver.url, REQUESTS)
    assert gov.bus.targets(kind="webhook") == []


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        ("{}", "pattern"),
        ("not json", "pattern"),
        ('{"type": "request.created"}', "pattern"),
        ('{"type": [{"prefx": "a"}]}', "pattern"),
    ],
)
def test_a_bad_pattern_is_refused(mesh: Mesh, receiver: Receiver, pattern: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        mesh.bus.add_webhook(receiver.url, pattern)


def test_a_domains_webhook_sees_its_domains_events_only(mesh: Mesh, receiver: Receiver) -> None:
    with pytest.raises(InvalidInput, match="only match events of your domain"):
        mesh.bus.add_webhook(receiver.url, '{"source": ["ib"]}', as_="steward@cb")
    with pytest.raises(PermissionDenied):
        mesh.bus.add_webhook(receiver.url, REQUESTS, as_="member@cb")
    hook = mesh.bus.add_webhook(receiver.url, '{"type": [{"prefix": ""}]}', as_="steward@cb")
    assert hook["pattern"]["source"] == ["cb"]
    mesh.requests.create("ib.wealth.holdings", reason="x", as_="steward@ib")  # ib's: not cb's
    mesh.requests.create(ORDERS, reason="x", as_=ANALYST)
    drain(mesh, lambda: len(receiver.got) >= 2)
    mesh.bus.run_once()
    assert {json.loads(b)["source"] for _, b in receiver.got} == {"cb"}
    with pytest.raises(NotFound):
        mesh.bus.remove(hook["id"], as_="steward@ib")
    mesh.bus.remove(hook["id"], as_="steward@cb")
    assert mesh.bus.targets(kind="webhook") == []


def test_an_unreachable_webhook_is_retried_then_dead_lettered_then_redriven(mesh: Mesh) -> None:
    port = free_port()
    hook = mesh.bus.add_webhook(f"http://127.0.0.1:{port}/hook", REQUESTS)
    mesh.requests.create(ORDERS, reason="x", as_=ANALYST)
    drain(mesh, lambda: len(mesh.bus.dead_letters()) == 2)
    dead = mesh.bus.dead_letters()
    assert all(d["attempts"] >= 2 for d in dead), dead  # retried before giving up
    assert all(d["target"] == f"webhook:{hook['id']}" for d in dead)
    assert all(d["last_error"] for d in dead)
    later = Receiver(port)
    try:
        assert sorted(mesh.bus.redrive([d["id"] for d in dead])) == sorted(d["id"] for d in dead)
        drain(mesh, lambda: len(later.got) == 2)
        assert mesh.bus.dead_letters() == []
        with pytest.raises(InvalidInput, match="not in the dead-letter queue"):
            mesh.bus.redrive([dead[0]["id"]])
    finally:
        later.close()
    types = [e["type"] for e in mesh.events.recent(5)]
    assert "events.redriven" in types


def test_a_redirecting_webhook_is_not_followed(mesh: Mesh, receiver: Receiver) -> None:
    elsewhere = Receiver()
    try:
        receiver.status, receiver.location = 307, elsewhere.url
        mesh.bus.add_webhook(receiver.url, REQUESTS)
        mesh.requests.create(ORDERS, reason="x", as_=ANALYST)
        drain(mesh, lambda: len(mesh.bus.dead_letters()) == 2)
        assert elsewhere.got == []
        assert "redirect" in (mesh.bus.dead_letters()[0]["last_error"] or "")
    finally:
        elsewhere.close()


def test_a_gone_webhook_is_dead_at_once(mesh: Mesh, receiver: Receiver) -> None:
    receiver.status = 410
    mesh.bus.add_webhook(receiver.url, REQUESTS)
    mesh.requests.create(ORDERS, reason="x", as_=ANALYST)
    mesh.bus.run_once()
    dead = mesh.bus.dead_letters()
    assert len(dead) == 2
    assert all(d["attempts"] == 1 for d in dead)


def test_only_the_mesh_admin_reads_and_redrives_the_queue(mesh: Mesh) -> None:
    with pytest.raises(PermissionDenied):
        mesh.bus.dead_letters(as_="steward@cb")
    with pytest.raises(PermissionDenied):
        mesh.bus.redrive(as_="steward@cb")


# --------------------------------------------------------------------------- at least once, once


def test_a_crash_between_the_change_and_its_delivery_loses_nothing(
    mesh: Mesh, receiver: Receiver
) -> None:
    mesh.bus.add_webhook(receiver.url, REQUESTS)
    ticket = mesh.requests.create(ORDERS, reason="x", as_=ANALYST)
    home = mesh.home
    mesh.close()  # the process ends before any worker ran: the events are in the outbox
    with Mesh.open(home) as again:
        drain(again, lambda: len(receiver.got) == 2)
        got = {json.loads(b)["detail"]["request_id"] for _, b in receiver.got}
        assert got == {ticket.id}


def test_a_deliverer_dying_mid_send_leaves_the_delivery_due_again(
    mesh: Mesh, receiver: Receiver
) -> None:
    mesh.bus.add_webhook(receiver.url, '{"type": ["request.created"]}')
    mesh.requests.create(ORDERS, reason="x", as_=ANALYST)
    mesh.bus.bus.route()
    (d,) = deliveries(mesh)
    assert mesh.bus.bus._claim(d["id"], d["next_at"]) is not None  # claimed, then "died"
    assert mesh.bus.bus.deliver().delivered == 0  # leased: not due
    with mesh.store.write() as conn:  # the lease runs out
        conn.execute(update(t.deliveries).values(next_at=d["next_at"]))
    assert mesh.bus.bus.deliver().delivered == 1
    assert len(receiver.got) == 1


def test_duplicate_and_out_of_order_events_change_nothing(mesh: Mesh) -> None:
    first = mesh.requests.create(CUSTOMERS, reason="x", as_=ANALYST)
    mesh.requests.approve(first.id, as_="steward@cb")
    mesh.bus.run_once()

    def inbox_rows() -> int:
        with mesh.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(t.inbox)).scalar_one())

    before = inbox_rows()
    with mesh.store.write() as conn:  # every event routed again, oldest last
        conn.execute(update(t.outbox).values(delivered_at=None))
    mesh.bus.run_once()
    assert inbox_rows() == before
    assert mesh.requests.show(first.id, as_=ANALYST)[0].status == "approved"


def test_two_routers_never_route_an_event_twice(mesh: Mesh) -> None:
    mesh.requests.create(ORDERS, reason="x", as_=ANALYST)
    mesh.requests.create(CUSTOMERS, reason="y", as_=ANALYST)
    results: list[int] = []

    def route() -> None:
        with Mesh.open(mesh.home) as m:
            results.append(m.bus.bus.route(1000).events)

    threads = [threading.Thread(target=route) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    with mesh.store.read() as conn:
        total = conn.execute(select(func.count()).select_from(t.outbox)).scalar_one()
        left = conn.execute(
            select(func.count()).select_from(t.outbox).where(t.outbox.c.delivered_at.is_(None))
        ).scalar_one()
    assert left == 0
    assert sum(results) == total  # each event routed by exactly one of them


# --------------------------------------------------------------------------- inboxes, subscriptions


def test_an_approved_consumer_hears_of_the_tables_changes_until_revoked(mesh: Mesh) -> None:
    from lakemesh import events

    ticket = mesh.requests.create(ORDERS, reason="x", as_=ANALYST)
    subs = mesh.bus.targets(kind="subscription", as_=ANALYST)
    assert [s["table"] for s in subs] == [ORDERS]

    def schema_change() -> None:
        with mesh.store.write() as conn:
            events.emit(
                conn,
                events.SchemaChanged(
                    domain="cb", table=ORDERS, version=9, breaking=True, changes=[]
                ),
            )
        mesh.bus.run_once()

    def heard() -> int:
        return sum(r["type"] == "catalog.schema.changed" for r in mesh.bus.inbox(as_=ANALYST))

    schema_change()
    assert heard() == 1
    mesh.requests.revoke(ticket.id, as_=ANALYST)
    schema_change()
    assert heard() == 1  # no longer allowed to see it: not told


def test_a_subscription_needs_a_table_the_user_may_see(mesh: Mesh) -> None:
    with pytest.raises(NotFound, match="unknown table"):
        mesh.bus.subscribe("ib.wealth.holdings", as_=ANALYST)
    with pytest.raises(InvalidInput, match="invalid --events"):
        mesh.bus.subscribe(ORDERS, topics=["gossip"], as_=ANALYST)
    with pytest.raises(InvalidInput, match="no e-mail address"):
        mesh.bus.subscribe(ORDERS, via="email", as_=ANALYST)


# --------------------------------------------------------------------------- mail


def _with_mail(mesh: Mesh, port: int) -> Mesh:
    mesh.access.set_email("steward@cb", "steward@cb.example")
    mesh.access.set_email(ANALYST, "analyst@analytics.example")
    return configure(mesh, mail=mail.SmtpSettings(port=port))


def _links(message: Any) -> dict[str, str]:
    body = message.get_body(("plain",)).get_content()
    return {
        m.group(1): m.group(2)
        for m in re.finditer(r"^(Approve|Approve without [^:]+|Reject): (\S+)$", body, re.M)
    }


def test_the_steward_approves_by_the_link_in_the_mail(mesh: Mesh, cli: Cli) -> None:
    with SmtpServer() as server:
        m = _with_mail(mesh, server.port)
        try:
            ticket = m.requests.create(CUSTOMERS, reason="churn model", as_=ANALYST)
            m.bus.run_once()
            (asked,) = server.wait_for(1)
            assert asked.recipients == ["steward@cb.example"]
            assert ticket.id in asked.message["subject"]
            found = _links(asked.message)
            assert set(found) == {"Approve", "Approve without email", "Reject"}
            cli.home = m.home
            code, out, err = cli("request", "approve", "--link", found["Approve without email"])
            assert code == 0, err
            assert "approved" in out
            code, _, err = cli("request", "approve", "--link", found["Approve without email"])
            assert code == 1 and "already" in err
            code, _, err = cli("request", "reject", "--link", found["Reject"], "--as", ANALYST)
            assert code == 1 and "another approver" in err
            m.bus.run_once()
            _, told = server.wait_for(2)
            assert told.recipients == ["analyst@analytics.example"]
            assert "approved" in told.message["subject"]
        finally:
            m.close()


def test_with_the_mail_server_down_the_decision_stands_and_the_mail_is_retried(
    mesh: Mesh,
) -> None:
    port = free_port()
    m = _with_mail(mesh, port)
    m.close()
    settings = m.settings.model_copy(deep=True)
    settings.events.retry_window_seconds = 600.0
    write_settings(m.home, settings)
    m = Mesh.open(m.home)
    try:
        ticket = m.requests.create(CUSTOMERS, reason="churn model", as_=ANALYST)
        done = m.requests.approve(ticket.id, as_="steward@cb")
        assert done.status == "approved"
        m.bus.run_once()
        pending = [d for d in deliveries(m) if d["state"] == "pending"]
        assert pending and all("cannot send mail" in (d["last_error"] or "") for d in pending)
        server = SmtpServer()
        server.port = port  # the mail server comes back where the mesh mails to
        with server:
            with m.store.write() as conn:
                conn.execute(update(t.deliveries).values(next_at=t.deliveries.c.first_at))
            drain(m, lambda: all(d["state"] == "delivered" for d in deliveries(m)))
            assert any(r.recipients == ["analyst@analytics.example"] for r in server.received)
    finally:
        m.close()


# --------------------------------------------------------------------------- the CLI


def test_cli_webhook_events_and_worker(mesh: Mesh, cli: Cli, tmp_path: Path) -> None:
    cli.home = mesh.home
    port = free_port()
    code, out, err = cli("webhook", "add", f"http://127.0.0.1:{port}/h", "--pattern", REQUESTS)
    assert code == 0, err
    assert "signing secret (shown once): whsec_" in out
    code, out, _ = cli("webhook", "list", "--json")
    assert "whsec_" not in out
    mesh.requests.create(ORDERS, reason="x", as_=ANALYST)
    deadline = time.monotonic() + 10
    while True:
        code, out, err = cli("worker", "--once")
        assert code == 0, err
        code, out, _ = cli("events", "dlq", "--json")
        if len(json.loads(out)) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    dead = json.loads(out)
    assert len(dead) == 2
    code, out, err = cli("events", "redrive", str(dead[0]["id"]))
    assert code == 0, err
    assert "redriven: 1 delivery" in out
    code, out, err = cli("events", "redrive", "999999")
    assert code == 1 and "not in the dead-letter queue: 999999" in err
    code, out, _ = cli("events", "status", "--json")
    assert json.loads(out)["pending"] == 1
    code, out, err = cli("webhook", "add", "ftp://127.0.0.1/h", "--pattern", REQUESTS)
    assert code == 1 and err.count("\n") == 1
    code, out, err = cli("inbox", "cb", "--as", "member@cb")
    assert code == 0, err
    assert "request.created" in out
    code, out, err = cli("inbox", "cb", "--as", ANALYST)
    assert code == 1 and "unknown inbox" in err


def test_a_pattern_matches_on_the_tables_tags(mesh: Mesh, receiver: Receiver) -> None:
    mesh.bus.add_webhook(receiver.url, '{"type": ["request.created"], "tags": ["pii=true"]}')
    mesh.requests.create(ORDERS, reason="x", as_=ANALYST)
    pii = mesh.requests.create(CUSTOMERS, reason="y", as_=ANALYST)
    drain(mesh, lambda: len(receiver.got) >= 1)
    mesh.bus.run_once()
    (only,) = [json.loads(body) for _, body in receiver.got]
    assert only["detail"]["request_id"] == pii.id
    assert "pii=true" in only["tags"]


def test_routing_counts_what_it_wrote(mesh: Mesh) -> None:
    mesh.requests.create(CUSTOMERS, reason="x", as_=ANALYST)
    routed = mesh.bus.bus.route()
    with mesh.store.read() as conn:
        written = conn.execute(select(func.count()).select_from(t.inbox)).scalar_one()
    assert routed.events >= 1
    assert routed.inbox == written == 3  # the owning domain, the requester, its domain
