"""The action registry: one decision for every action, typed reasons, the executor.

Administrative actions are decided by the registry's rules and answer with the same
``Decision`` as data actions; a refusal is audited with why; every command is a
registered action; commands parse from their JSON form; events carry the actor; and
``access explain`` says why a grant was passed over from the traced decision itself.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from lakemesh.access.actions import ACTIONS, DATA_ACTIONS, MESH, Reason, Target
from lakemesh.access.grants import GrantRequest
from lakemesh.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lakemesh.mesh import Mesh
from lakemesh.service import commands
from tests import govmesh

#: The decisions and the executor run on both stores.
both_stores = govmesh.ON_BOTH_STORES

ROOT = Path(__file__).resolve().parent.parent
ORDERS = "cb.sales.orders"


def domain(name: str) -> Target:
    return Target("domain", name, name)


# --------------------------------------------------------------------------- registry


def test_every_action_is_registered_with_a_resource_kind_and_a_description() -> None:
    assert DATA_ACTIONS == ("DESCRIBE", "SELECT", "ALTER", "DROP", "UNMASK")
    for name, action in ACTIONS.items():
        assert action.name == name and action.description and action.resources
        assert action.is_data == (name in DATA_ACTIONS)
        assert action.rule is None if action.is_data else callable(action.rule)


def test_every_command_is_decided_by_a_registered_administrative_action() -> None:
    assert len(commands.COMMANDS) == 25
    for kind in commands.COMMANDS:
        assert kind.action in ACTIONS, kind.__name__
        assert not ACTIONS[kind.action].is_data


REQ = Target("request", "r1", "cb", "analyst@analytics", "analyst@analytics")
FOR_DOMAIN = Target("request", "r1", "cb", "admin@analytics", "analytics")

#: (principal, action, target, allowed, determined_by of an allowed decision)
MATRIX = [
    ("admin@central", "domain.create", MESH, True, "mesh-admin"),
    ("admin@cb", "domain.create", MESH, False, None),
    ("steward@cb", "domain.crawl", domain("cb"), True, "owner:steward"),
    ("admin@cb", "domain.sync", domain("cb"), True, "owner:admin"),
    ("member@cb", "domain.sync", domain("cb"), False, None),
    ("steward@ib", "domain.crawl", domain("cb"), False, None),
    ("analyst@analytics", "domain.read", domain("cb"), True, "everyone"),
    ("admin@cb", "principal.create", domain("cb"), True, "domain-admin:cb"),
    ("steward@cb", "principal.create", domain("cb"), False, None),
    ("admin@cb", "principal.create", domain("ib"), False, None),
    ("member@cb", "principal.list", domain("cb"), True, "member:cb"),
    ("member@cb", "principal.list", domain("ib"), False, None),
    ("steward@cb", "tag.define", MESH, False, None),
    ("member@cb", "tag.list", MESH, True, "everyone"),
    ("steward@cb", "tag.assign", Target("table", ORDERS, "cb"), True, "owner:steward"),
    ("admin@cb", "tag.assign", Target("table", ORDERS, "cb"), False, None),
    ("steward@ib", "tag.assign", Target("table", ORDERS, "cb"), False, None),
    ("steward@cb", "grant.create", Target("table", ORDERS, "cb"), True, "owner:steward"),
    (
        "admin@analytics",
        "grant.create",
        Target("table", ORDERS, "cb"),
        True,
        "delegation:analytics",
    ),
    ("analyst@analytics", "grant.create", Target("table", ORDERS, "cb"), False, None),
    ("steward@cb", "mask.set", Target("column", f"{ORDERS}.email", "cb"), True, "owner:steward"),
    ("steward@cb", "mask.set", Target("tag", "pii=true"), False, None),
    ("admin@central", "mask.set", Target("tag", "pii=true"), True, "mesh-admin"),
    ("steward@cb", "alert.read", domain("cb"), True, "owner:steward"),
    ("steward@cb", "alert.read", MESH, False, None),
    ("member@cb", "alert.read", domain("cb"), False, None),
    ("admin@cb", "audit.read", MESH, False, None),
    ("admin@central", "audit.verify", MESH, True, "mesh-admin"),
    ("steward@cb", "audit.checkpoint", MESH, False, None),
    ("member@cb", "audit.verify", MESH, False, None),
    ("admin@cb", "events.read", MESH, False, None),
    (
        "admin@analytics",
        "grant.revoke",
        Target("grant", "g1", "cb", "steward@cb", "analyst@analytics"),
        True,
        "domain-admin:analytics",
    ),
    (
        "admin@analytics",
        "grant.revoke",
        Target("grant", "g1", "cb", "steward@cb", "analytics"),
        False,
        None,
    ),
    (
        "analyst@analytics",
        "grant.read",
        Target("grant", "g1", "cb", "steward@cb", "analyst@analytics"),
        True,
        "grantee",
    ),
    (
        "steward@ib",
        "grant.read",
        Target("grant", "g1", "cb", "steward@cb", "cb:member"),
        False,
        None,
    ),
    ("steward@cb", "classify.run", Target("table", ORDERS, "cb"), True, "owner:steward"),
    ("member@cb", "classify.run", Target("table", ORDERS, "cb"), False, None),
    ("steward@cb", "classify.read", domain("cb"), True, "owner:steward"),
    ("admin@cb", "classify.read", domain("cb"), False, None),
    (
        "steward@cb",
        "classify.decide",
        Target("column", f"{ORDERS}.email", "cb"),
        True,
        "owner:steward",
    ),
    ("steward@ib", "classify.decide", Target("column", f"{ORDERS}.email", "cb"), False, None),
    ("admin@cb", "product.register", Target("table", ORDERS, "cb"), True, "owner:admin"),
    ("steward@ib", "product.register", Target("table", ORDERS, "cb"), False, None),
    ("steward@cb", "quality.check", Target("table", ORDERS, "cb"), True, "owner:steward"),
    ("analyst@analytics", "quality.check", Target("table", ORDERS, "cb"), False, None),
    ("steward@cb", "lineage.ingest", domain("cb"), True, "owner:steward"),
    ("steward@cb", "lineage.ingest", MESH, False, None),
    ("admin@central", "lineage.ingest", MESH, True, "mesh-admin"),
    ("steward@ib", "glossary.define", Target("term", "Revenue"), True, "owner:steward"),
    ("member@cb", "glossary.define", Target("term", "Revenue"), False, None),
    (
        "steward@cb",
        "glossary.define",
        Target("term", "Revenue", None, "steward@cb"),
        True,
        "term-owner",
    ),
    ("steward@ib", "glossary.define", Target("term", "Revenue", None, "steward@cb"), False, None),
    ("admin@cb", "glossary.link", Target("table", ORDERS, "cb"), True, "owner:admin"),
    ("member@cb", "glossary.link", Target("column", f"{ORDERS}.id", "cb"), False, None),
    ("analyst@analytics", "glossary.read", MESH, True, "everyone"),
    (
        "analyst@analytics",
        "request.create",
        Target("table", ORDERS, "cb", "analyst@analytics", "analyst@analytics"),
        True,
        "requester",
    ),
    (
        "analyst@analytics",
        "request.create",
        Target("table", ORDERS, "cb", "analyst@analytics", "analytics"),
        False,
        None,
    ),
    (
        "admin@analytics",
        "request.create",
        Target("table", ORDERS, "cb", "admin@analytics", "analytics"),
        True,
        "domain-admin:analytics",
    ),
    ("analyst@analytics", "request.read", REQ, True, "requester"),
    ("admin@analytics", "request.read", REQ, True, "domain-admin:analytics"),
    ("steward@cb", "request.read", REQ, True, "owner:steward"),
    ("other@analytics", "request.read", REQ, False, None),
    ("steward@ib", "request.read", REQ, False, None),
    ("steward@cb", "request.decide", REQ, True, "owner:steward"),
    ("analyst@analytics", "request.decide", REQ, False, None),
    ("admin@analytics", "request.decide", FOR_DOMAIN, False, None),
    ("member@cb", "request.decide", REQ, False, None),
    ("admin@central", "request.decide", REQ, True, "mesh-admin"),
    ("analyst@analytics", "request.revoke", REQ, True, "requester"),
    ("other@analytics", "request.revoke", REQ, False, None),
    ("admin@central", "events.redrive", MESH, True, "mesh-admin"),
    ("admin@cb", "events.redrive", MESH, False, None),
    ("steward@cb", "webhook.manage", domain("cb"), True, "owner:steward"),
    ("member@cb", "webhook.manage", domain("cb"), False, None),
    ("steward@cb", "webhook.manage", MESH, False, None),
    (
        "member@cb",
        "webhook.manage",
        Target("webhook", "w1", "cb", "member@cb"),
        True,
        "webhook-owner",
    ),
    ("member@cb", "inbox.read", Target("domain", "cb", "cb"), True, "member:cb"),
    ("member@cb", "inbox.read", Target("user", "member@cb", "cb"), True, "inbox-owner"),
    ("member@cb", "inbox.read", Target("user", "steward@cb", "cb"), False, None),
    ("member@cb", "inbox.read", Target("domain", "ib", "ib"), False, None),
]


@both_stores
@pytest.mark.parametrize(("principal", "action", "target", "allowed", "by"), MATRIX)
def test_administrative_decisions(
    gov: Mesh, principal: str, action: str, target: Target, allowed: bool, by: str | None
) -> None:
    decision = gov.gate.authz().check(principal, action, target)
    assert decision.allowed is allowed
    assert decision.action == action and decision.principal == principal
    if allowed:
        [reason] = decision.determined_by
        assert isinstance(reason, Reason) and reason == by
    else:
        assert decision.determined_by == () and decision.missing


def test_matrix_covers_every_administrative_action_both_ways() -> None:
    decided = {(action, allowed) for _, action, _, allowed, _ in MATRIX}
    covered = {a for a, _ in decided}
    wanted = {n for n, a in ACTIONS.items() if not a.is_data}
    # public listings are never refused; the rest appear allowed and refused
    public = {"domain.read", "tag.list", "catalog.search", "catalog.list", "glossary.read"}
    assert wanted - covered <= {"catalog.search", "catalog.list", "domain.status", "alert.ack"}
    for action in covered - public:
        assert (action, False) in decided, action


@both_stores
def test_unknown_principal_and_unknown_action_are_refused(gov: Mesh) -> None:
    authz = gov.gate.authz()
    assert not authz.check("nobody@cb", "domain.sync", domain("cb")).allowed
    assert not authz.check("admin@central", "domain.explode", MESH).allowed


# --------------------------------------------------------------------------- reasons


@both_stores
def test_data_reasons_are_typed_and_read_as_their_labels(gov: Mesh) -> None:
    g = gov.access.grant(
        GrantRequest(actions=("SELECT",), principal="analytics", table=ORDERS, grantable=True)
    )
    mine = gov.access.grant(
        GrantRequest(actions=("SELECT",), principal="analyst@analytics", table=ORDERS),
        as_="admin@analytics",
    )
    gov.access.mask(column=f"{ORDERS}.email", spec="redact", as_="steward@cb")
    decision = gov.access.decide(ORDERS, as_="analyst@analytics")
    by = {r.kind: r for r in decision.determined_by}
    assert by["grant"] == f"grant:{mine['id']}" and by["grant"].id == mine["id"]
    assert by["ceiling"] == f"ceiling:grant:{g['id']}" and by["ceiling"].id == g["id"]
    assert by["mask"].detail == "email" and by["mask"].startswith("mask:m")
    assert pickle.loads(pickle.dumps(by["ceiling"])).kind == "ceiling"
    assert by["grant"].as_dict() == {
        "kind": "grant",
        "id": mine["id"],
        "detail": None,
        "label": f"grant:{mine['id']}",
    }


# --------------------------------------------------------------------------- executor


@both_stores
def test_a_refused_administrative_action_is_audited_with_its_reason(gov: Mesh) -> None:
    with pytest.raises(PermissionDenied, match="may not sync domain cb"):
        gov.domains.sync(["cb"], as_="member@cb")
    [record] = gov.audit.records(action="domain.sync", outcome="refused", limit=1)
    assert record.principal == "member@cb" and "may not sync" in record.details["reason"]
    assert record.details["action"] == "domain.sync"


@both_stores
def test_an_allowed_change_records_who_decided_and_the_event_carries_the_actor(
    gov: Mesh,
) -> None:
    gov.access.assign_tag(ORDERS, "tier=gold", as_="steward@cb")
    [record] = gov.audit.records(action="tag.assign", limit=1)
    assert record.details["determined_by"] == ["owner:steward"]
    [event] = gov.events.recent(1, "policy.tag.assigned")
    assert event["payload"]["actor"] == "steward@cb"
    assert event["payload"]["resource"] == ORDERS


@both_stores
def test_a_refused_command_changes_nothing(gov: Mesh) -> None:
    before = len(gov.events.recent(1000))
    with pytest.raises(PermissionDenied):
        gov.access.define_tag("secret", ["x"], as_="steward@cb")
    assert len(gov.events.recent(1000)) == before
    assert "secret" not in {t.key for t in gov.access.tags()}


@both_stores
def test_revoke_is_compare_and_set(gov: Mesh) -> None:
    g = gov.access.grant(GrantRequest(actions=("SELECT",), principal="member@cb", table=ORDERS))
    assert gov.access.revoke(g["id"]) == [g["id"]]
    with pytest.raises(Conflict, match="already revoked"):
        gov.access.revoke(g["id"])
    revoked = gov.events.recent(100, "policy.grant.revoked")
    assert [e["payload"]["grant_id"] for e in revoked] == [g["id"]]


@both_stores
def test_an_alert_the_caller_may_not_see_reads_like_an_unknown_one(gov: Mesh) -> None:
    from lakemesh.events.alerts import raise_alert

    with gov.store.write() as conn:
        raise_alert(conn, None, "error", "audit.checkpoint", "mesh-wide")
    [alert] = gov.alerts.all()
    with pytest.raises(NotFound, match=f"unknown alert {alert.id}"):
        gov.alerts.acknowledge(alert.id, as_="steward@cb")
    assert gov.alerts.acknowledge(alert.id).resolved_by == "admin@central"


def test_commands_parse_from_their_json_form() -> None:
    cmd = commands.parse_command({"command": "grant.revoke", "grant_id": "g1"})
    assert isinstance(cmd, commands.RevokeGrant) and cmd.grant_id == "g1"
    with pytest.raises(InvalidInput, match="invalid command"):
        commands.parse_command({"command": "grant.revoke", "grant_id": "g1", "extra": 1})
    with pytest.raises(InvalidInput, match="invalid command"):
        commands.parse_command({"command": "mesh.explode"})


def test_commands_are_frozen() -> None:
    cmd = commands.RevokeGrant(grant_id="g1")
    with pytest.raises(ValueError, match="frozen"):
        cmd.grant_id = "g2"  # type: ignore[misc]


# --------------------------------------------------------------------------- explain


@both_stores
def test_explain_says_why_not_from_the_traced_decision(gov: Mesh) -> None:
    held = gov.access.grant(
        GrantRequest(
            actions=("DESCRIBE", "SELECT"), principal="analytics", table=ORDERS, grantable=True
        )
    )
    described = gov.access.grant(
        GrantRequest(actions=("DESCRIBE",), principal="analyst@analytics", table=ORDERS),
        as_="admin@analytics",
    )
    out = gov.access.explain(ORDERS, as_="analyst@analytics")
    assert not out["allowed"]
    why = {g["id"]: g["why_not"] for g in out["other_grants"]}
    assert why[described["id"]] == "does not grant SELECT"
    assert why[held["id"]].startswith("held by domain analytics")


@both_stores
def test_explain_of_an_expired_grant(gov: Mesh) -> None:
    import time

    g = gov.access.grant(
        GrantRequest(actions=("SELECT",), principal="steward@cb", table=ORDERS, expires="1s")
    )
    time.sleep(1.1)
    out = gov.access.explain(ORDERS, as_="steward@cb")
    assert {x["id"]: x["why_not"] for x in out["other_grants"]}[g["id"]] == "expired"


# --------------------------------------------------------------------------- boundaries


def test_no_role_is_compared_outside_the_registry_and_the_authorizer() -> None:
    """The "one gate" promise, kept by a grep: roles are compared in
    ``access/actions.py`` and ``access/authorizer.py`` only."""
    allowed = {"src/lakemesh/access/actions.py", "src/lakemesh/access/authorizer.py"}
    found = subprocess.run(
        ["grep", "-rnE", r"\.role (==|!=|in|not in)|is_mesh_admin", "src/lakemesh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    outside = [line for line in found if line.split(":")[0] not in allowed]
    assert outside == []


def test_the_import_boundary_check_passes_and_catches_a_violation(tmp_path: Path) -> None:
    script = ROOT / ".ci" / "check_imports.py"
    ok = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout
    package = tmp_path / "src" / "lakemesh"
    (package / "access").mkdir(parents=True)
    (package / "access" / "bad.py").write_text("import duckdb\nfrom lakemesh.cli import main\n")
    (package / "metadata").mkdir()
    (package / "metadata" / "dialect.py").write_text(
        "def f(conn):\n    return conn.dialect.name == 'sqlite'\n"
    )
    sys.path.insert(0, str(script.parent))
    try:
        import check_imports

        problems = check_imports.check(package)
    finally:
        sys.path.remove(str(script.parent))
        sys.modules.pop("check_imports", None)
    assert any("may not import duckdb" in p for p in problems)
    assert any("may not import lakemesh.cli" in p for p in problems)
    assert any("dialect branch" in p for p in problems)
