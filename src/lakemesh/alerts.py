"""Alerts: conditions an operator must look at (a failed or refused sync, a breaking
schema change, an audit checkpoint that could not be written).

Raised in the transaction of whatever noticed the condition; resolved either by the
mesh itself (a sync that succeeds again) or by a person with ``lakemesh alerts ack``.
Who sees an alert follows who runs the domain: the mesh admin sees all of them, a
domain's stewards and admins see their domain's; nobody else sees any, and an alert the
caller may not see reads like one that does not exist (SPEC 2.8).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, false, insert, select, update

from lakemesh.errors import Conflict, NotFound
from lakemesh.principals import User
from lakemesh.store import tables as t
from lakemesh.typedef import now


def raise_alert(
    conn: Connection, domain_id: int | None, severity: str, kind: str, message: str
) -> None:
    conn.execute(
        insert(t.alerts).values(
            domain_id=domain_id, severity=severity, kind=kind, message=message, created_at=now()
        )
    )


def list_alerts(
    conn: Connection, actor: User, *, include_resolved: bool = False
) -> list[dict[str, Any]]:
    """The alerts ``actor`` may see, newest first; open ones only unless asked."""
    q = _visible(actor).order_by(t.alerts.c.id.desc())
    if not include_resolved:
        q = q.where(t.alerts.c.resolved_at.is_(None))
    return [_public(r) for r in conn.execute(q)]


def acknowledge(conn: Connection, actor: User, alert_id: int) -> dict[str, Any]:
    """Resolve an open alert as ``actor`` (compare-and-set: one acknowledger wins)."""
    row = conn.execute(_visible(actor).where(t.alerts.c.id == alert_id)).first()
    if row is None:
        raise NotFound(f"unknown alert {alert_id}")
    if row.resolved_at is not None:
        raise Conflict(f"alert {alert_id} is already resolved")
    done = conn.execute(
        update(t.alerts)
        .where(t.alerts.c.id == alert_id, t.alerts.c.resolved_at.is_(None))
        .values(resolved_at=now(), resolved_by=actor.name)
    )
    if done.rowcount != 1:
        raise Conflict(f"alert {alert_id} is already resolved")
    updated = conn.execute(_visible(actor).where(t.alerts.c.id == alert_id)).one()
    return _public(updated)


def _visible(actor: User) -> Any:
    a, d = t.alerts, t.domains
    q = select(a, d.c.name.label("domain")).select_from(a.outerjoin(d, d.c.id == a.c.domain_id))
    if actor.is_mesh_admin:
        return q
    if actor.role in ("steward", "admin"):
        return q.where(d.c.name == actor.domain)
    return q.where(false())


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "domain": row.domain,
        "severity": row.severity,
        "kind": row.kind,
        "message": row.message,
        "created_at": row.created_at.isoformat(),
        "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
        "resolved_by": row.resolved_by,
    }
