"""Two-level delegation with overlapping grants: a consumer admin's grant must fit inside
one grantable grant of its domain, the least restrictive that fits, which becomes its
parent (inherited columns, row filter and expiry; revocation cascades from it)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from lakemesh.errors import PermissionDenied
from lakemesh.mesh import Mesh
from lakemesh.store import tables as t
from tests import govmesh

pytestmark = govmesh.ON_BOTH_STORES

ORDERS = "cb.sales.orders"
ADMIN, ANALYST = "admin@analytics", "analyst@analytics"


def grant(mesh: Mesh, as_: str, **kw: Any) -> dict[str, Any]:
    return mesh.access.grant(govmesh.request(kw), as_=as_)


def share(mesh: Mesh, **kw: Any) -> dict[str, Any]:
    """cb's steward grants to the analytics domain, grantable unless said otherwise."""
    step = {"grant": "SELECT", "on": ORDERS, "to": "analytics", "grantable": True} | kw
    return grant(mesh, "steward@cb", **step)


def delegate(mesh: Mesh, **kw: Any) -> dict[str, Any]:
    return grant(mesh, ADMIN, **({"grant": "SELECT", "on": ORDERS, "to": ANALYST} | kw))


def rows(mesh: Mesh, sql: str = "SELECT * FROM cb.sales.orders") -> list[dict[str, Any]]:
    return sorted(
        mesh.query(sql, as_=ANALYST).to_pylist(), key=lambda r: sorted(map(str, r.items()))
    )


def grant_count(mesh: Mesh) -> int:
    with mesh.store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(t.grants)).scalar_one())


def refused(mesh: Mesh, fragment: str, **kw: Any) -> str:
    """The delegation is refused with a one-line message and nothing is stored."""
    before = grant_count(mesh)
    with pytest.raises(PermissionDenied) as info:
        delegate(mesh, **kw)
    message = str(info.value)
    assert fragment in message and "\n" not in message, message
    assert grant_count(mesh) == before
    record = mesh.audit.records(limit=1)[0]
    assert (record.principal, record.outcome) == (ADMIN, "refused")
    return message


def in_days(g: dict[str, Any]) -> float:
    at = datetime.fromisoformat(g["expires_at"])
    return (at - datetime.now(UTC)).total_seconds() / 86400


# ------------------------------------------------------------------ the reported case


@pytest.fixture
def narrow_and_wide(gov: Mesh) -> tuple[Mesh, dict[str, Any], dict[str, Any]]:
    """analytics holds a narrow grantable table grant (two columns, EU rows, 10 days) and
    a wide grantable grant on the whole database (no filter, no expiry)."""
    narrow = share(gov, columns="id,region", row_filter="region = 'eu'", expires="10d")
    wide = share(gov, on="cb.sales")
    return gov, narrow, wide


def test_a_column_the_wide_grant_covers_may_be_delegated(
    narrow_and_wide: tuple[Mesh, dict[str, Any], dict[str, Any]],
) -> None:
    mesh, _, wide = narrow_and_wide
    g = delegate(mesh, columns="amount")
    assert g["parent_id"] == wide["id"]
    assert (g["columns"], g["row_filter"], g["expires_at"]) == (["amount"], None, None)
    assert rows(mesh) == [{"amount": 5.0}] * 2 + [{"amount": 50.0}] * 2


def test_unsaid_options_come_from_the_least_restrictive_cover(
    narrow_and_wide: tuple[Mesh, dict[str, Any], dict[str, Any]],
) -> None:
    mesh, _, wide = narrow_and_wide
    g = delegate(mesh)
    assert g["parent_id"] == wide["id"]
    assert (g["columns"], g["row_filter"], g["expires_at"]) == (None, None, None)
    assert len(rows(mesh)) == 4 and mesh.access.decide(ORDERS, as_=ANALYST).row_filters is None


def test_revoking_a_grant_that_was_not_chosen_leaves_the_delegation(
    narrow_and_wide: tuple[Mesh, dict[str, Any], dict[str, Any]],
) -> None:
    mesh, narrow, wide = narrow_and_wide
    g = delegate(mesh, columns="id,amount")
    assert mesh.access.revoke(narrow["id"], as_="steward@cb") == [narrow["id"]]
    assert len(rows(mesh, "SELECT id, amount FROM cb.sales.orders")) == 4
    assert mesh.access.revoke(wide["id"], as_="steward@cb") == [wide["id"], g["id"]]
    assert not mesh.access.decide(ORDERS, as_=ANALYST).allowed
    listed = {x["id"]: x["status"] for x in mesh.access.grants(include_inactive=True)}
    assert listed[g["id"]] == "revoked"


def test_revoking_the_chosen_parent_cascades_even_when_another_grant_still_covers(
    gov: Mesh,
) -> None:
    table = share(gov)
    database = share(gov, on="cb.sales")
    g = delegate(gov)  # both cover alike: the table grant, the more specific share, wins
    assert g["parent_id"] == table["id"]
    assert gov.access.revoke(table["id"], as_="steward@cb") == [table["id"], g["id"]]
    assert not gov.access.decide(ORDERS, as_=ANALYST).allowed
    again = delegate(gov)  # the admin may delegate again from what is left
    assert again["parent_id"] == database["id"]
    assert gov.access.decide(ORDERS, as_=ANALYST).allowed


# ------------------------------------------------------------------ columns


def test_column_subsets_pick_the_grant_that_holds_them_all(gov: Mesh) -> None:
    left = share(gov, columns="id,region")
    right = share(gov, columns="amount,dt")
    assert delegate(gov, columns="region")["parent_id"] == left["id"]
    g = delegate(gov, to="other@analytics", exclude_columns="id,region,email")
    assert (g["parent_id"], g["columns"]) == (right["id"], ["amount", "dt"])


def test_unsaid_columns_are_the_widest_covering_grant(gov: Mesh) -> None:
    share(gov, columns="id")
    wider = share(gov, columns="id,region,amount")
    g = delegate(gov)
    assert (g["parent_id"], g["columns"]) == (wider["id"], ["amount", "id", "region"])


def test_two_grants_are_never_combined_to_cover_one_delegation(gov: Mesh) -> None:
    share(gov, columns="id,region")
    share(gov, columns="amount")
    message = refused(gov, "no single grantable SELECT grant", columns="id,amount")
    assert message == (
        "no single grantable SELECT grant of domain analytics covers column(s) amount, id "
        "of cb.sales.orders (grants are not combined)"
    )


def test_two_grants_are_not_combined_for_actions_either(gov: Mesh) -> None:
    share(gov)
    share(gov, grant="ALTER")
    refused(gov, "holds no grantable SELECT,ALTER grant on cb.sales.orders", grant="SELECT,ALTER")


def test_a_column_no_grantable_grant_holds_is_named(gov: Mesh) -> None:
    share(gov, columns="id,region")
    share(gov, on="cb.sales", grantable=False)  # held, but not to pass on
    message = refused(gov, "email", columns="id,email")
    assert message == (
        "domain analytics holds no grantable SELECT grant on column(s) email of cb.sales.orders"
    )


# ------------------------------------------------------------------ row filters


def test_row_filter_is_inherited_and_anded(gov: Mesh) -> None:
    eu = share(gov, row_filter="region = 'eu'")
    g = delegate(gov)
    assert (g["parent_id"], g["row_filter"]) == (eu["id"], eu["row_filter"])
    assert {r["region"] for r in rows(gov)} == {"eu"}
    mine = delegate(gov, to="other@analytics", row_filter="amount > 10")
    assert mine["parent_id"] == eu["id"]
    assert eu["row_filter"] in mine["row_filter"] and '"amount" > 10' in mine["row_filter"]
    # EU rows hold amount 5, US rows 50: only the AND of the two filters shows nothing
    assert gov.query("SELECT * FROM cb.sales.orders", as_="other@analytics").num_rows == 0


def test_a_grant_without_row_filter_is_preferred_over_more_columns(gov: Mesh) -> None:
    share(gov, row_filter="region = 'eu'")  # every column, EU rows
    whole_rows = share(gov, columns="id,region")  # two columns, every row
    g = delegate(gov)
    assert (g["parent_id"], g["row_filter"]) == (whole_rows["id"], None)
    assert g["columns"] == ["id", "region"]
    assert len(rows(gov)) == 4


def test_a_column_only_the_filtered_grant_holds_brings_its_filter(gov: Mesh) -> None:
    filtered = share(gov, row_filter="region = 'eu'")
    share(gov, columns="id,region")
    g = delegate(gov, columns="amount")
    assert (g["parent_id"], g["row_filter"]) == (filtered["id"], filtered["row_filter"])
    assert rows(gov) == [{"amount": 5.0}] * 2


# ------------------------------------------------------------------ expiry


def test_expiry_is_inherited_and_bounded(gov: Mesh) -> None:
    ten = share(gov, expires="10d")
    g = delegate(gov)
    assert (g["parent_id"], g["expires_at"]) == (ten["id"], ten["expires_at"])
    assert 4 < in_days(delegate(gov, to="other@analytics", expires="5d")) < 6
    message = refused(gov, "later than the domain's grant", to="analytics:member", expires="20d")
    assert message.startswith("expiry ") and ten["expires_at"] in message


def test_a_later_expiry_picks_the_grant_that_lasts(gov: Mesh) -> None:
    share(gov, expires="10d")
    lasting = share(gov, columns="id,region")
    g = delegate(gov, columns="id", expires="20d")
    assert g["parent_id"] == lasting["id"] and 19 < in_days(g) < 21
    # the lasting grant lacks amount: only the 10-day grant holds it, so 20 days is refused
    refused(gov, "later than the domain's grant", columns="amount", expires="20d")


def test_unsaid_expiry_prefers_a_grant_without_one(gov: Mesh) -> None:
    share(gov, expires="10d")
    later = share(gov, expires="30d", grant="SELECT,DESCRIBE")
    forever = share(gov, grant="SELECT,ALTER")
    g = delegate(gov)
    assert (g["parent_id"], g["expires_at"]) == (forever["id"], None)
    gov.access.revoke(forever["id"], as_="steward@cb")
    assert delegate(gov, to="other@analytics")["parent_id"] == later["id"]


def test_an_expired_grant_no_longer_covers(gov: Mesh) -> None:
    share(gov, expires="1s")
    time.sleep(1.2)
    refused(gov, "holds no grantable SELECT grant on cb.sales.orders")


def test_a_delegation_never_outlives_its_parent(gov: Mesh) -> None:
    parent = share(gov, expires="1d")
    g = delegate(gov, expires=(datetime.now(UTC) + timedelta(hours=23)).isoformat())
    assert g["parent_id"] == parent["id"]
    assert datetime.fromisoformat(g["expires_at"]) <= datetime.fromisoformat(parent["expires_at"])


# ------------------------------------------------------------------ what never covers


def test_non_grantable_grants_never_cover(gov: Mesh) -> None:
    share(gov, grantable=False)
    share(gov, on="cb.sales", grantable=False)
    refused(gov, "holds no grantable SELECT grant on cb.sales.orders")
    narrow = share(gov, columns="id")
    g = delegate(gov)  # the wide grants are not to pass on: the narrow one decides
    assert (g["parent_id"], g["columns"]) == (narrow["id"], ["id"])


def test_a_tag_grant_scoped_to_another_domain_does_not_cover(gov: Mesh) -> None:
    gov.access.assign_tag(ORDERS, "tier=gold", as_="steward@cb")
    gov.access.assign_tag("ib.wealth.holdings", "tier=gold", as_="steward@ib")
    # ib's steward shares its own gold tables; that reaches no cb table
    ib = grant(gov, "steward@ib", grant="SELECT", tags="tier=gold", to="analytics", grantable=True)
    assert ib["scope_domain"] == "ib"
    refused(gov, "holds no grantable SELECT grant on cb.sales.orders")
    g = delegate(gov, on="ib.wealth.holdings")
    assert g["parent_id"] == ib["id"]


def test_a_table_grant_does_not_cover_its_database(gov: Mesh) -> None:
    share(gov)
    refused(gov, "holds no grantable SELECT grant on cb.sales", on="cb.sales")
    database = share(gov, on="cb.sales")
    assert delegate(gov, on="cb.sales")["parent_id"] == database["id"]


def test_ties_are_broken_by_lowest_id(gov: Mesh) -> None:
    a = share(gov, grant="SELECT,DESCRIBE")
    b = share(gov, grant="SELECT,ALTER")
    assert delegate(gov)["parent_id"] == min(a["id"], b["id"])
