"""What the decision keeps between calls follows every change: the per-user seats and the
tag-expression groups of the snapshot, and the memoised domain ceilings. An expired grant
stops working at the instant it expires, for any decision time, earlier or later (SPEC
2.7); a revocation or a change of tags or users is seen on the next refresh."""

from __future__ import annotations

from typing import Any

from lakemesh.mesh import Mesh
from tests import govmesh

ORDERS = "cb.sales.orders"
ANALYST = "analyst@analytics"


def grant(mesh: Mesh, **step: Any) -> str:
    step.setdefault("on", ORDERS)
    as_ = step.pop("as", "admin@central")
    return str(mesh.access.grant(govmesh.request({"grant": "SELECT", **step}), as_=as_)["id"])


def allowed(mesh: Mesh, principal: str = ANALYST, at: float | None = None) -> bool:
    return mesh.gate.authz().decide(principal, "SELECT", ORDERS, at=at).allowed


def test_a_memoised_ceiling_ends_at_the_instant_its_grant_expires(gov: Mesh) -> None:
    held = grant(gov, to="analytics", grantable=True, expires="1h", **{"as": "steward@cb"})
    grant(gov, to=ANALYST)  # the user's own grant does not expire: only the ceiling does
    expiry = gov.gate.authz().snapshot.by_id[held].expires
    assert expiry is not None
    authz = gov.gate.authz()
    # Each answer below is memoised and then asked for at a time on the other side of
    # the expiry, later and earlier.
    for at, expected in [
        (expiry - 1, True),
        (expiry, False),
        (expiry - 1, True),
        (expiry - 0.001, True),
        (expiry + 3600, False),
        (None, True),
    ]:
        d = authz.decide(ANALYST, "SELECT", ORDERS, at=at)
        assert d.allowed is expected, (at, d)
        if not expected:
            assert d.missing == f"domain analytics holds no SELECT grant on {ORDERS}"


def test_a_revoked_ceiling_is_seen_on_the_next_refresh(gov: Mesh) -> None:
    held = grant(gov, to="analytics", grantable=True, **{"as": "steward@cb"})
    grant(gov, to=ANALYST)
    assert allowed(gov) and allowed(gov)  # the second answer comes through the memo
    gov.access.revoke(held, as_="steward@cb")
    assert not allowed(gov)


def test_seats_and_tag_groups_follow_grants_tags_and_users(gov: Mesh) -> None:
    grant(gov, to="analytics", **{"as": "steward@cb"})
    assert not allowed(gov)
    gov.access.assign_tag(ORDERS, "tier=gold", as_="steward@cb")
    by_role = grant(gov, on=None, tags="tier=gold", to="analytics:member")
    assert allowed(gov) and allowed(gov, "other@analytics")
    gov.access.assign_tag(ORDERS, "tier=silver", as_="steward@cb")
    assert not allowed(gov)
    gov.access.assign_tag(ORDERS, "tier=gold", as_="steward@cb")
    assert allowed(gov)
    # A new user reloads every user's seat: the grants they had stay with them.
    gov.access.create_user("new@analytics", "member")
    assert allowed(gov) and allowed(gov, "new@analytics")
    gov.access.revoke(by_role)
    assert not allowed(gov) and not allowed(gov, "new@analytics")

    own = grant(gov, to=ANALYST)
    assert allowed(gov) and not allowed(gov, "other@analytics")
    gov.access.create_user("newer@analytics", "member")
    assert allowed(gov) and not allowed(gov, "newer@analytics")
    gov.access.revoke(own)
    assert not allowed(gov)
