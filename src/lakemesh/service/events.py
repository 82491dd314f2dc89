"""``mesh.events`` and ``mesh.alerts``: what changed, and what an operator must look at."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakemesh import events
from lakemesh.access.actions import MESH, Target
from lakemesh.access.principals import MESH_ADMIN
from lakemesh.events import alerts

if TYPE_CHECKING:
    from lakemesh.mesh import Mesh


class Events:
    def __init__(self, mesh: Mesh) -> None:
        self._mesh = mesh

    def recent(
        self, limit: int = 100, type_prefix: str | None = None, *, as_: str = MESH_ADMIN
    ) -> list[dict[str, Any]]:
        """The newest outbox events, newest first."""
        session = self._mesh.gate.session(as_)
        session.require("events.read", MESH, audit_as="events.read")
        with session.read() as conn:
            return events.recent(conn, limit, type_prefix)


class Alerts:
    def __init__(self, mesh: Mesh) -> None:
        self._mesh = mesh

    def all(self, *, include_resolved: bool = False, as_: str = MESH_ADMIN) -> list[alerts.Alert]:
        """Alerts ``as_`` may see (mesh admin: all; a domain's stewards and admins: the
        domain's), newest first. Listings of governance state are audited like search."""
        session = self._mesh.gate.session(as_)

        def visible(domain: str | None) -> bool:
            target = Target("domain", domain, domain) if domain else MESH
            return session.allowed("alert.read", target)

        return session.audited(
            "alert.list",
            None,
            lambda conn: alerts.list_alerts(conn, visible, include_resolved=include_resolved),
            lambda rows: {"results": len(rows)},
        )

    def acknowledge(self, alert_id: int, *, as_: str = MESH_ADMIN) -> alerts.Alert:
        """Resolve an open alert (compare-and-set: one acknowledger wins)."""
        from lakemesh.service.commands import AcknowledgeAlert  # not for a query

        return self._mesh.gate.session(as_).execute(AcknowledgeAlert(alert_id=alert_id))
