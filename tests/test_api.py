"""The HTTP API: every route, for every kind of caller, against a real governed mesh.

The matrix (in the manner of Unity Catalog's per-securable permission tests) names, for
each route under ``/api/v1``, the status each caller gets: the mesh admin, the owning
domain's admin and steward, another domain's steward, a consumer, a member of another
domain, no token and a bad token. Every refusal of an authenticated caller must be in the
audit log; a route added without a row fails ``test_every_route_is_in_the_matrix``.
Then the limits every request is held to: unknown fields, body size (declared and
chunked, on a real server), rate, correlation ids, security headers, and a bug's 500.
"""

from __future__ import annotations

import gzip
import json
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from lakemesh.api.app import CSP, create_app
from lakemesh.home import load_settings, write_settings
from lakemesh.mesh import Mesh
from lakemesh.metadata.domains import get_domain
from lakemesh.workflow.rules import DEFAULT_RULES
from tests.files import write_parquet

API = "/api/v1"

#: The callers of the matrix, by letter: who they are (None: no user at all).
ROLES: dict[str, str | None] = {
    "A": "admin@central",  # the mesh admin
    "D": "admin@cb",  # the owning domain's admin
    "S": "steward@cb",  # a steward of the owning domain
    "O": "steward@ib",  # a steward of another domain
    "C": "analyst@analytics",  # a consumer (the requester of the tickets below)
    "X": "reader@ib",  # a member of another domain
    "N": None,  # no token
    "B": None,  # a bad token
}
#: Every user with a token: the callers, and a second consumer of the analytics domain.
USERS = [*(u for u in ROLES.values() if u), "other@analytics"]

ORDERS = "cb.sales.orders"
CUSTOMERS = "cb.sales.customers"
CONTACTS = "cb.crm.contacts"
CONTRACT = {
    "apiVersion": "v3.1.0",
    "kind": "DataContract",
    "id": "orders",
    "version": "1.0.0",
    "schema": [
        {
            "name": "orders",
            "properties": [
                {"name": "id", "logicalType": "integer", "required": True},
                {"name": "amount", "logicalType": "number"},
            ],
        }
    ],
}


def run_event(output: str = ORDERS, source: str = CUSTOMERS) -> dict[str, Any]:
    """An OpenLineage run event: a job that reads ``source`` and writes ``output``."""

    def dataset(name: str) -> dict[str, str]:
        domain, _, rest = name.partition(".")
        return {"namespace": f"lakemesh://{domain}", "name": rest}

    return {
        "eventType": "COMPLETE",
        "eventTime": "2024-05-01T10:00:00Z",
        "producer": "https://example.com/etl",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "etl", "name": "orders_job"},
        "inputs": [dataset(source)],
        "outputs": [dataset(output)],
    }


# --------------------------------------------------------------------------- the mesh


@dataclass
class World:
    """The prepared mesh: its home, and the tokens and object ids the rows refer to."""

    home: Path
    tokens: dict[str, str]
    ids: dict[str, str]


def build_world(gov_template: Path, base: Path) -> World:
    """The governance template plus what every route needs to act on: a pii tag, two
    products (one with a contract), a routed and an approved request, a grant, a domain
    alert, classification recommendations, a webhook, a subscription, a glossary term
    and lineage."""
    home = base / "home"
    shutil.copytree(gov_template, home)
    settings = load_settings(home)
    events = settings.events.model_copy(update={"allow_private_targets": True})
    write_settings(home, settings.model_copy(update={"events": events}))
    ids: dict[str, str] = {}
    with Mesh.open(home) as mesh:
        cb_root = Path(mesh.domains.get("cb").storage_uri)
        write_parquet(
            cb_root / "crm" / "contacts" / "c.parquet",
            {"contact_id": list(range(20)), "email": [f"u{i}@example.com" for i in range(20)]},
        )
        mesh.domains.crawl("cb")
        mesh.domains.sync(["cb"])  # classifies contacts: two pending recommendations
        mesh.access.create_user("reader@ib", "member")
        tokens = {u: mesh.access.new_token(u) for u in USERS}
        mesh.access.assign_tag(f"{CUSTOMERS}.email", "pii=true", as_="steward@cb")
        mesh.products.register(ORDERS, contract=yaml.safe_dump(CONTRACT), as_="steward@cb")
        mesh.products.register(CUSTOMERS, as_="steward@cb")
        pending = mesh.requests.create(CUSTOMERS, reason="churn model", as_="analyst@analytics")
        approved = mesh.requests.create(ORDERS, reason="revenue", as_="analyst@analytics")
        assert (pending.status, approved.status) == ("pending", "approved")
        ids["pending"], ids["approved"] = pending.id, approved.id
        from lakemesh.access.grants import GrantRequest

        grant = mesh.access.grant(
            GrantRequest(actions=("SELECT",), principal="member@cb", table=ORDERS),
            as_="steward@cb",
        )
        ids["grant"] = grant["id"]
        from lakemesh.events.alerts import raise_alert

        with mesh.store.write() as conn:
            raise_alert(conn, get_domain(conn, "cb").id, "warning", "test", "look at this")
        ids["alert"] = str(mesh.alerts.all()[0].id)
        hook = mesh.bus.add_webhook(
            "http://127.0.0.1:9/hook", '{"type": [{"prefix": "request."}]}', as_="steward@cb"
        )
        ids["webhook"] = hook["id"]
        sub = mesh.bus.subscribe(ORDERS, as_="analyst@analytics")
        ids["subscription"] = sub["id"]
        mesh.glossary.add("revenue", "money in", as_="steward@cb")
        mesh.lineage.ingest_events([run_event()], as_="admin@central")
        ids["storage"] = str(base / "newroot")
        (base / "newroot").mkdir()
    return World(home, tokens, ids)


@pytest.fixture(scope="module")
def world(gov_template: Path, tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(gov_template, tmp_path_factory.mktemp("api"))


@contextmanager
def serving(world: World, target: Path, **api: Any) -> Iterator[tuple[Mesh, TestClient]]:
    """A private copy of the world's mesh (``api``: its API settings) and a client."""
    shutil.copytree(world.home, target)
    if api:
        settings = load_settings(target)
        write_settings(
            target, settings.model_copy(update={"api": settings.api.model_copy(update=api)})
        )
    with Mesh.open(target) as mesh, TestClient(create_app(mesh=mesh, worker=False)) as client:
        yield mesh, client


def headers(world: World, role: str) -> dict[str, str]:
    if role == "N":
        return {}
    if role == "B":
        return {"Authorization": "Bearer not-a-token"}
    user = ROLES[role]
    assert user is not None
    return {"Authorization": f"Bearer {world.tokens[user]}"}


# --------------------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class Row:
    """One route: how to call it, and what each caller gets. ``expect`` is a list like
    ``"A=200 D=403 ..."`` over the letters of ``ROLES`` (no token and a bad token get 401
    unless named). ``fresh``: the call changes state, so each caller gets its own copy
    of the mesh."""

    method: str
    route: str
    expect: str
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None
    query: dict[str, str] = field(default_factory=dict)
    fresh: bool = False

    @property
    def id(self) -> str:
        return f"{self.method} {self.route}"

    def statuses(self) -> dict[str, int]:
        out = {"N": 401, "B": 401}
        for item in self.expect.split():
            role, _, status = item.partition("=")
            out[role] = int(status)
        assert set(out) == set(ROLES), f"{self.id}: every caller needs a status"
        return out

    def url(self, world: World) -> str:
        filled = {k: world.ids.get(v.removeprefix("@"), v) for k, v in self.params.items()}
        return API + self.route.format(**filled)


ALL_OK = "A=200 D=200 S=200 O=200 C=200 X=200"
ADMIN_ONLY = "A=200 D=403 S=403 O=403 C=403 X=403"
CB_OPERATORS = "A=200 D=200 S=200 O=403 C=403 X=403"
#: What only the owning domain's operators may see reads to anyone else as unknown.
CB_HIDDEN = "A=200 D=200 S=200 O=404 C=404 X=404"

ROWS = [
    # discovery and queries
    Row("GET", "/search", ALL_OK, query={"q": "orders"}),
    Row("GET", "/tables", ALL_OK),
    Row("GET", "/tables/{name}", ALL_OK, {"name": ORDERS}),
    Row(
        "GET",
        "/tables/{name}",
        "A=200 D=200 S=200 O=404 C=404 X=404",
        {"name": CONTACTS},
    ),
    Row(
        "POST",
        "/query",
        "A=403 D=403 S=403 O=403 C=200 X=403",
        body={"sql": f"SELECT count(*) AS n FROM {ORDERS}"},
    ),
    # access requests
    Row(
        "POST",
        "/requests",
        "A=201 D=201 S=201 O=201 C=409 X=201",  # C: its request for it is pending
        body={"table": CUSTOMERS, "reason": "a model"},
        fresh=True,
    ),
    Row("GET", "/requests", ALL_OK),
    Row(
        "GET",
        "/requests/{request_id}",
        "A=200 D=200 S=200 O=404 C=200 X=404",
        {"request_id": "@pending"},
    ),
    Row(
        "POST",
        "/requests/{request_id}/approve",
        "A=200 D=403 S=200 O=404 C=403 X=404",
        {"request_id": "@pending"},
        body={"comment": "fine"},
        fresh=True,
    ),
    Row(
        "POST",
        "/requests/{request_id}/reject",
        "A=200 D=403 S=200 O=404 C=403 X=404",
        {"request_id": "@pending"},
        fresh=True,
    ),
    Row(
        "POST",
        "/requests/{request_id}/revoke",
        "A=200 D=200 S=200 O=404 C=200 X=404",
        {"request_id": "@approved"},
        fresh=True,
    ),
    # domains, sync, alerts
    Row("GET", "/domains", ALL_OK),
    Row(
        "POST",
        "/domains",
        "A=201 D=403 S=403 O=403 C=403 X=403",
        body={"name": "retail", "storage": "@storage"},
        fresh=True,
    ),
    Row("GET", "/domains/{name}", ALL_OK, {"name": "cb"}),
    Row("POST", "/domains/{name}/crawl", CB_OPERATORS, {"name": "cb"}, fresh=True),
    Row("POST", "/sync", CB_OPERATORS, body={"domains": ["cb"]}, fresh=True),
    Row("GET", "/sync/status", ALL_OK),
    Row("GET", "/alerts", ALL_OK),
    Row("POST", "/alerts/{alert_id}/ack", CB_HIDDEN, {"alert_id": "@alert"}, fresh=True),
    # users, tags, grants, masks, explain
    Row("GET", "/users", ALL_OK),
    Row(
        "POST",
        "/users",
        "A=201 D=201 S=403 O=403 C=403 X=403",
        body={"name": "new@cb"},
        fresh=True,
    ),
    Row(
        "POST",
        "/users/{name}/email",
        "A=200 D=200 S=403 O=403 C=403 X=403",
        {"name": "member@cb"},
        body={"email": "member@example.com"},
        fresh=True,
    ),
    Row(
        "POST",
        "/users/{name}/token",
        "A=200 D=200 S=403 O=403 C=403 X=403",
        {"name": "member@cb"},
        fresh=True,
    ),
    Row("GET", "/tags", ALL_OK),
    Row("POST", "/tags", ADMIN_ONLY, body={"key": "region", "values": ["eu", "us"]}, fresh=True),
    Row(
        "POST",
        "/tags/assign",
        "A=200 D=403 S=200 O=403 C=403 X=403",
        body={"resource": f"{ORDERS}.region", "assignment": "tier=gold"},
        fresh=True,
    ),
    Row("GET", "/grants", ALL_OK, query={"on": ORDERS}),
    Row(
        "POST",
        "/grants",
        "A=201 D=201 S=201 O=403 C=403 X=403",
        body={"actions": ["SELECT"], "to": "other@analytics", "on": ORDERS},
        fresh=True,
    ),
    Row(
        "DELETE",
        "/grants/{grant_id}",
        "A=200 D=200 S=200 O=403 C=403 X=403",
        {"grant_id": "@grant"},
        fresh=True,
    ),
    Row(
        "POST",
        "/masks",
        CB_OPERATORS,
        body={"column": f"{ORDERS}.email", "method": "redact"},
        fresh=True,
    ),
    Row(
        "GET",
        "/tables/{name}/explain",
        "A=200 D=200 S=200 O=200 C=200 X=200",
        {"name": ORDERS},
    ),
    # classification
    Row("POST", "/tables/{name}/classify", CB_HIDDEN, {"name": CONTACTS}, fresh=True),
    Row(
        "GET",
        "/classification/queue",
        "A=200 D=403 S=200 O=403 C=403 X=403",
        query={"domain": "cb"},
    ),
    Row(
        "POST",
        "/classification/accept",
        "A=200 D=403 S=200 O=404 C=404 X=404",
        body={"column": f"{CONTACTS}.email"},
        fresh=True,
    ),
    Row(
        "POST",
        "/classification/reject",
        "A=200 D=403 S=200 O=404 C=404 X=404",
        body={"column": f"{CONTACTS}.email", "comment": "test data"},
        fresh=True,
    ),
    # products, lineage, glossary
    Row("GET", "/products", ALL_OK),
    Row(
        "POST",
        "/products",
        CB_OPERATORS,
        body={"table": ORDERS, "contract": yaml.safe_dump(CONTRACT), "description": "orders"},
        fresh=True,
    ),
    Row("GET", "/products/{table}", ALL_OK, {"table": ORDERS}),
    Row(
        "POST",
        "/products/{table}/check",
        "A=200 D=200 S=200 O=403 C=403 X=403",
        {"table": ORDERS},
        fresh=True,
    ),
    Row("GET", "/lineage/{table}", ALL_OK, {"table": ORDERS}),
    Row("POST", "/lineage", "A=201 D=201 S=201 O=403 C=403 X=403", body=[run_event()], fresh=True),
    Row("GET", "/glossary", ALL_OK),
    Row(
        "POST",
        "/glossary",
        "A=200 D=200 S=200 O=200 C=403 X=403",
        body={"term": "churn", "definition": "customers who leave"},
        fresh=True,
    ),
    Row(
        "POST",
        "/glossary/{term}/links",
        CB_OPERATORS,
        {"term": "revenue"},
        body={"resource": f"{ORDERS}.amount"},
        fresh=True,
    ),
    # audit
    Row("GET", "/audit", ADMIN_ONLY, query={"limit": "5"}),
    Row("GET", "/audit/verify", ADMIN_ONLY),
    Row("POST", "/audit/checkpoint", ADMIN_ONLY, fresh=True),
    # events, webhooks, subscriptions, inboxes
    Row("GET", "/events", ADMIN_ONLY, query={"limit": "5"}),
    Row("GET", "/events/status", ADMIN_ONLY),
    Row("GET", "/events/dlq", ADMIN_ONLY),
    Row("POST", "/events/redrive", ADMIN_ONLY, body={"ids": []}, fresh=True),
    Row("GET", "/webhooks", ALL_OK),
    Row(
        "POST",
        "/webhooks",
        "A=201 D=201 S=201 O=201 C=403 X=403",
        body={"url": "http://127.0.0.1:9/other", "pattern": {"type": ["request.created"]}},
        fresh=True,
    ),
    Row(
        "DELETE",
        "/webhooks/{target_id}",
        CB_HIDDEN,
        {"target_id": "@webhook"},
        fresh=True,
    ),
    Row("GET", "/subscriptions", ALL_OK),
    Row(
        "POST",
        "/subscriptions",
        "A=201 D=201 S=201 O=201 C=201 X=201",
        body={"table": ORDERS, "events": ["schema"]},
        fresh=True,
    ),
    Row(
        "DELETE",
        "/subscriptions/{target_id}",
        "A=200 D=404 S=404 O=404 C=200 X=404",
        {"target_id": "@subscription"},
        fresh=True,
    ),
    Row("GET", "/inbox", ALL_OK),
    Row(
        "GET",
        "/inbox",
        "A=200 D=200 S=200 O=404 C=404 X=404",
        query={"owner": "cb"},
    ),
    # approval rules
    Row("GET", "/rules", ALL_OK),
    Row("POST", "/rules/validate", ALL_OK, body={"rules": DEFAULT_RULES}),
    Row(
        "POST",
        "/rules/test",
        "A=200 D=200 S=200 O=200 C=200 X=200",
        body={"rules": DEFAULT_RULES, "request": {"table": ORDERS}},
    ),
]


def _call(client: TestClient, world: World, row: Row, role: str) -> Any:
    body = row.body
    if isinstance(body, dict):
        body = {
            k: world.ids.get(v[1:], v) if isinstance(v, str) and v.startswith("@") else v
            for k, v in body.items()
        }
    return client.request(
        row.method,
        row.url(world),
        params=row.query,
        json=body,
        headers=headers(world, role),
    )


def _head(mesh: Mesh) -> int:
    """The audit log's newest seq."""
    return mesh.audit.records(limit=1)[0].seq


def _refused_since(mesh: Mesh, principal: str, seq: int) -> bool:
    """Whether ``principal`` has a refusal in the audit log after ``seq``."""
    found = mesh.audit.records(principal=principal, limit=50)
    return any(r.seq > seq and r.outcome in ("refused", "denied") for r in found)


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.id}#{i}" for i, r in enumerate(ROWS)])
def test_matrix(row: Row, world: World, tmp_path: Path) -> None:
    """Each caller gets the row's status; each refusal is audited as the caller's."""
    expected = row.statuses()
    got: dict[str, int] = {}
    shared: tuple[Mesh, TestClient] | None = None
    with ExitStack() as stack:
        for role in ROLES:
            if row.fresh or shared is None:
                shared = stack.enter_context(serving(world, tmp_path / f"home-{role}"))
            mesh, client = shared
            user = ROLES[role]
            before = _head(mesh)
            response = _call(client, world, row, role)
            got[role] = response.status_code
            if response.status_code >= 400:
                body = response.json()
                assert set(body) == {"code", "message", "correlation_id"}, body
            if user and response.status_code in (403, 404):
                assert _refused_since(mesh, user, before), f"{row.id}: {role} not audited"
            if response.status_code == 401:
                assert response.headers["www-authenticate"] == "Bearer"
    assert got == expected, {r: (got[r], expected[r]) for r in ROLES if got[r] != expected[r]}


def test_every_route_is_in_the_matrix(world: World, tmp_path: Path) -> None:
    """A route added without matrix rows fails here."""
    with serving(world, tmp_path / "home") as (_, client):
        app = client.app
        assert isinstance(app, FastAPI)
        routes = {
            f"{method} {r.path.removeprefix(API)}"
            for r in iter_route_contexts(app.routes)
            if r.path and r.path.startswith(API + "/")
            for method in r.methods or ()
        }
    assert routes == {row.id for row in ROWS}


# --------------------------------------------------------------------------- objects


def _same_refusal(a: Any, b: Any, typed: tuple[str, str]) -> None:
    """Two refusals read alike: same status and body, but for the correlation id and the
    name each caller typed (which the message repeats)."""
    assert a.status_code == b.status_code == 404
    one, two = a.json(), b.json()
    del one["correlation_id"], two["correlation_id"]
    one["message"] = one["message"].replace(typed[0], "NAME")
    two["message"] = two["message"].replace(typed[1], "NAME")
    assert one == two


def test_another_consumers_request_reads_as_unknown(world: World, tmp_path: Path) -> None:
    """A consumer cannot see a colleague's ticket: the answer is the one an id that does
    not exist gets, and the attempt is audited."""
    rid, unknown = world.ids["pending"], "r0123456789ab"
    with serving(world, tmp_path / "home") as (mesh, client):
        auth = {"Authorization": f"Bearer {world.tokens['other@analytics']}"}
        head = _head(mesh)
        theirs = client.get(f"{API}/requests/{rid}", headers=auth)
        nothing = client.get(f"{API}/requests/{unknown}", headers=auth)
        _same_refusal(theirs, nothing, (rid, unknown))
        assert _refused_since(mesh, "other@analytics", head)
        # and it is not in the colleague's listing either
        listed = client.get(f"{API}/requests", headers=auth).json()
        assert rid not in [t["id"] for t in listed]
        # the requester sees it
        own = client.get(f"{API}/requests/{rid}", headers=headers(world, "C"))
        assert own.status_code == 200 and own.json()["history"]


def test_hidden_table_reads_as_missing(world: World, tmp_path: Path) -> None:
    """A table the caller may not describe answers like one that does not exist."""
    with serving(world, tmp_path / "home") as (_, client):
        auth = headers(world, "C")
        hidden = client.get(f"{API}/tables/{CONTACTS}", headers=auth)
        missing = client.get(f"{API}/tables/cb.crm.nothing", headers=auth)
        _same_refusal(hidden, missing, (CONTACTS, "cb.crm.nothing"))
        for route in ("/tables/{}/explain", "/lineage/{}", "/products/{}"):
            a = client.get(API + route.format(CONTACTS), headers=auth)
            b = client.get(API + route.format("cb.crm.nothing"), headers=auth)
            _same_refusal(a, b, (CONTACTS, "cb.crm.nothing"))


def test_steward_cannot_decide_for_another_domain(world: World, tmp_path: Path) -> None:
    """ib's steward can neither approve nor reject cb's request; it stays pending, and a
    cb steward then approves it."""
    rid = world.ids["pending"]
    with serving(world, tmp_path / "home") as (mesh, client):
        head = _head(mesh)
        for verb in ("approve", "reject"):
            r = client.post(f"{API}/requests/{rid}/{verb}", headers=headers(world, "O"))
            assert r.status_code == 404, r.text
        assert _refused_since(mesh, "steward@ib", head)
        assert mesh.requests.show(rid)[0].status == "pending"
        r = client.post(f"{API}/requests/{rid}/approve", headers=headers(world, "S"))
        assert r.status_code == 200 and r.json()["status"] == "approved"
        # the requester cannot approve its own request
        again = client.post(f"{API}/requests/{rid}/approve", headers=headers(world, "C"))
        assert again.status_code in (403, 409)


# --------------------------------------------------------------------------- limits


def test_unknown_fields_are_refused(world: World, tmp_path: Path) -> None:
    """A body cannot set what the route does not name (no mass assignment)."""
    with serving(world, tmp_path / "home") as (mesh, client):
        auth = headers(world, "C")
        for path, body in (
            ("/requests", {"table": ORDERS, "reason": "r", "requester": "admin@central"}),
            ("/query", {"sql": "SELECT 1", "principal": "admin@central"}),
            ("/grants", {"actions": ["SELECT"], "to": "x@cb", "on": ORDERS, "by": "a"}),
            ("/rules/test", {"rules": DEFAULT_RULES, "request": {"table": ORDERS, "x": 1}}),
        ):
            r = client.post(API + path, json=body, headers=auth)
            assert r.status_code == 422, (path, r.text)
            assert r.json()["code"] == "invalid_request"
        # no request was made on the way
        assert not [t for t in mesh.requests.list() if t.table == ORDERS and t.reason == "r"]


def test_bad_bodies_say_what_is_wrong(world: World, tmp_path: Path) -> None:
    """Errors that depend only on what the client sent name the field or the place."""
    with serving(world, tmp_path / "home") as (_, client):
        auth = headers(world, "C") | {"content-type": "application/json"}
        said = {
            b"{bad": "the body is not valid JSON at character 1",
            b'{"sql": 5}': "sql: Input should be a valid string",
            b"{}": "sql: Field required",
            b'{"sql": "SELEC"}': "syntax error: expected a query (SELECT ...)",
        }
        for body, message in said.items():
            r = client.post(API + "/query", content=body, headers=auth)
            assert r.status_code in (400, 403, 422), (body, r.text)
            assert message in r.json()["message"], (body, r.text)


def test_declared_body_over_the_limit(world: World, tmp_path: Path) -> None:
    with serving(world, tmp_path / "home", max_body_bytes=2048) as (_, client):
        body = {"table": ORDERS, "reason": "x" * 4000}
        r = client.post(f"{API}/requests", json=body, headers=headers(world, "C"))
        assert r.status_code == 413
        assert r.json()["code"] == "payload_too_large"
        assert r.headers["x-correlation-id"] == r.json()["correlation_id"]


@contextmanager
def live(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port, on a thread; its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


@contextmanager
def live_mesh(world: World, target: Path, **api: Any) -> Iterator[tuple[Mesh, str]]:
    with serving(world, target, **api) as (mesh, client):
        app = client.app
        assert isinstance(app, FastAPI)
        with live(app) as url:
            yield mesh, url


def test_chunked_body_over_the_limit(world: World, tmp_path: Path) -> None:
    """A chunked body without a length is counted as it arrives and refused past the
    limit: leaving the length out gets no more through."""
    sent = []

    def chunks() -> Iterator[bytes]:
        yield b'{"table": "cb.sales.orders", "reason": "'
        for _ in range(64):
            sent.append(1)
            yield b"x" * 1024
        yield b'"}'

    with (
        live_mesh(world, tmp_path / "home", max_body_bytes=8192) as (_, url),
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        auth = headers(world, "C") | {"Content-Type": "application/json"}
        try:
            r = http.post(f"{API}/requests", content=chunks(), headers=auth)
        except httpx.TransportError:  # closed on us mid-upload: refused all the same
            assert len(sent) < 64
            return
        assert r.status_code == 413, r.text
        assert r.json()["code"] == "payload_too_large"
        # a small chunked body is read whole
        small = http.post(
            f"{API}/rules/validate",
            content=iter([b'{"rules": ', json.dumps(DEFAULT_RULES).encode(), b"}"]),
            headers=auth,
        )
        assert small.status_code == 200, small.text


def test_rate_limit(world: World, tmp_path: Path) -> None:
    """Per token: past the limit, 429 with Retry-After; another user is not affected."""
    with serving(world, tmp_path / "home", rate_limit="3/minute") as (_, client):
        auth = headers(world, "C")
        codes = [client.get(f"{API}/domains", headers=auth).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = client.get(f"{API}/domains", headers=auth)
        assert r.status_code == 429 and r.json()["code"] == "rate_limited"
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert client.get(f"{API}/domains", headers=headers(world, "S")).status_code == 200
        # guessing tokens is limited per address
        bad = [client.get(f"{API}/domains", headers=headers(world, "B")) for _ in range(4)]
        assert [b.status_code for b in bad] == [401, 401, 401, 429]


def test_headers_on_every_response(world: World, tmp_path: Path) -> None:
    """Correlation id and security headers on successes, refusals and unknown paths; a
    client's own id is echoed in the header and in an error body."""
    with serving(world, tmp_path / "home", max_body_bytes=1024) as (_, client):
        auth = headers(world, "C")
        responses = [
            client.get(f"{API}/domains", headers=auth),
            client.get(f"{API}/domains"),
            client.get(f"{API}/audit", headers=auth),
            client.get(f"{API}/nothing/here", headers=auth),
            client.post(f"{API}/query", json={"nope": 1}, headers=auth),
            client.post(f"{API}/query", content=b"x" * 2000, headers=auth),
            client.get("/openapi.json"),
        ]
        assert [r.status_code for r in responses] == [200, 401, 403, 404, 422, 413, 200]
        for r in responses:
            assert r.headers["content-security-policy"] == CSP
            assert r.headers["x-content-type-options"] == "nosniff"
            assert len(r.headers["x-correlation-id"]) >= 16
        mine = {"X-Correlation-ID": "trace-42.a_b"}
        ok = client.get(f"{API}/domains", headers=auth | mine)
        assert ok.headers["x-correlation-id"] == "trace-42.a_b"
        refused = client.get(f"{API}/audit", headers=auth | mine)
        assert refused.json()["correlation_id"] == "trace-42.a_b"
        assert refused.headers["x-correlation-id"] == "trace-42.a_b"
        # an id that is not a plain token is replaced, not echoed
        odd = client.get(f"{API}/domains", headers=auth | {"X-Correlation-ID": "a b<script>"})
        assert odd.headers["x-correlation-id"] != "a b<script>"


def test_unexpected_error_is_generic(
    world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug answers 500 with a generic message: no exception text, no traceback; the
    detail goes to the server's log under the correlation id."""
    with serving(world, tmp_path / "home") as (mesh, client):
        app = client.app
        assert isinstance(app, FastAPI)

        def broken() -> None:
            raise RuntimeError(f"secret detail {mesh.home} Traceback")

        app.add_api_route(f"{API}/broken", broken)
        with TestClient(app, raise_server_exceptions=False) as raw:
            r = raw.get(f"{API}/broken", headers={"X-Correlation-ID": "bug-1"})
        assert r.status_code == 500
        assert r.json() == {
            "code": "internal",
            "message": "internal error",
            "correlation_id": "bug-1",
        }
        assert "secret" not in r.text and "Traceback" not in r.text
        assert any("bug-1" in rec.getMessage() for rec in caplog.records)


# --------------------------------------------------------------------------- OpenLineage


def test_openlineage_client_reports_lineage(world: World, tmp_path: Path) -> None:
    """The openlineage-python client's HTTP transport, as configured by its users (API
    key, gzip or not), reaches ``/api/v1/lineage`` on a real server; the edges show up in
    ``GET /lineage``. A caller without the right gets the client's HTTP error."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import (
        InputDataset,
        Job,
        OutputDataset,
        Run,
        RunEvent,
        RunState,
    )
    from openlineage.client.transport.http import (
        ApiKeyTokenProvider,
        HttpCompression,
        HttpConfig,
        HttpTransport,
    )
    from requests import HTTPError

    def client(url: str, token: str, gzip_: bool) -> OpenLineageClient:
        config = HttpConfig(
            url=url,
            auth=ApiKeyTokenProvider({"apiKey": token}),
            compression=HttpCompression.GZIP if gzip_ else None,
            retry={"total": 0},
        )
        return OpenLineageClient(transport=HttpTransport(config))

    def event(source: str) -> RunEvent:
        return RunEvent(
            eventType=RunState.COMPLETE,
            eventTime="2024-05-02T10:00:00Z",
            run=Run(runId=str(uuid.uuid4())),
            job=Job(namespace="etl", name=f"load_{source.replace('.', '_')}"),
            producer="https://example.com/etl",
            inputs=[InputDataset(namespace="lakemesh://cb", name=source)],
            outputs=[OutputDataset(namespace="lakemesh://cb", name="sales.orders")],
        )

    with live_mesh(world, tmp_path / "home") as (mesh, url):
        for gzip_, source in ((False, "crm.contacts"), (True, "sales.customers")):
            ol = client(url, world.tokens["steward@cb"], gzip_)
            ol.emit(event(source))
            ol.transport.close()
        shown = mesh.lineage.show(ORDERS, as_="steward@cb")
        sources = {e["source"] for e in shown["upstream"]}
        assert {CONTACTS, CUSTOMERS} <= sources
        outsider = client(url, world.tokens["reader@ib"], True)
        with pytest.raises(HTTPError) as refused:
            outsider.emit(event("crm.contacts"))
        outsider.transport.close()
        assert refused.value.response is not None
        assert refused.value.response.status_code == 403
        nobody = client(url, "not-a-token", False)
        with pytest.raises(HTTPError) as unknown:
            nobody.emit(event("crm.contacts"))
        nobody.transport.close()
        assert unknown.value.response is not None
        assert unknown.value.response.status_code == 401


def test_lineage_body_decoding(world: World, tmp_path: Path) -> None:
    """gzip that expands past the body limit is refused (413), as are other encodings
    and bodies that are not JSON (400)."""
    with serving(world, tmp_path / "home", max_body_bytes=4096) as (_, client):
        auth = headers(world, "S") | {"Content-Type": "application/json"}
        bomb = gzip.compress(b"[" + b" " * 100_000 + b"]")
        assert len(bomb) < 4096
        r = client.post(f"{API}/lineage", content=bomb, headers=auth | {"Content-Encoding": "gzip"})
        assert r.status_code == 413, r.text
        r = client.post(f"{API}/lineage", content=b"{}", headers=auth | {"Content-Encoding": "br"})
        assert r.status_code == 400 and "Content-Encoding" in r.json()["message"]
        r = client.post(f"{API}/lineage", content=b"not json", headers=auth)
        assert r.status_code == 400
        r = client.post(
            f"{API}/lineage", content=b"garbage", headers=auth | {"Content-Encoding": "gzip"}
        )
        assert r.status_code == 400
        r = client.post(f"{API}/lineage", json={"eventType": "COMPLETE"}, headers=auth)
        assert r.status_code == 400
        ok = client.post(
            f"{API}/lineage",
            content=gzip.compress(json.dumps(run_event()).encode()),
            headers=auth | {"Content-Encoding": "gzip"},
        )
        assert ok.status_code == 201, ok.text
