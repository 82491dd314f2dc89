"""Access requests as tickets, end to end on both stores: the default rules approve what
touches no ``pii=true`` column at once (usable by the very next query, no worker) and
route the rest to the owning domain's stewards; decisions provision or refuse in one
compare-and-set step; only the right people see or decide a ticket; revocation takes
back exactly the request's grants; durations expire; approval links work once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import select, update

from lakemesh.access.grants import GrantRequest
from lakemesh.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    QueryDenied,
)
from lakemesh.home import write_settings
from lakemesh.mesh import Mesh
from lakemesh.service.requests import issue_links, read_ticket
from lakemesh.store import tables as t
from lakemesh.workflow import links
from tests import govmesh
from tests.conftest import Cli

pytestmark = govmesh.ON_BOTH_STORES

ORDERS = "cb.sales.orders"
CUSTOMERS = "cb.sales.customers"
ANALYST = "analyst@analytics"


@pytest.fixture
def mesh(gov: Mesh) -> Mesh:
    """The governed mesh with customers.email tagged pii=true and both tables products."""
    gov.access.assign_tag(f"{CUSTOMERS}.email", "pii=true", as_="steward@cb")
    gov.products.register(CUSTOMERS, owner="steward@cb")
    gov.products.register(ORDERS, owner="steward@cb")
    return gov


def grants_of(mesh: Mesh, ids: tuple[str, ...]) -> list[dict[str, object]]:
    with mesh.store.read() as conn:
        rows = conn.execute(select(t.grants).where(t.grants.c.id.in_(ids))).all()
    return [dict(r._mapping) for r in rows]


def rows(mesh: Mesh, sql: str, who: str = ANALYST) -> list[dict[str, object]]:
    return mesh.query(sql, as_=who).to_pylist()  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- the default rules


def test_a_request_without_pii_is_approved_at_once_and_usable_by_the_next_query(
    mesh: Mesh,
) -> None:
    with pytest.raises(QueryDenied):
        rows(mesh, f"select count(*) n from {ORDERS}")
    ticket = mesh.requests.create(ORDERS, reason="sales dashboards", duration="30d", as_=ANALYST)
    assert ticket.status == "approved"
    assert ticket.rule == "no-pii-auto-approve"
    assert ticket.decided_by == "system@central"
    assert rows(mesh, f"select count(*) n from {ORDERS}") == [{"n": 4}]
    granted = grants_of(mesh, ticket.grant_ids)
    assert sorted(str(g["principal"]) for g in granted) == [ANALYST, "analytics"]
    assert all(g["expires_at"] is not None for g in granted)
    assert ticket.expires_at is not None


def test_a_request_touching_pii_waits_for_the_stewards_with_the_one_click_offer(
    mesh: Mesh,
) -> None:
    ticket = mesh.requests.create(CUSTOMERS, reason="churn model", as_=ANALYST)
    assert ticket.status == "pending"
    assert ticket.route is not None
    assert ticket.route.to == "stewards"
    assert ticket.route.offer_exclude == ("email",)
    assert ticket.grant_ids == ()
    with pytest.raises(QueryDenied):
        rows(mesh, f"select * from {CUSTOMERS}")


def test_asking_only_for_columns_without_pii_is_approved_at_once(mesh: Mesh) -> None:
    ticket = mesh.requests.create(
        CUSTOMERS, columns=["customer_id", "name"], reason="counts", as_=ANALYST
    )
    assert ticket.status == "approved"
    assert rows(mesh, f"select * from {CUSTOMERS}") == [{"customer_id": 1, "name": "a"}]


# --------------------------------------------------------------------------- decisions


def test_approval_without_the_pii_columns_provisions_exactly_that(mesh: Mesh) -> None:
    ticket = mesh.requests.create(CUSTOMERS, reason="churn model", as_=ANALYST)
    done = mesh.requests.approve(
        ticket.id, exclude_columns=["email"], comment="no e-mail needed", as_="steward@cb"
    )
    assert done.status == "approved"
    assert done.exclude_columns == ("email",)
    assert done.version == ticket.version + 1
    assert rows(mesh, f"select * from {CUSTOMERS}") == [{"customer_id": 1, "name": "a"}]
    _, history = mesh.requests.show(ticket.id, as_=ANALYST)
    assert [(h.kind, h.actor, h.status) for h in history] == [
        ("created", ANALYST, "pending"),
        ("approved", "steward@cb", "approved"),
    ]
    assert history[1].comment == "no e-mail needed"


def test_approval_with_a_row_filter(mesh: Mesh) -> None:
    ticket = mesh.requests.create(
        ORDERS, reason="eu only", as_=ANALYST, columns=["id", "region", "email"]
    )
    mesh.access.assign_tag(f"{ORDERS}.email", "pii=true", as_="steward@cb")
    ticket = mesh.requests.create(CUSTOMERS, reason="x", as_="other@analytics")
    mesh.requests.approve(ticket.id, row_filter="customer_id = 2", as_="steward@cb")
    assert rows(mesh, f"select * from {CUSTOMERS}", "other@analytics") == []


def test_full_approval_shows_the_pii_column(mesh: Mesh) -> None:
    ticket = mesh.requests.create(CUSTOMERS, reason="churn model", as_=ANALYST)
    mesh.requests.approve(ticket.id, as_="admin@central")
    assert rows(mesh, f"select email from {CUSTOMERS}") == [{"email": "a@x"}]


@pytest.mark.parametrize(
    ("who", "error", "says"),
    [
        (ANALYST, PermissionDenied, "may not decide"),  # the requester itself
        ("admin@analytics", PermissionDenied, "may not decide"),  # the consumer side's admin
        ("member@cb", NotFound, "unknown request"),  # a member of the owning domain
        ("steward@ib", NotFound, "unknown request"),  # another domain's steward
        ("other@analytics", NotFound, "unknown request"),  # a colleague
    ],
)
def test_only_the_owning_domains_stewards_decide(
    mesh: Mesh, who: str, error: type[Exception], says: str
) -> None:
    ticket = mesh.requests.create(CUSTOMERS, reason="churn model", as_=ANALYST)
    with pytest.raises(error, match=says):
        mesh.requests.approve(ticket.id, as_=who)
    with pytest.raises(error, match=says):
        mesh.requests.reject(ticket.id, as_=who)
    assert mesh.requests.show(ticket.id, as_=ANALYST)[0].status == "pending"


def test_a_route_to_named_approvers(mesh: Mesh) -> None:
    """Named approvers must run the owning domain: anyone else named is left out (a rule
    file cannot hand a domain's data to an outsider's decision)."""
    (mesh.home / "rules.yaml").write_text(
        "rules:\n  - name: named\n    then: {route: [admin@cb, steward@ib]}\n"
    )
    ticket = mesh.requests.create(ORDERS, reason="x", as_=ANALYST)
    assert ticket.route is not None
    assert ticket.route.to == ("admin@cb",)
    with pytest.raises(PermissionDenied, match="decided by admin@cb"):
        mesh.requests.approve(ticket.id, as_="steward@cb")
    with pytest.raises(NotFound):
        mesh.requests.approve(ticket.id, as_="steward@ib")
    assert mesh.requests.approve(ticket.id, as_="admin@cb").status == "approved"


def test_a_route_to_the_admins_is_not_decided_by_a_steward(mesh: Mesh) -> None:
    (mesh.home / "rules.yaml").write_text(
        "rules:\n  - name: admins-decide\n    then: {route: admins}\n"
    )
    ticket = mesh.requests.create(ORDERS, reason="x", as_=ANALYST)
    with pytest.raises(PermissionDenied, match="decided by the admins of cb"):
        mesh.requests.approve(ticket.id, as_="steward@cb")
    assert mesh.requests.approve(ticket.id, as_="admin@cb").status == "approved"


def test_a_second_decision_is_refused_and_changes_nothing(mesh: Mesh) -> None:
    ticket = mesh.requests.create(CUSTOMERS, reason="churn model", as_=ANALYST)
    mesh.requests.reject(ticket.id, comment="use the aggregate product", as_="steward@cb")
    with pytest.raises(Conflict, match="already rejected"):
        mesh.requests.approve(ticket.id, as_="admin@central")
    with pytest.raises(Conflict, match="already rejected"):
        mesh.requests.reject(ticket.id, as_="admin@central")
    shown, history = mesh.requests.show(ticket.id, as_=ANALYST)
    assert shown.status == "rejected"
    assert shown.grant_ids == ()
    assert history[-1].comment == "use the aggregate product"


def test_a_decision_on_a_stale_version_loses(mesh: Mesh) -> None:
    """What a concurrent decider sees: the ticket moved between its read and its write."""
    from lakemesh.workflow import tickets

    ticket = mesh.requests.create(CUSTOMERS, reason="churn model", as_=ANALYST)
    mesh.requests.approve(ticket.id, as_="steward@cb")
    with mesh.store.write() as conn, pytest.raises(Conflict, match="changed meanwhile"):
        tickets.move(conn, ticket, actor="steward@cb", kind="rejected", status="rejected")


def test_n_of_m_approvals(mesh: Mesh) -> None:
    (mesh.home / "rules.yaml").write_text(
        "rules:\n  - name: two-eyes\n    then: {route: [steward@cb, admin@cb], approvals: 2}\n"
    )
    ticket = mesh.requests.create(ORDERS, reason="x", as_=ANALYST)
    assert ticket.status == "pending"
    with pytest.raises(PermissionDenied, match="may not decide"):
        mesh.requests.approve(ticket.id, as_="admin@analytics")
    one = mesh.requests.approve(ticket.id, as_="steward@cb")
    assert (one.status, one.approvals) == ("pending", ("steward@cb",))
    with pytest.raises(Conflict, match="already approved"):
        mesh.requests.approve(ticket.id, as_="steward@cb")
    with pytest.raises(QueryDenied):
        rows(mesh, f"select count(*) n from {ORDERS}")
    two = mesh.requests.approve(ticket.id, as_="admin@cb")
    assert two.status == "approved"
    assert rows(mesh, f"select count(*) n from {ORDERS}") == [{"n": 4}]


# --------------------------------------------------------------------------- who sees a ticket


def test_a_ticket_is_seen_by_its_parties_only(mesh: Mesh) -> None:
    ticket = mesh.requests.create(CUSTOMERS, reason="churn model", as_=ANALYST)
    for who in (ANALYST, "admin@analytics", "steward@cb", "admin@central"):
        assert mesh.requests.show(ticket.id, as_=who)[0].id == ticket.id
        assert [r.id for r in mesh.requests.list(as_=who)] == [ticket.id]
    for who in ("other@analytics", "member@cb", "steward@ib"):
        with pytest.raises(NotFound) as hidden:
            mesh.requests.show(ticket.id, as_=who)
        with pytest.raises(NotFound) as missing:
            mesh.requests.show("r000000000000", as_=who)
        assert str(hidden.value).replace(ticket.id, "X") == str(missing.value).replace(
            "r000000000000", "X"
        )
        assert mesh.requests.list(as_=who) == []


def test_a_table_nobody_may_see_cannot_be_requested(mesh: Mesh) -> None:
    """Not a product, no grant: it reads as unknown, as for a table that does not exist."""
    with pytest.raises(NotFound, match=r"unknown table ib\.wealth\.holdings"):
        mesh.requests.create("ib.wealth.holdings", reason="x", as_=ANALYST)
    with pytest.raises(NotFound, match=r"unknown table ib\.wealth\.nothing"):
        mesh.requests.create("ib.wealth.nothing", reason="x", as_=ANALYST)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"reason": "  "}, "--reason is empty"),
        ({"reason": "x", "duration": "soon"}, "invalid --duration 'soon'"),
        ({"reason": "x", "duration": "0d"}, "invalid --duration '0d'"),
        ({"reason": "x", "duration": "2026-12-01"}, "invalid --duration"),
        ({"reason": "x", "columns": ["nope"]}, "unknown column nope"),
        ({"reason": "x", "columns": []}, "--columns is empty"),
        ({"reason": "x" * 2001}, "longer than 2000"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(
    mesh: Mesh, kwargs: dict[str, object], says: str
) -> None:
    with pytest.raises(InvalidInput, match=says):
        mesh.requests.create(ORDERS, as_=ANALYST, **kwargs)  # type: ignore[arg-type]
    assert mesh.requests.list(as_="admin@central") == []


def test_one_pending_request_per_table_and_requester(mesh: Mesh) -> None:
    first = mesh.requests.create(CUSTOMERS, reason="a", as_=ANALYST)
    with pytest.raises(Conflict, match=f"request {first.id} for {CUSTOMERS} is already pending"):
        mesh.requests.create(CUSTOMERS, reason="b", as_=ANALYST)


def test_bad_decisions_are_refused(mesh: Mesh) -> None:
    ticket = mesh.requests.create(CUSTOMERS, reason="churn model", as_=ANALYST)
    with pytest.raises(InvalidInput, match="unknown column nope"):
        mesh.requests.approve(ticket.id, exclude_columns=["nope"], as_="steward@cb")
    with pytest.raises(InvalidInput, match="leave nothing"):
        mesh.requests.approve(
            ticket.id, exclude_columns=["customer_id", "name", "email"], as_="steward@cb"
        )
    with pytest.raises(InvalidInput):
        mesh.requests.approve(ticket.id, row_filter="nope = 1", as_="steward@cb")
    with pytest.raises(InvalidInput, match="--row-filter is empty"):
        mesh.requests.approve(ticket.id, row_filter=" ", as_="steward@cb")
    with pytest.raises(NotFound, match="unknown request 'rnope'"):
        mesh.requests.approve("rnope", as_="steward@cb")
    assert mesh.requests.show(ticket.id, as_=ANALYST)[0].status == "pending"


# --------------------------------------------------------------------------- revoke, expire


def test_revoking_takes_back_exactly_the_requests_grants(mesh: Mesh) -> None:
    manual = mesh.access.grant(
        GrantRequest(actions=("SELECT",), principal="analytics", table=ORDERS, columns=["id"])
    )
    ticket = mesh.requests.create(ORDERS, reason="dashboards", as_=ANALYST)
    assert manual["id"] not in ticket.grant_ids
    revoked = mesh.requests.revoke(ticket.id, comment="project over", as_=ANALYST)
    assert revoked.status == "revoked"
    states = {g["id"]: g["revoked_at"] for g in grants_of(mesh, (*ticket.grant_ids, manual["id"]))}
    assert states[manual["id"]] is None
    assert all(states[g] is not None for g in ticket.grant_ids)
    with pytest.raises(QueryDenied):
        rows(mesh, f"select count(*) n from {ORDERS}")
    with pytest.raises(Conflict, match="only approved access is revoked"):
        mesh.requests.revoke(ticket.id, as_=ANALYST)


def test_two_users_of_one_domain_keep_their_own_access(mesh: Mesh) -> None:
    a = mesh.requests.create(ORDERS, reason="a", as_=ANALYST)
    b = mesh.requests.create(ORDERS, reason="b", as_="other@analytics")
    mesh.requests.revoke(a.id, as_=ANALYST)
    assert rows(mesh, f"select count(*) n from {ORDERS}", "other@analytics") == [{"n": 4}]
    assert b.status == "approved"


def test_who_may_revoke(mesh: Mesh) -> None:
    ticket = mesh.requests.create(ORDERS, reason="a", as_=ANALYST)
    with pytest.raises(NotFound):
        mesh.requests.revoke(ticket.id, as_="other@analytics")
    assert mesh.requests.revoke(ticket.id, as_="admin@analytics").status == "revoked"


def test_a_duration_expires(mesh: Mesh) -> None:
    ticket = mesh.requests.create(ORDERS, reason="a", duration="1s", as_=ANALYST)
    assert rows(mesh, f"select count(*) n from {ORDERS}") == [{"n": 4}]
    time.sleep(1.2)
    with pytest.raises(QueryDenied):  # server time at query start (SPEC 2.7): no worker needed
        rows(mesh, f"select count(*) n from {ORDERS}")
    assert mesh.requests.expire_due() == [ticket.id]
    shown, history = mesh.requests.show(ticket.id, as_=ANALYST)
    assert shown.status == "expired"
    assert history[-1].actor == "system@central"
    assert mesh.requests.expire_due() == []
    types = [e["type"] for e in mesh.events.recent(20)]
    assert "request.expired" in types


def test_unused_access_is_revoked_when_configured(mesh: Mesh) -> None:
    used = mesh.requests.create(ORDERS, reason="a", as_=ANALYST)
    idle = mesh.requests.create(ORDERS, reason="b", as_="other@analytics")
    settings = mesh.settings.model_copy(deep=True)
    settings.workflow.revoke_unused_days = 0.5 / 86400  # half a second
    write_settings(mesh.home, settings)
    time.sleep(0.6)
    rows(mesh, f"select count(*) n from {ORDERS}")  # the analyst uses it
    with Mesh.open(mesh.home) as again:
        assert again.requests.revoke_unused() == [idle.id]
        assert again.requests.show(used.id)[0].status == "approved"
        assert again.requests.show(idle.id)[0].status == "expired"


# --------------------------------------------------------------------------- domains asking


def test_a_domain_admin_asks_for_the_domain_and_delegates(mesh: Mesh) -> None:
    ticket = mesh.requests.create(ORDERS, reason="team", for_domain=True, as_="admin@analytics")
    assert (ticket.status, ticket.requester) == ("approved", "analytics")
    (g,) = grants_of(mesh, ticket.grant_ids)
    assert (g["principal"], g["grantable"]) == ("analytics", True)
    mesh.access.grant(
        GrantRequest(actions=("SELECT",), principal=ANALYST, table=ORDERS), as_="admin@analytics"
    )
    assert rows(mesh, f"select count(*) n from {ORDERS}") == [{"n": 4}]
    with pytest.raises(PermissionDenied, match="only the domain's admin"):
        mesh.requests.create(CUSTOMERS, reason="x", for_domain=True, as_=ANALYST)


# --------------------------------------------------------------------------- rule files


def test_a_broken_rule_file_keeps_the_previous_rules_and_raises_an_alert(mesh: Mesh) -> None:
    rules = mesh.home / "rules.yaml"
    rules.write_text("rules:\n  - name: everything-waits\n    then: {route: stewards}\n")
    assert mesh.requests.create(ORDERS, reason="a", as_=ANALYST).status == "pending"
    rules.write_text("rules:\n  - name: broken\n    then: {approve: {nonsense: 1}}\n")
    assert mesh.requests.create(ORDERS, reason="b", as_="other@analytics").status == "pending"
    (alert,) = [a for a in mesh.alerts.all() if a.kind == "workflow.rules"]
    assert "line 3" in alert.message
    assert "previous approval rules stay in force" in alert.message
    rules.unlink()  # the default again: no pii on orders, approved at once
    ticket = mesh.requests.create(CUSTOMERS, columns=["name"], reason="c", as_=ANALYST)
    assert ticket.status == "approved"


def test_rules_reject(mesh: Mesh) -> None:
    (mesh.home / "rules.yaml").write_text(
        "rules:\n"
        "  - name: no-ib\n"
        "    when: {requester_domain: analytics, duration_over: 90d}\n"
        "    then: {reject: {comment: ask for 90 days at most}}\n"
    )
    ticket = mesh.requests.create(ORDERS, reason="a", duration="1w", as_=ANALYST)
    assert ticket.status == "pending"
    ticket = mesh.requests.create(ORDERS, reason="a", duration="365d", as_="other@analytics")
    assert ticket.status == "rejected"
    assert mesh.requests.show(ticket.id, as_="other@analytics")[1][-1].comment == (
        "ask for 90 days at most"
    )


# --------------------------------------------------------------------------- approval links


def _link(mesh: Mesh, ticket_id: str, approver: str = "steward@cb") -> dict[str, str]:
    return issue_links(mesh, read_ticket(mesh, ticket_id), approver)


def test_an_approval_link_records_the_decision_once(mesh: Mesh) -> None:
    ticket = mesh.requests.create(CUSTOMERS, reason="churn model", as_=ANALYST)
    found = _link(mesh, ticket.id)
    assert set(found) == {"approve", "approve-exclude", "reject"}
    done = mesh.requests.follow(found["approve-exclude"])
    assert (done.status, done.decided_by, done.exclude_columns) == (
        "approved",
        "steward@cb",
        ("email",),
    )
    with pytest.raises(Conflict, match="already approved"):
        mesh.requests.follow(found["approve-exclude"])  # replayed: the request moved on


def test_a_replayed_link_is_refused(mesh: Mesh) -> None:
    ticket = mesh.requests.create(CUSTOMERS, reason="churn model", as_=ANALYST)
    found = _link(mesh, ticket.id)
    token = links.token_of(found["reject"])
    link = links.read(links_key(mesh), token)
    with mesh.store.write() as conn:
        links.consume(conn, link)  # as if followed once already
    with pytest.raises(Conflict, match="already used"):
        mesh.requests.follow(found["reject"])
    assert mesh.requests.show(ticket.id, as_=ANALYST)[0].status == "pending"


def links_key(mesh: Mesh) -> bytes:
    from lakemesh import keys

    return keys.link_key(mesh.home)


@pytest.mark.parametrize("damage", ["flip", "truncate", "other-mesh", "garbage"])
def test_a_forged_link_is_refused(mesh: Mesh, damage: str) -> None:
    ticket = mesh.requests.create(CUSTOMERS, reason="churn model", as_=ANALYST)
    token = links.token_of(_link(mesh, ticket.id)["approve"])
    prefix, body, mac = token.split(".")
    if damage == "flip":  # a different request, same signature
        forged = f"{prefix}.{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{mac}"
    elif damage == "truncate":
        forged = f"{prefix}.{body}"
    elif damage == "other-mesh":
        with mesh.store.write() as conn:
            forged = links.issue(
                conn,
                b"k" * 32,
                request_id=ticket.id,
                version=ticket.version,
                approver="steward@cb",
                decision="approve",
                ttl=__import__("datetime").timedelta(hours=1),
            )
    else:
        forged = "lmr1.not-base64!.x"
    with pytest.raises(PermissionDenied, match=r"^invalid approval link$"):
        mesh.requests.follow(f"http://127.0.0.1:8000/links/{forged}")
    assert mesh.requests.show(ticket.id, as_=ANALYST)[0].status == "pending"


def test_an_expired_link_is_refused(mesh: Mesh) -> None:
    settings = mesh.settings.model_copy(deep=True)
    settings.workflow.link_ttl_seconds = 1
    write_settings(mesh.home, settings)
    with Mesh.open(mesh.home) as m:
        ticket = m.requests.create(CUSTOMERS, reason="churn model", as_=ANALYST)
        found = _link(m, ticket.id)
        time.sleep(1.1)
        with pytest.raises(PermissionDenied, match="expired"):
            m.requests.follow(found["approve"])


def test_a_link_is_for_its_approver_only(mesh: Mesh) -> None:
    ticket = mesh.requests.create(CUSTOMERS, reason="churn model", as_=ANALYST)
    found = _link(mesh, ticket.id)
    with pytest.raises(PermissionDenied, match="issued to another approver"):
        mesh.requests.follow(found["approve"], as_="admin@cb")
    assert mesh.requests.show(ticket.id, as_=ANALYST)[0].status == "pending"


def test_a_link_for_an_older_version_is_refused(mesh: Mesh) -> None:
    (mesh.home / "rules.yaml").write_text(
        "rules:\n  - name: two\n    then: {route: [steward@cb, admin@cb], approvals: 2}\n"
    )
    ticket = mesh.requests.create(ORDERS, reason="x", as_=ANALYST)
    stale = _link(mesh, ticket.id, "admin@cb")
    mesh.requests.approve(ticket.id, as_="steward@cb")
    with pytest.raises(Conflict, match="changed since this link was sent"):
        mesh.requests.follow(stale["approve"])
    fresh = _link(mesh, ticket.id, "admin@cb")
    assert mesh.requests.follow(fresh["approve"]).status == "approved"


# --------------------------------------------------------------------------- events


def test_every_step_is_an_event_and_an_audit_record(mesh: Mesh) -> None:
    ticket = mesh.requests.create(CUSTOMERS, reason="churn model", as_=ANALYST)
    mesh.requests.approve(ticket.id, as_="steward@cb")
    mesh.requests.revoke(ticket.id, as_="steward@cb")
    types = [e["type"] for e in reversed(mesh.events.recent(30)) if e["subject"] == ticket.id]
    assert types == ["request.created", "request.approved", "request.revoked"]
    actions = {r.action for r in mesh.audit.records()}
    assert {"request.create", "request.approve", "request.revoke"} <= actions
    assert mesh.audit.verify().ok


def test_request_events_reach_the_inboxes_of_both_domains_and_the_requester(mesh: Mesh) -> None:
    ticket = mesh.requests.create(CUSTOMERS, reason="churn model", as_=ANALYST)
    mesh.bus.run_once()
    mesh.bus.run_once()  # nothing is routed twice
    for owner, who in (("cb", "steward@cb"), ("analytics", ANALYST), (ANALYST, ANALYST)):
        got = [r for r in mesh.bus.inbox(owner, as_=who) if r["subject"] == ticket.id]
        assert [r["type"] for r in got] == ["request.created"]
    with pytest.raises(NotFound):
        mesh.bus.inbox("cb", as_=ANALYST)


# --------------------------------------------------------------------------- the CLI


def test_cli_request_lifecycle(mesh: Mesh, cli: Cli) -> None:
    cli.home = mesh.home
    code, out, err = cli("request", "create", CUSTOMERS, "--reason", "churn", "--as", ANALYST,
                         "--json")  # fmt: skip
    assert code == 0, err
    made = json.loads(out)
    assert made["status"] == "pending"
    code, out, _ = cli("request", "list", "--status", "pending", "--as", "steward@cb")
    assert made["id"] in out
    code, out, err = cli("request", "approve", made["id"], "--exclude-columns", "email",
                         "--as", ANALYST)  # fmt: skip
    assert code == 1
    assert err.startswith("error: ") and "may not decide" in err
    code, out, err = cli("request", "approve", made["id"], "--exclude-columns", "email",
                         "--comment", "ok", "--as", "steward@cb")  # fmt: skip
    assert code == 0, err
    assert "approved" in out and "without email" in out
    code, out, _ = cli("request", "show", made["id"], "--as", ANALYST, "--json")
    shown = json.loads(out)
    assert [h["kind"] for h in shown["history"]] == ["created", "approved"]
    code, out, err = cli("request", "show", made["id"], "--as", "other@analytics")
    assert code == 1 and "unknown request" in err
    code, _, err = cli("request", "approve", "--as", "steward@cb")
    assert code == 2


def test_cli_rules_validate_and_test(mesh: Mesh, cli: Cli, tmp_path: Path) -> None:
    cli.home = mesh.home
    good = tmp_path / "rules.yaml"
    good.write_text(
        "rules:\n"
        "  - name: pii-waits\n"
        "    when: {tagged: {pii: 'true'}}\n"
        "    then: {route: stewards, offer: exclude-tagged}\n"
        "  - name: rest\n"
        "    then: approve\n"
    )
    code, out, err = cli("rules", "validate", str(good))
    assert code == 0, err
    assert "2 rule(s)" in out
    code, out, err = cli("rules", "test", str(good), "--request", CUSTOMERS, "--as", ANALYST)
    assert code == 0, err
    assert "pii-waits" in out and "email" in out
    spec = json.dumps({"table": CUSTOMERS, "columns": ["name"]})
    code, out, err = cli("rules", "test", str(good), "--request", spec, "--as", ANALYST, "--json")
    assert code == 0, err
    assert json.loads(out)["rule"] == "rest"
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: x\n    then: {approve: 3}\n")
    code, out, err = cli("rules", "validate", str(bad))
    assert code == 1
    assert "line 3" in err and err.count("\n") == 1
    code, out, err = cli("rules", "test", str(good), "--request", "ib.wealth.holdings",
                         "--as", ANALYST)  # fmt: skip
    assert code == 1 and "unknown table" in err
    code, out, err = cli("rules", "test", str(good), "--request", '{"table": 1}')
    assert code == 1 and "table must be a string" in err


def test_nothing_half_done_when_provisioning_fails(mesh: Mesh) -> None:
    """A failure inside the approval (here: the table left the catalog) rolls the whole
    decision back: no grant, the ticket still pending, one refused audit record."""
    ticket = mesh.requests.create(CUSTOMERS, reason="churn model", as_=ANALYST)
    with mesh.store.write() as conn:
        conn.execute(
            update(t.access_requests)
            .where(t.access_requests.c.id == ticket.id)
            .values(resource="cb.sales.gone")
        )
    with pytest.raises(Conflict, match="no longer in the catalog"):
        mesh.requests.approve(ticket.id, as_="steward@cb")
    shown = mesh.requests.show(ticket.id, as_=ANALYST)[0]
    assert (shown.status, shown.grant_ids) == ("pending", ())


def test_a_domain_that_holds_the_table_under_a_filter_keeps_its_filter(mesh: Mesh) -> None:
    """The owner's agreement with the consumer domain (here: EU rows only) bounds what
    any approval gives the domain's users: no second, wider domain grant is made."""
    mesh.access.grant(
        GrantRequest(
            actions=("SELECT",),
            principal="analytics",
            table=ORDERS,
            row_filter="region = 'eu'",
            grantable=True,
        ),
        as_="steward@cb",
    )
    ticket = mesh.requests.create(ORDERS, reason="dashboards", as_=ANALYST)
    assert ticket.status == "approved"
    assert [g["principal"] for g in grants_of(mesh, ticket.grant_ids)] == [ANALYST]
    assert rows(mesh, f"select distinct region from {ORDERS}") == [{"region": "eu"}]
    _, history = mesh.requests.show(ticket.id, as_=ANALYST)
    assert history[-1].details["grants"] == list(ticket.grant_ids)


def test_the_mesh_admin_and_the_owning_domains_members_request_too(mesh: Mesh) -> None:
    """Neither has a domain ceiling: only the user's own grant is made."""
    mine = mesh.requests.create(CUSTOMERS, reason="audit sample", as_="admin@central")
    done = mesh.requests.approve(mine.id, as_="steward@cb")
    assert [g["principal"] for g in grants_of(mesh, done.grant_ids)] == ["admin@central"]
    assert rows(mesh, f"select name from {CUSTOMERS}", "admin@central") == [{"name": "a"}]
    theirs = mesh.requests.create(ORDERS, reason="own data", as_="member@cb")
    assert [g["principal"] for g in grants_of(mesh, theirs.grant_ids)] == ["member@cb"]
    assert rows(mesh, f"select count(*) n from {ORDERS}", "member@cb") == [{"n": 4}]
