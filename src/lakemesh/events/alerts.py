"""Alerts: conditions an operator must look at (a failed or refused sync, a breaking
schema change, an audit checkpoint that could not be written).

Raised in the transaction of whatever noticed the condition; resolved either by the
mesh itself (a sync that succeeds again) or by a person with ``lakemesh alerts ack``.
Who sees an alert follows who runs the domain: the mesh admin sees all of them, a
domain's stewards and admins see their domain's; nobody else sees any, and an alert the
caller may not see reads like one that does not exist (SPEC 2.8).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, insert, select, update

from lakemesh.errors import Conflict, NotFound
from lakemesh.store import tables as t
from lakemesh.typedef import Frozen, now


def raise_alert(
    conn: Connection, domain_id: int | None, severity: str, kind: str, message: str
) -> None:
    conn.execute(
        insert(t.alerts).values(
            domain_id=domain_id, severity=severity, kind=kind, message=message, created_at=now()
        )
    )


def list_alerts(
    conn: Connection, visible: Callable[[str | None], bool], *, include_resolved: bool = False
) -> list[Alert]:
    """The alerts whose domain ``visible`` admits (None: a mesh-wide alert), newest
    first; open ones only unless asked."""
    q = _query().order_by(t.alerts.c.id.desc())
    if not include_resolved:
        q = q.where(t.alerts.c.resolved_at.is_(None))
    return [_public(r) for r in conn.execute(q) if visible(r.domain)]


def get(conn: Connection, alert_id: int) -> Alert:
    row = conn.execute(_query().where(t.alerts.c.id == alert_id)).first()
    if row is None:
        raise NotFound(f"unknown alert {alert_id}")
    return _public(row)


def acknowledge(conn: Connection, actor: str, alert_id: int) -> Alert:
    """Resolve an open alert as ``actor`` (compare-and-set: one acknowledger wins)."""
    done = conn.execute(
        update(t.alerts)
        .where(t.alerts.c.id == alert_id, t.alerts.c.resolved_at.is_(None))
        .values(resolved_at=now(), resolved_by=actor)
    )
    if done.rowcount != 1:
        raise Conflict(f"alert {alert_id} is already resolved")
    return get(conn, alert_id)


def _query() -> Any:
    a, d = t.alerts, t.domains
    return select(a, d.c.name.label("domain")).select_from(a.outerjoin(d, d.c.id == a.c.domain_id))


class Alert(Frozen):
    """An alert as its readers see it (times as ISO-8601 text)."""

    id: int
    domain: str | None  #: None: the mesh itself (e.g. the audit checkpoint)
    severity: str
    kind: str
    message: str
    created_at: str
    resolved_at: str | None
    resolved_by: str | None


def _public(row: Any) -> Alert:
    return Alert(
        id=row.id,
        domain=row.domain,
        severity=row.severity,
        kind=row.kind,
        message=row.message,
        created_at=row.created_at.isoformat(),
        resolved_at=row.resolved_at.isoformat() if row.resolved_at else None,
        resolved_by=row.resolved_by,
    )
