"""Properties of the gate (Hypothesis): deny by default; a user never exceeds its domain;
revocation and expiry always win at the next decision; listings equal single decisions.

Each property runs on both metadata stores and counts the cases that actually exercised
it (allowed and denied decisions, row filters, masks, the domain ceiling, revocations and
expiries that mattered): a property whose checks were all skipped would pass vacuously,
so each count must reach a floor. Explicit examples pin cases that must be allowed."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
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
SETTINGS = settings(max_examples=25, deadline=None)

pytestmark = govmesh.ON_BOTH_STORES

_copies = itertools.count()


@contextmanager
def fresh(template: govmesh.Template, tmp: Path) -> Iterator[Mesh]:
    with template.copy(tmp / f"m{next(_copies)}") as mesh:
        yield mesh


class Tally(Counter[str]):
    """What a property's examples exercised, summed over all of them. A floor is what the
    explicit examples guarantee or, where random examples reliably add more, about half
    the smallest count seen over 20 runs: a floor missed means a change, not bad luck."""

    def at_least(self, floors: dict[str, int]) -> None:
        short = {k: f"{self[k]} < {n}" for k, n in floors.items() if self[k] < n}
        assert not short, f"the property was barely exercised: {short}; all counts {dict(self)}"


def explicit(table: str, to: str, **kw: Any) -> dict[str, Any]:
    """An explicit grant step of the shape ``grant_steps`` draws."""
    base = {"grant": "SELECT", "columns": None, "row_filter": None, "grantable": False}
    return base | {"on": table, "to": to, "as": OWNER[table.split(".")[0]]} | kw


#: cb shares EU orders (every column) with analytics, to pass on.
EU_ORDERS = explicit("cb.sales.orders", "analytics", row_filter="region = 'eu'", grantable=True)
#: cb shares two columns of customers with analytics, to pass on.
NARROW_CUSTOMERS = explicit(
    "cb.sales.customers", "analytics", columns="customer_id,name", grantable=True
)
#: ib grants holdings to the analyst directly; its domain holds nothing: the ceiling denies.
DIRECT_HOLDINGS = explicit("ib.wealth.holdings", "analyst@analytics")
#: cb grants orders to one of its own members (no ceiling: the table is in its domain).
MEMBER_ORDERS = explicit("cb.sales.orders", "member@cb", columns="id,region")
MEMBER_CUSTOMERS = explicit("cb.sales.customers", "member@cb")


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


@st.composite
def domain_shares(draw: st.DrawFn) -> dict[str, Any]:
    """A producer sharing with the analytics domain, with grant option: what makes a
    user's decision reach its domain's ceiling at all (random steps alone rarely do)."""
    step: dict[str, Any] = draw(grant_steps())
    grant = draw(st.sampled_from(["SELECT", "SELECT,UNMASK"]))
    return step | {"to": "analytics", "grantable": True, "grant": grant}


def share_and_delegate(
    mesh: Mesh, steps: list[dict[str, Any]], delegate: list[tuple[str, bool]]
) -> list[str]:
    """Random producer grants, then the analytics admin delegating some tables (whole, or
    one column) to the analyst; returns the ids of the grants made."""
    return apply_all(mesh, steps) + apply_all(
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


#: With no grant at all, the implicit rules must allow these (one of each rule).
IMPLICIT = [
    ("admin@central", "DESCRIBE", "ib.wealth.holdings"),  # the mesh admin describes all
    ("steward@cb", "ALTER", "cb.sales.orders"),  # an owning steward alters
    ("admin@cb", "DESCRIBE", "cb.sales.customers"),  # an owning admin describes
]


def test_deny_by_default(gov_source: govmesh.Template, tmp_path: Path) -> None:
    """With no grant at all, only the documented implicit rules allow anything."""
    seen = Tally()

    @SETTINGS
    @given(
        principal=st.sampled_from(USERS),
        action=st.sampled_from(ACTIONS),
        table=st.sampled_from(TABLES),
    )
    @example(*IMPLICIT[0])
    @example(*IMPLICIT[1])
    @example(*IMPLICIT[2])
    @example("admin@central", "SELECT", "cb.sales.orders")  # describing is not reading
    def prop(principal: str, action: str, table: str) -> None:
        with fresh(gov_source, tmp_path) as mesh:
            d = mesh.gate.authz().decide(principal, action, table)
            if (principal, action, table) in IMPLICIT:
                assert d.allowed, d
            seen["allowed" if d.allowed else "denied"] += 1
            seen[f"{action} {'allowed' if d.allowed else 'denied'}"] += 1
            if d.allowed:
                assert action in ("DESCRIBE", "ALTER")
                assert set(d.determined_by) <= {"mesh-admin", "owner:steward", "owner:admin"}
                if action == "ALTER":
                    assert d.determined_by[0].startswith("owner:")
            assert not (action == "SELECT" and d.allowed)

    prop()
    seen.at_least({"allowed": 3, "denied": 10, "SELECT denied": 1, "ALTER allowed": 1})


#: The analyst is delegated EU orders (every column, email masked) and two columns of
#: customers; ib's direct grant of holdings is cut by the analytics domain's ceiling.
CEILING_EXAMPLE: dict[str, Any] = {
    "steps": [EU_ORDERS, NARROW_CUSTOMERS, DIRECT_HOLDINGS],
    "delegate": [("cb.sales.orders", True), ("cb.sales.customers", True)],
    "masked": True,
    "must_allow": [
        ("analyst@analytics", "SELECT", "cb.sales.orders"),
        ("analyst@analytics", "SELECT", "cb.sales.customers"),
    ],
}


def test_a_user_never_exceeds_its_domain(gov_source: govmesh.Template, tmp_path: Path) -> None:
    seen = Tally()

    @SETTINGS
    @given(
        shares=st.lists(domain_shares(), min_size=1, max_size=3),
        steps=st.lists(grant_steps(), max_size=5),
        delegate=st.lists(
            st.tuples(st.sampled_from(TABLES), st.booleans()), min_size=1, max_size=3
        ),
        masked=st.booleans(),
        must_allow=st.just([]),
    )
    @example(shares=[], **CEILING_EXAMPLE)
    @example(  # a role's grant, cut to the columns its domain holds
        shares=[],
        steps=[
            explicit("cb.sales.orders", "analytics", columns="id,amount"),
            explicit("cb.sales.orders", "analytics:member"),
        ],
        delegate=[],
        masked=False,
        must_allow=[("other@analytics", "SELECT", "cb.sales.orders")],
    )
    def prop(
        shares: list[dict[str, Any]],
        steps: list[dict[str, Any]],
        delegate: list[tuple[str, bool]],
        masked: bool,
        must_allow: list[tuple[str, str, str]],
    ) -> None:
        with fresh(gov_source, tmp_path) as mesh:
            seen["grants made"] += len(share_and_delegate(mesh, shares + steps, delegate))
            if masked:  # a mask changes no column or row a decision gives
                mesh.access.mask(column="cb.sales.orders.email", spec="hash", as_="steward@cb")
            authz = mesh.gate.authz()
            for user, action, table in must_allow:
                assert authz.decide(user, action, table).allowed, (user, action, table)
            for user, table, action in itertools.product(
                ["analyst@analytics", "other@analytics", "admin@analytics"],
                TABLES,
                ["SELECT", "UNMASK"],
            ):
                u = authz.decide(user, action, table)
                dom = authz.decide("analytics", action, table)
                if not u.allowed:
                    seen["denied"] += 1
                    if "domain analytics" in (u.missing or ""):
                        seen["denied by the ceiling"] += 1
                    continue
                seen["allowed"] += 1
                seen["column subset"] += len(u.columns) < len(COLUMNS[table])
                seen["masked"] += bool(u.masks)
                assert dom.allowed, f"{user} {action} {table} allowed without its domain"
                assert set(u.columns) <= set(dom.columns)
                if dom.row_filters is not None:  # the domain sees only filtered rows
                    seen["domain row filter"] += 1
                    assert u.row_filters is not None
                    for f in u.row_filters:
                        assert any(df in f for df in dom.row_filters), (f, dom.row_filters)

    prop()
    seen.at_least(
        {
            "grants made": 30,
            "allowed": 12,
            "denied": 300,
            "denied by the ceiling": 1,
            "column subset": 6,
            "domain row filter": 3,
            "masked": 1,
        }
    )


#: member@cb holds orders for two days and customers for an hour; the customers grant
#: is revoked: orders stays allowed now and later, customers at neither.
REVOCATION_EXAMPLE: dict[str, Any] = {
    "steps": [MEMBER_ORDERS, MEMBER_CUSTOMERS, EU_ORDERS],
    "expiries": ["2d", "1h", "1h"],
    "revoke": {1},
    "expect": [
        ("member@cb", "cb.sales.orders", True, True),
        ("member@cb", "cb.sales.customers", False, False),
        ("analytics", "cb.sales.orders", True, False),
    ],
}
#: Revoking the domain's grant takes the analyst's delegation with it.
CASCADE_EXAMPLE: dict[str, Any] = {
    "steps": [
        EU_ORDERS,
        explicit("cb.sales.orders", "analyst@analytics", **{"as": "admin@analytics"}),
    ],
    "expiries": [None, None],
    "revoke": {0},
    "expect": [
        ("analytics", "cb.sales.orders", False, False),
        ("analyst@analytics", "cb.sales.orders", False, False),
    ],
}


def test_revocation_and_expiry_win_at_the_next_decision(
    gov_source: govmesh.Template, tmp_path: Path
) -> None:
    seen = Tally()

    @SETTINGS
    @given(
        steps=st.lists(grant_steps(), min_size=1, max_size=6),
        expiries=st.lists(st.sampled_from([None, "1h", "2d"]), min_size=6, max_size=6),
        revoke=st.sets(st.integers(0, 5)),
        expect=st.just([]),
    )
    @example(**REVOCATION_EXAMPLE)
    @example(**CASCADE_EXAMPLE)
    def prop(
        steps: list[dict[str, Any]],
        expiries: list[str | None],
        revoke: set[int],
        expect: list[tuple[str, str, bool, bool]],
    ) -> None:
        with fresh(gov_source, tmp_path) as mesh:
            ids = apply_all(
                mesh,
                [s | {"expires": e} for s, e in zip(steps, expiries[: len(steps)], strict=True)],
            )
            revoked = {ids[i] for i in revoke if i < len(ids)}
            pairs = list(itertools.product(["analyst@analytics", "member@cb", "analytics"], TABLES))
            authz = mesh.gate.authz()
            before = {
                (user, table): {
                    gid for p in authz.decide(user, "SELECT", table).permits for gid in p.grants
                }
                for user, table in pairs
            }
            gone: set[str] = set()
            for gid in revoked:
                with contextlib.suppress(LakemeshError):  # already revoked through a cascade
                    gone |= set(mesh.access.revoke(gid))
            seen["revoked"] += len(gone)
            authz = mesh.gate.authz()
            later = time.time() + 3 * 3600  # past every 1h expiry
            expired = {
                g.id
                for g in authz.snapshot.by_id.values()
                if g.expires is not None and g.expires <= later
            }
            for user, table in pairs:
                now_d = authz.decide(user, "SELECT", table)
                used = {gid for p in now_d.permits for gid in p.grants}
                seen["allowed now"] += now_d.allowed
                seen["a revoked grant had decided"] += bool(before[user, table] & gone)
                seen["an expiring grant decides"] += bool(used & expired)
                assert not used & gone, "a revoked grant decided"
                later_d = authz.decide(user, "SELECT", table, at=later)
                used = {gid for p in later_d.permits for gid in p.grants}
                assert not used & (gone | expired), "an expired or revoked grant decided"
            for user, table, allowed_now, allowed_later in expect:
                assert authz.decide(user, "SELECT", table).allowed is allowed_now, (user, table)
                got = authz.decide(user, "SELECT", table, at=later).allowed
                assert got is allowed_later, (user, table)

    prop()
    seen.at_least(
        {
            "revoked": 8,
            "allowed now": 5,
            "a revoked grant had decided": 3,
            "an expiring grant decides": 1,
        }
    )


LISTING_EXAMPLE: dict[str, Any] = {
    "steps": [EU_ORDERS, MEMBER_ORDERS],
    "delegate": [("cb.sales.orders", False)],
    "products": ["cb.sales.customers"],
    "must_allow": [
        ("analyst@analytics", "SELECT", "cb.sales.orders"),
        ("analyst@analytics", "DESCRIBE", "cb.sales.customers"),  # a product: discovery
        ("member@cb", "SELECT", "cb.sales.orders"),
    ],
}


def test_listings_equal_single_decisions(gov_source: govmesh.Template, tmp_path: Path) -> None:
    """filter_allowed is an optimisation of decide, never a second opinion."""
    seen = Tally()

    @SETTINGS
    @given(
        steps=st.lists(grant_steps(), min_size=0, max_size=6),
        delegate=st.lists(st.tuples(st.sampled_from(TABLES), st.booleans()), max_size=3),
        products=st.lists(st.sampled_from(TABLES), unique=True, max_size=2),
        must_allow=st.just([]),
    )
    @example(**LISTING_EXAMPLE)
    def prop(
        steps: list[dict[str, Any]],
        delegate: list[tuple[str, bool]],
        products: list[str],
        must_allow: list[tuple[str, str, str]],
    ) -> None:
        with fresh(gov_source, tmp_path) as mesh:
            share_and_delegate(mesh, steps, delegate)
            for table in products:
                govmesh.register_product(mesh, table)
            authz = mesh.gate.authz()
            for principal, action, table in must_allow:
                assert authz.decide(principal, action, table).allowed, (principal, action, table)
            for principal, action in itertools.product([*USERS, "analytics", "cb"], ACTIONS):
                listed = authz.filter_allowed(principal, action, TABLES)
                single = [n for n in TABLES if authz.decide(principal, action, n).allowed]
                seen[{0: "listed none", len(TABLES): "listed all"}.get(len(single), "some")] += 1
                assert listed == single, (principal, action)

    prop()
    seen.at_least({"listed none": 300, "listed all": 10, "some": 100})
