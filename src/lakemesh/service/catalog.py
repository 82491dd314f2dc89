"""``mesh.catalog``: the central catalog as a principal may see it.

Unknown and invisible tables look alike (SPEC 2.8), and a principal limited to some
columns sees only those, in the schema, the history and the diff. Each call is one
session: one actor resolution and one policy refresh, however much it reads.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from lakemesh.access.actions import MESH
from lakemesh.access.authorizer import Decision
from lakemesh.access.principals import MESH_ADMIN
from lakemesh.errors import NotFound
from lakemesh.metadata.central import CentralCatalog, TableDetail
from lakemesh.service.session import Session
from lakemesh.typedef import TableName

if TYPE_CHECKING:
    from lakemesh.catalog import Partition
    from lakemesh.mesh import Mesh
    from lakemesh.schema import SchemaChange


class Catalog:
    def __init__(self, mesh: Mesh, central: CentralCatalog) -> None:
        self._mesh, self._central = mesh, central

    def search(
        self, text: str, *, as_: str = MESH_ADMIN, limit: int = 50
    ) -> builtins.list[dict[str, Any]]:
        """Tables matching ``text`` that ``as_`` may describe (SPEC 2.1: products are
        listed to everyone, other tables only with DESCRIBE)."""
        from lakemesh.metadata import search as fulltext

        session = self._mesh.gate.session(as_)
        decision = session.require("catalog.search", MESH, audit_as="catalog.search")
        with session.read() as conn:
            hits = fulltext.search(conn, text, limit=None)
        authz, actor = session.authz, session.actor.name
        visible = set(authz.filter_allowed(actor, "DESCRIBE", [h["table"] for h in hits]))
        found = []
        for hit in (h for h in hits if h["table"] in visible):
            seen = self._visible_detail(authz.decide(actor, "DESCRIBE", hit["table"]))
            if not fulltext.matches(text, hit["table"], seen.description, seen.schema):
                continue  # it matched only through what the caller may not see
            hit["columns"] = fulltext.matching_columns(hit["table"], seen.schema, text)
            found.append(hit)
            if len(found) == limit:
                break
        return session.audited(
            "catalog.search",
            None,
            lambda conn: found,
            lambda h: {"query": text[:200], "results": len(h)},
            decision,
        )

    def describe(self, name: str, *, as_: str = MESH_ADMIN) -> tuple[TableDetail, Decision]:
        """A table's details as ``as_`` may see them, and the decision that allowed it."""
        session = self._mesh.gate.session(as_)
        decision = self._describe(session, name)
        return self._visible_detail(decision), decision

    def table(self, name: str, *, as_: str = MESH_ADMIN) -> TableDetail:
        return self.describe(name, as_=as_)[0]

    def tables(
        self, domain: str | None = None, *, as_: str = MESH_ADMIN
    ) -> builtins.list[dict[str, Any]]:
        """Central-catalog tables ``as_`` may describe (optionally of one domain)."""
        session = self._mesh.gate.session(as_)
        session.require("catalog.list", MESH)
        rows = self._central.tables(domain)
        names = [r["full_name"] for r in rows]
        visible = set(session.authz.filter_allowed(session.actor.name, "DESCRIBE", names))
        return [r for r in rows if r["full_name"] in visible]

    def partitions(
        self, name: str, *, as_: str = MESH_ADMIN, limit: int | None = None, offset: int = 0
    ) -> builtins.list[Partition]:
        self._describe(self._mesh.gate.session(as_), name)
        return self._central.partitions(name, limit=limit, offset=offset)

    def partition(
        self, name: str, key: str | dict[str, str | None], *, as_: str = MESH_ADMIN
    ) -> Partition | None:
        self._describe(self._mesh.gate.session(as_), name)
        return self._central.partition(name, key)

    def schema_history(self, name: str, *, as_: str = MESH_ADMIN) -> builtins.list[dict[str, Any]]:
        """Every schema version, columns limited to what ``as_`` may see."""
        session = self._mesh.gate.session(as_)
        return self._history(session, self._describe(session, name))

    def schema_diff(
        self, name: str, old: int, new: int, *, as_: str = MESH_ADMIN
    ) -> builtins.list[SchemaChange]:
        session = self._mesh.gate.session(as_)
        decision = self._describe(session, name)
        whole = _whole(session, decision)
        return [
            c
            for c in self._central.schema_diff(decision.table, old, new)
            if whole or c.column is None or c.column in decision.columns
        ]

    def show(self, name: str, *, as_: str = MESH_ADMIN, partitions: int = 20) -> dict[str, Any]:
        """Everything ``lakemesh show`` prints: details, columns, tags, masks, partitions,
        schema history (columns limited to what ``as_`` may see)."""
        session = self._mesh.gate.session(as_)
        decision = self._describe(session, name)
        detail = self._visible_detail(decision)
        tm = session.snapshot.tables[detail.name]
        out = detail.as_dict()
        for col in out["columns"]:
            col["tags"] = tm.column_tags.get(col["name"], {})
            rule = tm.masks.get(col["name"])
            col["mask"] = rule.method if rule else None
        out["tags"] = tm.table_tags
        out["product"] = tm.product
        out["partitions"] = [
            p._asdict() for p in self._central.partitions(detail.name, limit=partitions)
        ]
        out["history"] = self._history(session, decision)
        return out

    # ------------------------------------------------------------------ internals

    def _describe(self, session: Session, name: str) -> Decision:
        """DESCRIBE on ``name``, audited; unknown and invisible look alike."""
        table = str(TableName.parse(name))
        decision = session.check("DESCRIBE", table)
        session.decided(decision, "catalog.describe")
        if not decision.allowed:
            raise NotFound(f"table {table} is not in the central catalog")
        return decision

    def _visible_detail(self, decision: Decision) -> TableDetail:
        detail = self._central.table(decision.table)
        visible = set(decision.columns)
        detail.schema = detail.schema.model_copy(
            update={"columns": tuple(c for c in detail.schema.columns if c.name in visible)}
        )
        return detail

    def _history(self, session: Session, decision: Decision) -> builtins.list[dict[str, Any]]:
        """Who sees the whole table sees its whole history (dropped columns included);
        a column-limited principal sees only its columns."""
        history = self._central.schema_history(decision.table)
        if _whole(session, decision):
            return history
        visible = set(decision.columns)
        return [
            {
                **v,
                "columns": [c for c in v["columns"] if c["name"] in visible],
                "changes": [
                    c for c in v["changes"] if c.get("column") in visible or c.get("column") is None
                ],
            }
            for v in history
        ]


def _whole(session: Session, decision: Decision) -> bool:
    return set(decision.columns) == session.snapshot.tables[decision.table].colset
