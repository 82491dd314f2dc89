"""Mask rules: which column (or every column with a tag) is masked, and how.

The rule is policy, kept here; how a method becomes SQL lives in ``masks``. One active
rule per target: setting a new one replaces the old (the old row keeps its history), and
``none`` removes it. Column rules may be set by the mesh admin or the owning domain's
stewards and admins; tag rules span domains, so only the mesh admin sets them.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Connection, insert, select, update

from lakemesh.errors import InvalidInput, NotFound, PermissionDenied
from lakemesh.principals import User
from lakemesh.store import tables as t
from lakemesh.tags import Resource, check_key, check_value, definitions, resource_exists
from lakemesh.typedef import now


def set_mask(
    conn: Connection, actor: User, *, column: str | None, tag: str | None, spec: str
) -> dict[str, Any]:
    if (column is None) == (tag is None):
        raise InvalidInput("give exactly one of --column TABLE.COLUMN or --tag KEY=VALUE")
    if column is not None:
        res = Resource.parse(column)
        if res.kind != "column":
            raise InvalidInput(f"invalid column {column!r}: expected domain.db.table.column")
        if not (
            actor.is_mesh_admin
            or (actor.domain == res.domain and actor.role in ("steward", "admin"))
        ):
            raise PermissionDenied(f"{actor.name} may not mask columns of domain {res.domain}")
        resource_exists(conn, res)
        kind, target = "column", str(res)
    else:
        assert tag is not None
        if not actor.is_mesh_admin:
            raise PermissionDenied("only the mesh admin may mask by tag")
        key, sep, value = tag.partition("=")
        if not sep:
            raise InvalidInput(f"invalid tag {tag!r}: expected KEY=VALUE")
        key, value = check_key(key.strip()), check_value(value.strip())
        allowed = definitions(conn).get(key)
        if allowed is None:
            raise NotFound(f"unknown tag key {key!r}")
        if value not in allowed:
            raise InvalidInput(f"tag {key!r} does not allow value {value!r}")
        kind, target = "tag", f"{key}={value}"
    stamp = now()
    m = t.masks
    replaced = conn.execute(
        update(m)
        .where(m.c.target_kind == kind, m.c.target == target, m.c.removed_at.is_(None))
        .values(removed_at=stamp)
    ).rowcount
    if spec.strip().lower() == "none":
        if not replaced:
            raise NotFound(f"there is no mask on {target} to remove")
        return {"target_kind": kind, "target": target, "method": None, "removed": True}
    from lakemesh.masks import parse_mask

    mask = parse_mask(spec)
    mask_id = "m" + secrets.token_hex(8)
    values = {
        "id": mask_id,
        "target_kind": kind,
        "target": target,
        "method": mask.method,
        "expression": mask.sql if mask.method == "custom" else None,
        "created_by": actor.name,
        "created_at": stamp,
    }
    conn.execute(insert(m).values(**values))
    values["created_at"] = stamp.isoformat()
    return values


def active(conn: Connection) -> list[dict[str, Any]]:
    m = t.masks
    return [
        dict(r._mapping)
        for r in conn.execute(
            select(m.c.id, m.c.target_kind, m.c.target, m.c.method, m.c.expression)
            .where(m.c.removed_at.is_(None))
            .order_by(m.c.target)
        )
    ]
