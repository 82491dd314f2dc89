"""``mesh.audit``: the hash-chained audit log, its verification and its checkpoints.

Reading, verifying and signing the log are administrative actions like any other:
decided by the action registry (the mesh admin), a refusal audited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakemesh import audit
from lakemesh.access.actions import MESH
from lakemesh.access.principals import MESH_ADMIN

if TYPE_CHECKING:
    from lakemesh.mesh import Mesh


class Audit:
    def __init__(self, mesh: Mesh) -> None:
        self._mesh = mesh

    def records(self, *, as_: str = MESH_ADMIN, **filters: Any) -> list[audit.AuditRecord]:
        """Newest first; ``filters``: principal, resource, action, outcome, since, until,
        limit (see ``audit.list_records``)."""
        self._mesh.gate.session(as_).require("audit.read", MESH, audit_as="audit.read")
        return audit.list_records(self._mesh.store, **filters)

    def verify(self, *, as_: str = MESH_ADMIN) -> audit.VerifyReport:
        self._mesh.gate.session(as_).require("audit.verify", MESH, audit_as="audit.verify")
        return audit.verify(self._mesh.store, self._mesh.home)

    def checkpoint(self, *, as_: str = MESH_ADMIN) -> audit.Checkpoint:
        session = self._mesh.gate.session(as_)
        session.require("audit.checkpoint", MESH, audit_as="audit.checkpoint")
        return audit.checkpoint(self._mesh.store, self._mesh.home)
