"""``mesh.catalog``: the central catalog as a principal may see it.

Unknown and invisible tables look alike (SPEC 2.8), and a principal limited to some
columns sees only those, in the schema, the history and the diff. Each call is one
session: one actor resolution and one policy refresh, however much it reads.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from lakemesh.access.actions import MESH, Target
from lakemesh.access.authorizer import Decision
from lakemesh.access.principals import MESH_ADMIN
from lakemesh.access.snapshot import database_has_pii, pii_columns
from lakemesh.errors import NotFound
from lakemesh.metadata.central import Brief, CentralCatalog, TableDetail, briefs
from lakemesh.service.session import Session
from lakemesh.typedef import TableName

if TYPE_CHECKING:
    from lakemesh.access.snapshot import Snapshot
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
        listed to everyone, other tables only with DESCRIBE), registered products first.

        Every word of ``text`` must start a word of what the caller may see of a table:
        its name, description, columns, the product's description and owner, its tags and
        its columns' tags, and the glossary terms linked to it or its columns."""
        from lakemesh.metadata import search as fulltext
        from lakemesh.products import glossary, registry

        session = self._mesh.gate.session(as_)
        decision = session.require("catalog.search", MESH, audit_as="catalog.search")
        words = fulltext.terms(text)
        with session.read() as conn:
            hits = fulltext.search(conn, text, limit=None)
            products = {p.table: p for p in registry.all_products(conn)}
            terms: dict[str, builtins.list[str]] = {}  # resource -> its terms
            for term in glossary.all_terms(conn):
                for resource in term.links:
                    terms.setdefault(resource, []).append(term.name)
        linked = {".".join(r.split(".")[:3]) for r in terms}
        snapshot = session.snapshot
        order = {h["table"]: i for i, h in enumerate(hits)}
        by_name = {h["table"]: h for h in hits}
        for name in (*products, *_tagged(snapshot, words), *linked):
            tm = snapshot.tables.get(name)
            if tm is not None and name not in by_name:
                by_name[name] = {"table": name, "description": None, "format": None}
        authz, actor = session.authz, session.actor.name
        visible = set(authz.filter_allowed(actor, "DESCRIBE", list(by_name)))
        ranked = sorted(
            visible,
            key=lambda n: (n not in products, order.get(n, len(order)), n),
        )
        todo = []
        for name in ranked:
            tm = snapshot.tables[name]
            if name not in order and not fulltext.any_word_starts(
                words, _extra_text(tm, list(tm.columns), products.get(name), terms, name)
            ):
                # Not an index hit, so some word is in none of its name, description and
                # columns: it can match only if a word is in what the index does not hold
                # (product, tags, glossary). A look in memory, not a read.
                continue
            todo.append(name)
        found: builtins.list[dict[str, Any]] = []
        with session.read() as conn:  # the hits' details, a batch at a time
            for start in range(0, len(todo), max(limit, 50)):
                batch = todo[start : start + max(limit, 50)]
                seen_all = briefs(conn, batch)
                for name in batch:
                    if name not in seen_all:
                        continue  # removed since the snapshot was read
                    decision = authz.decide(actor, "DESCRIBE", name)
                    hit = _search_hit(
                        text,
                        by_name[name],
                        seen_all[name],
                        decision,
                        (snapshot.tables[name], products.get(name), terms),
                    )
                    if hit is not None:
                        found.append(hit)
                    if len(found) == limit:
                        break
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
        with session.read() as conn:  # one consistent read of everything shown
            return self._show(session, decision, conn, partitions)

    def _show(
        self, session: Session, decision: Decision, conn: Connection, partitions: int
    ) -> dict[str, Any]:
        detail = self._visible_detail(decision, conn)
        tm = session.snapshot.tables[detail.name]
        out = detail.as_dict()
        for col in out["columns"]:
            col["tags"] = tm.column_tags.get(col["name"], {})
            rule = tm.masks.get(col["name"])
            col["mask"] = rule.method if rule else None
        out["tags"] = tm.table_tags
        out["product"] = tm.product
        out["pii"] = pii_columns(tm.column_tags, tm.columns)
        out["database_pii"] = database_has_pii(session.snapshot, tm.database)
        out["partitions"] = [
            p._asdict() for p in self._central.partitions(detail.name, limit=partitions, conn=conn)
        ]
        out["history"] = self._history(session, decision, conn)
        out.update(self._stewardship(session, detail.name, out["columns"], conn))
        return out

    def _stewardship(
        self,
        session: Session,
        table: str,
        columns: builtins.list[dict[str, Any]],
        conn: Connection,
    ) -> dict[str, Any]:
        """Product info, quality over time, lineage, glossary terms and the classifier's
        recommendations, limited to what the caller may see."""
        from lakemesh.products import glossary, graph, registry

        visible = {c["name"] for c in columns}
        product = registry.find(conn, table) if session.snapshot.tables[table].product else None
        quality = registry.quality_series(conn, table) if product else []
        terms = glossary.terms_of(conn, table)
        up = graph.walk(conn, table, "upstream", 3)
        down = graph.walk(conn, table, "downstream", 3)
        seen = {
            r: names for r, names in terms.items() if r == table or r.rsplit(".", 1)[1] in visible
        }
        for c in columns:
            c["glossary"] = seen.get(f"{table}.{c['name']}", [])

        def shown(node: str) -> bool:
            return "/" in node or session.allowed("DESCRIBE", node)

        out: dict[str, Any] = {
            "product_info": product.as_dict() if product else None,
            "quality": [
                q | {"metrics": [m for m in q["metrics"] if m["column"] in (None, *visible)]}
                for q in quality
            ],
            "glossary": seen,
            "lineage": {
                "upstream": [e for e in up if shown(e["source"]) and shown(e["target"])],
                "downstream": [e for e in down if shown(e["source"]) and shown(e["target"])],
            },
        }
        if session.allowed("classify.read", Target("domain", *[table.partition(".")[0]] * 2)):
            from lakemesh.classify import recommendations as recs

            out["classification"] = [r.as_dict() for r in recs.for_table(conn, table)]
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

    def _visible_detail(self, decision: Decision, conn: Connection | None = None) -> TableDetail:
        detail = self._central.table(decision.table, conn)
        visible = set(decision.columns)
        detail.schema = detail.schema.model_copy(
            update={"columns": tuple(c for c in detail.schema.columns if c.name in visible)}
        )
        return detail

    def _history(
        self, session: Session, decision: Decision, conn: Connection | None = None
    ) -> builtins.list[dict[str, Any]]:
        """Who sees the whole table sees its whole history (dropped columns included);
        a column-limited principal sees only its columns."""
        history = self._central.schema_history(decision.table, conn)
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


def _tagged(snapshot: Snapshot, words: builtins.list[str]) -> builtins.list[str]:
    """Tables with a tag (on them or a column) whose key or value starts with a word, from
    the snapshot's tag index: a look at each distinct tag, not at every table."""
    found: set[str] = set()
    for (key, value), tables in snapshot.tag_index.items():
        tokens = (key.lower(), value.lower())
        if any(tok.startswith(w) for tok in tokens for w in words):
            found |= tables
    return sorted(found)


def _search_hit(
    text: str,
    hit: dict[str, Any],
    brief: Brief,
    decision: Decision,
    context: tuple[Any, Any, Mapping[str, builtins.list[str]]],
) -> dict[str, Any] | None:
    """A search result as the caller may see it, or None when the table matched only
    through what the caller may not see (a hidden column's name or description).
    ``context`` is the table's policy entry, its product (or None) and the glossary."""
    from lakemesh.metadata import search as fulltext

    tm, product, terms = context
    name = decision.table
    visible = set(decision.columns)
    schema = brief.schema.model_copy(
        update={"columns": tuple(c for c in brief.schema.columns if c.name in visible)}
    )
    extra = _extra_text(tm, schema.names, product, terms, name)
    described = " ".join(p for p in (brief.description, extra) if p)
    if not fulltext.matches(text, name, described, schema):
        return None
    hit["format"] = hit["format"] or brief.format
    hit["description"] = (product.description if product else None) or brief.description
    hit["product"] = product is not None
    hit["columns"] = fulltext.matching_columns(name, schema, text)
    return hit


def _extra_text(
    tm: Any,
    columns: builtins.list[str],
    product: Any,
    terms: Mapping[str, builtins.list[str]],
    table: str,
) -> str:
    """What search reads beyond the catalog's own document, limited to ``columns``."""
    parts = [f"{k} {v}" for k, v in tm.table_tags.items()]
    for c in columns:
        parts += [f"{k} {v}" for k, v in tm.column_tags.get(c, {}).items()]
        parts += terms.get(f"{table}.{c}", [])
    parts += terms.get(table, [])
    if product is not None:
        parts += [product.description or "", product.owner]
    return " ".join(parts)


def _whole(session: Session, decision: Decision) -> bool:
    return set(decision.columns) == session.snapshot.tables[decision.table].colset
