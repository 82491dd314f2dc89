"""Breaking-change notices: when sync finds that a registered product dropped or retyped a
column or changed its partitioning, the product's subscribers are told by name.

Subscribers are the principals holding an active grant that covers the product: on the
table, on its database, or by a tag expression its tags (or one of its columns' tags)
match. Once access requests exist, their requesters hold exactly such grants.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from lakemesh import events
from lakemesh.access import tags as tagmod
from lakemesh.store import tables as t
from lakemesh.typedef import now


def subscribers(conn: Connection, table: str) -> list[str]:
    """Principals with an active grant covering ``table``, sorted."""
    g = t.grants.c
    database = table.rsplit(".", 1)[0]
    domain = table.partition(".")[0]
    at = now()
    rows = conn.execute(
        select(g.principal, g.resource_kind, g.resource, g.scope_domain, g.expires_at).where(
            g.revoked_at.is_(None),
            g.resource.in_([table, database]) | (g.resource_kind == "tags"),
        )
    ).all()
    tagged = [r for r in rows if r.resource_kind == "tags"]
    names = {
        r.principal
        for r in rows
        if r.resource_kind != "tags" and (r.expires_at is None or r.expires_at > at)
    }
    if tagged:
        columns = tuple(
            conn.execute(
                select(t.columns.c.name)
                .join(t.catalog_tables, t.catalog_tables.c.id == t.columns.c.table_id)
                .where(t.catalog_tables.c.full_name == table)
            ).scalars()
        )
        raw = _raw_tags(conn, table)
        table_tags, column_tags = tagmod.effective(raw, table, columns)
        for r in tagged:
            if r.expires_at is not None and r.expires_at <= at:
                continue
            if r.scope_domain and r.scope_domain != domain:
                continue
            expr = tagmod.TagExpression.parse(r.resource)
            if expr.matches(table_tags) or any(expr.matches(c) for c in column_tags.values()):
                names.add(r.principal)
    return sorted(names)


def _raw_tags(conn: Connection, table: str) -> dict[str, dict[str, str]]:
    a = t.tag_assignments.c
    database = table.rsplit(".", 1)[0]
    out: dict[str, dict[str, str]] = {}
    for r in conn.execute(
        select(a.resource, a.key, a.value).where(
            (a.resource == database)
            | (a.resource == table)
            | a.resource.startswith(table + ".", autoescape=True)
        )
    ):
        out.setdefault(r.resource, {})[r.key] = r.value
    return out


def is_product(conn: Connection, table: str) -> bool:
    return (
        conn.execute(
            select(t.data_products.c.table_id)
            .join(t.catalog_tables, t.catalog_tables.c.id == t.data_products.c.table_id)
            .where(t.catalog_tables.c.full_name == table)
        ).first()
        is not None
    )


def breaking_change(
    conn: Connection,
    domain: str,
    table: str,
    version: int,
    changes: Sequence[dict[str, Any]],
    actor: str | None,
) -> events.BreakingChange | None:
    """Emit the notice for a product's breaking schema change (in the sync's transaction);
    None when ``table`` is not a product or nothing breaking changed."""
    breaking = [c for c in changes if c.get("breaking")]
    if not breaking or not is_product(conn, table):
        return None
    notice = events.BreakingChange(
        domain=domain,
        actor=actor,
        table=table,
        version=version,
        changes=breaking,
        subscribers=subscribers(conn, table),
    )
    events.emit(conn, notice)
    return notice
