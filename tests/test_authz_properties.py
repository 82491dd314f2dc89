"""Properties of the gate (Hypothesis): deny by default; a user never exceeds its domain;
revocation and expiry always win at the next decision."""

from __future__ import annotations

import contextlib
import itertools
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakemesh.errors import LakemeshError
from lakemesh.mesh import Mesh
from tests import govmesh

TABLES = ["cb.sales.orders", "cb.sales.customers", "ib.wealth.holdings"]
COLUMNS = {
    "cb.sales.orders": ["id", "region", "amount", "email", "dt"],
    "cb.sales.customers": ["customer_id", "name", "email"],
    "ib.wealth.holdings": ["customer_id", "asset_class", "value"],
}
OWNER = {"cb": "steward@cb", "ib": "steward@ib"}
USERS = [*list(govmesh.USERS), "admin@central"]
ACTIONS = ["SELECT", "DESCRIBE", "ALTER", "DROP", "UNMASK"]
FILTERS = {
    "cb.sales.orders": [None, "region = 'eu'", "amount > 10"],
    "cb.sales.customers": [None, "customer_id > 0"],
    "ib.wealth.holdings": [None, "value >= 1"],
}
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

_copies = itertools.count()


def fresh(template: Path, tmp: Path) -> Mesh:
    return govmesh.copy(template, tmp / f"m{next(_copies)}")


@st.composite
def grant_steps(draw: st.DrawFn) -> dict[str, Any]:
    table = draw(st.sampled_from(TABLES))
    cols = draw(st.lists(st.sampled_from(COLUMNS[table]), unique=True, max_size=3))
    return {
        "grant": draw(st.sampled_from(["SELECT", "SELECT,UNMASK", "DESCRIBE"])),
        "on": table,
        "to": draw(
            st.sampled_from(["analytics", "analyst@analytics", "analytics:member", "member@cb"])
        ),
        "columns": ",".join(cols) or None,
        "row_filter": draw(st.sampled_from(FILTERS[table])),
        "grantable": draw(st.booleans()),
        "as": OWNER[table.split(".")[0]],
    }


def share_and_delegate(
    mesh: Mesh, steps: list[dict[str, Any]], delegate: list[tuple[str, bool]]
) -> None:
    """Random producer grants, then the analytics admin delegating some tables (whole, or
    one column) to the analyst."""
    apply_all(mesh, steps)
    apply_all(
        mesh,
        [
            {
                "grant": "SELECT",
                "on": table,
                "to": "analyst@analytics",
                "columns": None if whole else COLUMNS[table][0],
                "as": "admin@analytics",
            }
            for table, whole in delegate
        ],
    )


def apply_all(mesh: Mesh, steps: list[dict[str, Any]]) -> list[str]:
    ids = []
    for step in steps:
        # refused steps are fine: the properties are about what was granted
        with contextlib.suppress(LakemeshError):
            ids.append(mesh.access.grant(govmesh.request(step), as_=step["as"])["id"])
    return ids


@SETTINGS
@given(
    principal=st.sampled_from(USERS), action=st.sampled_from(ACTIONS), table=st.sampled_from(TABLES)
)
def test_deny_by_default(
    gov_template: Path,
    tmp_path: Path,
    principal: str,
    action: str,
    table: str,
) -> None:
    """With no grant at all, only the documented implicit rules allow anything."""
    mesh = fresh(gov_template, tmp_path)
    try:
        d = mesh.gate.authz().decide(principal, action, table)
        if d.allowed:
            assert action in ("DESCRIBE", "ALTER")
            assert set(d.determined_by) <= {"mesh-admin", "owner:steward", "owner:admin"}
            if action == "ALTER":
                assert d.determined_by[0].startswith("owner:")
        assert not (action == "SELECT" and d.allowed)
    finally:
        mesh.close()


@SETTINGS
@given(
    steps=st.lists(grant_steps(), min_size=1, max_size=6),
    delegate=st.lists(st.tuples(st.sampled_from(TABLES), st.booleans()), max_size=3),
)
def test_a_user_never_exceeds_its_domain(
    gov_template: Path,
    tmp_path: Path,
    steps: list[dict[str, Any]],
    delegate: list[tuple[str, bool]],
) -> None:
    mesh = fresh(gov_template, tmp_path)
    try:
        share_and_delegate(mesh, steps, delegate)
        authz = mesh.gate.authz()
        for user, table, action in itertools.product(
            ["analyst@analytics", "other@analytics", "admin@analytics"],
            TABLES,
            ["SELECT", "UNMASK"],
        ):
            u = authz.decide(user, action, table)
            dom = authz.decide("analytics", action, table)
            if not u.allowed:
                continue
            assert dom.allowed, f"{user} {action} {table} allowed without its domain"
            assert set(u.columns) <= set(dom.columns)
            if dom.row_filters is not None:  # the domain sees only filtered rows
                assert u.row_filters is not None
                for f in u.row_filters:
                    assert any(df in f for df in dom.row_filters), (f, dom.row_filters)
    finally:
        mesh.close()


@SETTINGS
@given(steps=st.lists(grant_steps(), min_size=1, max_size=6), data=st.data())
def test_revocation_and_expiry_win_at_the_next_decision(
    gov_template: Path,
    tmp_path: Path,
    steps: list[dict[str, Any]],
    data: st.DataObject,
) -> None:
    mesh = fresh(gov_template, tmp_path)
    try:
        for step in steps:
            step["expires"] = data.draw(st.sampled_from([None, "1h", "2d"]))
        ids = apply_all(mesh, steps)
        revoked = set(data.draw(st.lists(st.sampled_from(ids), unique=True)) if ids else [])
        gone: set[str] = set()
        for gid in revoked:
            with contextlib.suppress(LakemeshError):  # already revoked through a cascade
                gone |= set(mesh.access.revoke(gid))
        authz = mesh.gate.authz()
        later = time.time() + 3 * 3600  # past every 1h expiry
        expired = {
            g.id
            for g in authz.snapshot.by_id.values()
            if g.expires is not None and g.expires <= later
        }
        for user, table in itertools.product(
            ["analyst@analytics", "member@cb", "analytics"], TABLES
        ):
            now_d = authz.decide(user, "SELECT", table)
            used = {gid for p in now_d.permits for gid in p.grants}
            assert not used & gone, "a revoked grant decided"
            later_d = authz.decide(user, "SELECT", table, at=later)
            used = {gid for p in later_d.permits for gid in p.grants}
            assert not used & (gone | expired), "an expired or revoked grant decided"
    finally:
        mesh.close()


@SETTINGS
@given(
    steps=st.lists(grant_steps(), min_size=0, max_size=6),
    delegate=st.lists(st.tuples(st.sampled_from(TABLES), st.booleans()), max_size=3),
    products=st.lists(st.sampled_from(TABLES), unique=True, max_size=2),
)
def test_listings_equal_single_decisions(
    gov_template: Path,
    tmp_path: Path,
    steps: list[dict[str, Any]],
    delegate: list[tuple[str, bool]],
    products: list[str],
) -> None:
    """filter_allowed is an optimisation of decide, never a second opinion."""
    mesh = fresh(gov_template, tmp_path)
    try:
        share_and_delegate(mesh, steps, delegate)
        for table in products:
            govmesh.register_product(mesh, table)
        authz = mesh.gate.authz()
        for principal, action in itertools.product([*USERS, "analytics", "cb"], ACTIONS):
            listed = authz.filter_allowed(principal, action, TABLES)
            single = [n for n in TABLES if authz.decide(principal, action, n).allowed]
            assert listed == single, (principal, action)
    finally:
        mesh.close()
