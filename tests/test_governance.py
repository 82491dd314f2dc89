"""Governance mutations: every refusal is clear, changes nothing and is audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from lakemesh.errors import Conflict, InvalidInput, LakemeshError, NotFound, PermissionDenied
from lakemesh.mesh import Mesh
from lakemesh.store import tables as t
from tests import govmesh

pytestmark = govmesh.ON_BOTH_STORES


def counts(mesh: Mesh) -> tuple[int, ...]:
    with mesh.store.read() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (t.grants, t.tag_assignments, t.tags, t.masks, t.users, t.policy_log)
        )


def last_audit(mesh: Mesh) -> Any:
    return mesh.audit.records(limit=1)[0]


def grant(mesh: Mesh, as_: str, **kw: Any) -> dict[str, Any]:
    return mesh.access.grant(govmesh.request(kw), as_=as_)


SHARE = {
    "grant": "SELECT",
    "on": "cb.sales.orders",
    "to": "analytics",
    "grantable": True,
    "columns": "id,region,amount",
    "expires": "30d",
}

REFUSALS = [
    # (description, actor, step, error, message fragment)
    (
        "unknown grantee",
        "steward@cb",
        {"grant": "SELECT", "on": "cb.sales.orders", "to": "ghost@cb"},
        NotFound,
        "unknown principal",
    ),
    (
        "unknown table",
        "steward@cb",
        {"grant": "SELECT", "on": "cb.sales.nope", "to": "member@cb"},
        NotFound,
        "unknown table",
    ),
    (
        "unknown database",
        "steward@cb",
        {"grant": "SELECT", "on": "cb.nope", "to": "member@cb"},
        NotFound,
        "unknown database",
    ),
    (
        "unknown tag key",
        "steward@cb",
        {"grant": "SELECT", "tags": "colour=red", "to": "member@cb"},
        NotFound,
        "unknown tag key",
    ),
    (
        "unknown tag value",
        "steward@cb",
        {"grant": "SELECT", "tags": "tier=platinum", "to": "member@cb"},
        InvalidInput,
        "does not allow",
    ),
    (
        "a steward of another domain granting",
        "steward@ib",
        {"grant": "SELECT", "on": "cb.sales.orders", "to": "member@cb"},
        PermissionDenied,
        "may not grant",
    ),
    (
        "a member granting",
        "member@cb",
        {"grant": "SELECT", "on": "cb.sales.orders", "to": "member@cb"},
        PermissionDenied,
        "may not grant",
    ),
    (
        "a consumer admin granting with no domain grant",
        "admin@analytics",
        {"grant": "SELECT", "on": "cb.sales.customers", "to": "analyst@analytics"},
        PermissionDenied,
        "holds no grantable",
    ),
    (
        "a consumer admin granting wider columns",
        "admin@analytics",
        {
            "grant": "SELECT",
            "on": "cb.sales.orders",
            "to": "analyst@analytics",
            "columns": "id,email",
        },
        PermissionDenied,
        "email",
    ),
    (
        "a consumer admin granting an action the domain lacks",
        "admin@analytics",
        {"grant": "SELECT,DROP", "on": "cb.sales.orders", "to": "analyst@analytics"},
        PermissionDenied,
        "holds no grantable",
    ),
    (
        "a consumer admin granting a later expiry",
        "admin@analytics",
        {"grant": "SELECT", "on": "cb.sales.orders", "to": "analyst@analytics", "expires": "60d"},
        PermissionDenied,
        "later than the domain",
    ),
    (
        "a consumer admin granting a grantable delegation",
        "admin@analytics",
        {"grant": "SELECT", "on": "cb.sales.orders", "to": "analyst@analytics", "grantable": True},
        PermissionDenied,
        "two levels",
    ),
    (
        "a consumer admin granting to another domain's user",
        "admin@analytics",
        {"grant": "SELECT", "on": "cb.sales.orders", "to": "member@cb"},
        PermissionDenied,
        "only to users and roles of domain analytics",
    ),
    (
        "stacked statements in a row filter",
        "steward@cb",
        {
            "grant": "SELECT",
            "on": "cb.sales.orders",
            "to": "member@cb",
            "row_filter": "1=1; DROP TABLE grants",
        },
        InvalidInput,
        "row filter",
    ),
    (
        "a subquery in a row filter",
        "steward@cb",
        {
            "grant": "SELECT",
            "on": "cb.sales.orders",
            "to": "member@cb",
            "row_filter": "(SELECT count(*) FROM grants) > 0",
        },
        InvalidInput,
        "subquer",
    ),
    (
        "an aggregate in a row filter",
        "steward@cb",
        {
            "grant": "SELECT",
            "on": "cb.sales.orders",
            "to": "member@cb",
            "row_filter": "count(*) > 0",
        },
        InvalidInput,
        "aggregate",
    ),
    (
        "an unknown column in a row filter",
        "steward@cb",
        {"grant": "SELECT", "on": "cb.sales.orders", "to": "member@cb", "row_filter": "salary > 1"},
        InvalidInput,
        "salary",
    ),
    (
        "a file read in a row filter",
        "steward@cb",
        {
            "grant": "SELECT",
            "on": "cb.sales.orders",
            "to": "member@cb",
            "row_filter": "read_text('/etc/passwd') IS NOT NULL",
        },
        InvalidInput,
        "read_text",
    ),
    (
        "an expiry in the past",
        "steward@cb",
        {
            "grant": "SELECT",
            "on": "cb.sales.orders",
            "to": "member@cb",
            "expires": "2001-01-01T00:00:00Z",
        },
        InvalidInput,
        "in the past",
    ),
    (
        "a malformed expiry",
        "steward@cb",
        {"grant": "SELECT", "on": "cb.sales.orders", "to": "member@cb", "expires": "-1d"},
        InvalidInput,
        "invalid expiry",
    ),
    (
        "an unknown column list entry",
        "steward@cb",
        {"grant": "SELECT", "on": "cb.sales.orders", "to": "member@cb", "columns": "id,salary"},
        InvalidInput,
        "salary",
    ),
    (
        "a name injection in the table",
        "steward@cb",
        {"grant": "SELECT", "on": 'cb.sales.orders"; DROP TABLE grants; --', "to": "member@cb"},
        InvalidInput,
        "invalid",
    ),
    (
        "a name injection in the grantee",
        "steward@cb",
        {"grant": "SELECT", "on": "cb.sales.orders", "to": "x' OR '1'='1"},
        NotFound,
        "unknown principal",
    ),
    (
        "column lists on a database grant",
        "steward@cb",
        {"grant": "SELECT", "on": "cb.sales", "to": "member@cb", "columns": "id"},
        InvalidInput,
        "apply to a table grant",
    ),
]


@pytest.fixture
def shared(gov: Mesh) -> Mesh:
    """cb shares id/region/amount of orders with analytics, grantable, for 30 days."""
    grant(gov, "steward@cb", **SHARE)
    return gov


@pytest.mark.parametrize(
    ("what", "actor", "step", "error", "fragment"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
def test_refusal_changes_nothing_and_is_audited(
    shared: Mesh,
    what: str,
    actor: str,
    step: dict[str, Any],
    error: type[Exception],
    fragment: str,
) -> None:
    before = counts(shared)
    with pytest.raises(error) as info:
        grant(shared, actor, **step)
    message = str(info.value)
    assert fragment in message and "\n" not in message, message
    assert counts(shared) == before
    record = last_audit(shared)
    assert (record.principal, record.action, record.outcome) == (actor, "grant.create", "refused")
    assert fragment in record.details["reason"]


def test_delegation_inherits_and_intersects(shared: Mesh) -> None:
    g = grant(
        shared,
        "admin@analytics",
        grant="SELECT",
        on="cb.sales.orders",
        to="analyst@analytics",
        columns="id,amount",
    )
    assert g["columns"] == ["amount", "id"] and g["parent_id"] and g["expires_at"]
    g2 = grant(
        shared, "admin@analytics", grant="SELECT", on="cb.sales.orders", to="analytics:member"
    )
    assert g2["columns"] == ["amount", "id", "region"], "unsaid columns are inherited"


@pytest.mark.parametrize(
    ("actor", "resource", "assignment", "error", "fragment"),
    [
        ("steward@ib", "cb.sales.orders", "pii=true", PermissionDenied, "may not tag"),
        ("member@cb", "cb.sales.orders", "pii=true", PermissionDenied, "may not tag"),
        ("admin@cb", "cb.sales.orders", "pii=true", PermissionDenied, "may not tag"),
        ("steward@cb", "cb.sales.orders", "colour=red", NotFound, "unknown tag key"),
        ("steward@cb", "cb.sales.orders", "pii=maybe", InvalidInput, "does not allow"),
        ("steward@cb", "cb.sales.nope", "pii=true", NotFound, "unknown table"),
        ("steward@cb", "cb.sales.orders.salary", "pii=true", NotFound, "unknown column"),
        ("steward@cb", "cb.sales.orders'--", "pii=true", InvalidInput, "invalid"),
        ("steward@cb", "cb.sales.orders", "pii", InvalidInput, "KEY=VALUE"),
        ("ghost@cb", "cb.sales.orders", "pii=true", NotFound, "unknown principal"),
    ],
)
def test_tag_assign_refusals(
    gov: Mesh,
    actor: str,
    resource: str,
    assignment: str,
    error: type[Exception],
    fragment: str,
) -> None:
    before = counts(gov)
    with pytest.raises(error, match=fragment):
        gov.access.assign_tag(resource, assignment, as_=actor)
    assert counts(gov) == before


def test_tag_values_are_one_per_key_and_definitions_guard_their_values(gov: Mesh) -> None:
    gov.access.assign_tag("cb.sales.orders", "tier=gold", as_="steward@cb")
    done = gov.access.assign_tag("cb.sales.orders", "tier=silver", as_="steward@cb")
    assert done["previous"] == "gold"
    tm = gov.gate.authz().snapshot.tables["cb.sales.orders"]
    assert tm.table_tags == {"tier": "silver"}
    with pytest.raises(InvalidInput, match="still assigned"):
        gov.access.define_tag("tier", ["gold"])
    assert gov.access.define_tag("tier", ["gold", "silver", "bronze"])["created"] is False
    with pytest.raises(PermissionDenied, match="only the mesh admin"):
        gov.access.define_tag("colour", ["red"], as_="steward@cb")
    with pytest.raises(InvalidInput, match="invalid tag key"):
        gov.access.define_tag("Bad Key", ["x"])


def test_revoke_rules(shared: Mesh) -> None:
    g = grant(shared, "steward@cb", grant="SELECT", on="cb.sales.customers", to="member@cb")
    with pytest.raises(PermissionDenied, match="may not revoke"):
        shared.access.revoke(g["id"], as_="steward@ib")
    with pytest.raises(PermissionDenied, match="may not revoke"):
        shared.access.revoke(g["id"], as_="member@cb")
    with pytest.raises(NotFound, match="unknown grant"):
        shared.access.revoke("gnope", as_="steward@cb")
    assert shared.access.revoke(g["id"], as_="admin@cb") == [g["id"]]
    with pytest.raises(Conflict, match="already revoked"):
        shared.access.revoke(g["id"], as_="steward@cb")
    assert last_audit(shared).outcome == "refused"


def test_consumer_admin_revokes_what_its_users_hold(shared: Mesh) -> None:
    g = grant(
        shared, "admin@analytics", grant="SELECT", on="cb.sales.orders", to="analyst@analytics"
    )
    with pytest.raises(PermissionDenied):
        shared.access.revoke(g["id"], as_="analyst@analytics")
    assert shared.access.revoke(g["id"], as_="admin@analytics") == [g["id"]]


@pytest.mark.parametrize(
    ("actor", "target", "spec", "error", "fragment"),
    [
        ("steward@ib", {"column": "cb.sales.orders.email"}, "hash", PermissionDenied, "may not"),
        ("member@cb", {"column": "cb.sales.orders.email"}, "hash", PermissionDenied, "may not"),
        ("steward@cb", {"tag": "pii=true"}, "hash", PermissionDenied, "mesh admin"),
        ("steward@cb", {"column": "cb.sales.orders.salary"}, "hash", NotFound, "unknown column"),
        ("steward@cb", {"column": "cb.sales.orders"}, "hash", InvalidInput, "column"),
        ("steward@cb", {"column": "cb.sales.orders.email"}, "rot13", InvalidInput, "mask"),
        (
            "steward@cb",
            {"column": "cb.sales.orders.email"},
            "value || (SELECT 1)",
            InvalidInput,
            "mask",
        ),
        ("admin@central", {"tag": "pii=maybe"}, "hash", InvalidInput, "does not allow"),
    ],
)
def test_mask_refusals(
    gov: Mesh,
    actor: str,
    target: dict[str, str],
    spec: str,
    error: type[Exception],
    fragment: str,
) -> None:
    before = counts(gov)
    with pytest.raises(error, match=fragment):
        gov.access.mask(**target, spec=spec, as_=actor)
    assert counts(gov) == before


def test_masks_replace_and_remove(gov: Mesh) -> None:
    gov.access.mask(column="cb.sales.orders.email", spec="hash", as_="steward@cb")
    gov.access.mask(column="cb.sales.orders.email", spec="last4", as_="steward@cb")
    tm = gov.gate.authz().snapshot.tables["cb.sales.orders"]
    assert tm.masks["email"].method == "last4"
    gov.access.mask(column="cb.sales.orders.email", spec="none", as_="steward@cb")
    assert "email" not in gov.gate.authz().snapshot.tables["cb.sales.orders"].masks


def test_user_creation_rules(gov: Mesh) -> None:
    user, token = gov.access.create_user("new@analytics", "member", as_="admin@analytics")
    assert token.startswith("lm_") and gov.access.authenticate(token) == user
    assert gov.access.authenticate(token + "x") is None
    with pytest.raises(PermissionDenied):
        gov.access.create_user("new@cb", "member", as_="admin@analytics")
    with pytest.raises(PermissionDenied):
        gov.access.create_user("new2@analytics", "member", as_="analyst@analytics")
    with pytest.raises(LakemeshError, match="already exists"):
        gov.access.create_user("new@analytics", "member")
    with pytest.raises(InvalidInput, match="invalid role"):
        gov.access.create_user("x@analytics", "root")
    with pytest.raises(NotFound, match="unknown domain"):
        gov.access.create_user("x@nowhere", "member")
    with gov.store.read() as conn:
        stored = conn.execute(
            select(t.users.c.token_hash).where(t.users.c.name == "new@analytics")
        ).scalar_one()
    assert token not in stored, "only a hash of the token is stored"


def test_only_the_mesh_admin_creates_domains(gov: Mesh, tmp_path: Path) -> None:
    with pytest.raises(PermissionDenied, match="only the mesh admin"):
        gov.domains.create("rogue", str(tmp_path / "rogue"), as_="admin@analytics", create=True)
    assert "rogue" not in {d.name for d in gov.domains.all()}


def test_visibility_of_search_and_show(gov: Mesh) -> None:
    """SPEC 2.1: tables are listed only with DESCRIBE; registered products to everyone."""
    assert gov.catalog.search("orders", as_="analyst@analytics") == []
    with pytest.raises(NotFound, match="not in the central catalog"):
        gov.catalog.show("cb.sales.orders", as_="analyst@analytics")
    govmesh.register_product(gov, "cb.sales.customers")
    assert [h["table"] for h in gov.catalog.search("customers", as_="analyst@analytics")] == [
        "cb.sales.customers"
    ]
    grant(
        gov, "steward@cb", grant="SELECT", on="cb.sales.orders", to="member@cb", columns="id,region"
    )
    shown = gov.catalog.show("cb.sales.orders", as_="member@cb")
    assert [c["name"] for c in shown["columns"]] == ["id", "region"]
    assert all({c["name"] for c in v["columns"]} <= {"id", "region"} for v in shown["history"])
    decisions = gov.audit.records(principal="analyst@analytics", action="catalog.describe:DESCRIBE")
    assert decisions and decisions[-1].outcome == "denied"
