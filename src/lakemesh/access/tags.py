"""Governed tags (LF-tags): keys with allowed values, assigned to databases, tables, columns.

A resource has at most one value per key. Tags inherit database -> table -> column unless
the lower level assigns the same key itself. Tag expressions (``k=v1|v2 AND k2=v3``: keys
AND, values OR) select resources for grants and masks, including resources tagged later.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, delete, insert, select, update

from lakemesh.errors import InvalidInput, NotFound
from lakemesh.store import tables as t
from lakemesh.typedef import Frozen, check_domain_name, check_object_name, now

KEY = re.compile(r"[a-z][a-z0-9_]{0,127}")
VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,255}")
MAX_VALUES = 1000

ResourceKind = Literal["database", "table", "column"]


@dataclass(frozen=True, slots=True)
class Resource:
    """A taggable resource by its central-catalog name: dom.db, dom.db.t or dom.db.t.col."""

    kind: ResourceKind
    domain: str
    database: str
    table: str | None = None
    column: str | None = None

    @classmethod
    def parse(cls, text: str) -> Resource:
        parts = text.strip().lower().split(".")
        if not 2 <= len(parts) <= 4:
            raise InvalidInput(
                f"invalid resource {text!r}: expected domain.database[.table[.column]]"
            )
        check_domain_name(parts[0])
        for part in parts[1:]:
            check_object_name(part)
        kind: ResourceKind = ("database", "table", "column")[len(parts) - 2]
        return cls(kind, *parts)

    @property
    def table_name(self) -> str | None:
        return None if self.table is None else f"{self.domain}.{self.database}.{self.table}"

    def __str__(self) -> str:
        return ".".join(p for p in (self.domain, self.database, self.table, self.column) if p)


def check_key(key: str) -> str:
    if not KEY.fullmatch(key):
        raise InvalidInput(f"invalid tag key {key!r}: expected [a-z][a-z0-9_]*")
    return key


def check_value(value: str) -> str:
    if not VALUE.fullmatch(value):
        raise InvalidInput(f"invalid tag value {value!r}: letters, digits, '_', '.', '-'")
    return value


# --------------------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class TagExpression:
    """``k=v1|v2 AND k2=v3``: every key must hold one of its values."""

    clauses: tuple[tuple[str, frozenset[str]], ...]
    #: The keys it needs (a resource lacking one cannot match: the authorizer's quick no).
    keys: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> TagExpression:
        if not text.strip() or len(text) > 4096:
            raise InvalidInput("invalid tag expression: expected key=value[|value] [AND ...]")
        clauses: dict[str, frozenset[str]] = {}
        for part in re.split(r"\s+AND\s+", text.strip(), flags=re.IGNORECASE):
            key, sep, values = part.strip().partition("=")
            if not sep:
                raise InvalidInput(
                    f"invalid tag expression clause {part.strip()!r}: expected key=value[|value]"
                )
            key = check_key(key.strip())
            if key in clauses:
                raise InvalidInput(f"tag key {key!r} appears twice in the expression")
            clauses[key] = frozenset(check_value(v.strip()) for v in values.split("|"))
        return cls(tuple(sorted(clauses.items())), frozenset(clauses))

    def matches(self, tags: Mapping[str, str]) -> bool:
        return all(tags.get(k) in values for k, values in self.clauses)

    def __str__(self) -> str:
        return " AND ".join(f"{k}={'|'.join(sorted(v))}" for k, v in self.clauses)


def check_expression(conn: Connection, expr: TagExpression) -> None:
    """Every key must be defined and every value allowed."""
    defs = definitions(conn)
    for key, values in expr.clauses:
        if key not in defs:
            raise NotFound(f"unknown tag key {key!r}")
        bad = sorted(values - defs[key])
        if bad:
            raise InvalidInput(f"tag {key!r} does not allow {', '.join(bad)}")


# --------------------------------------------------------------------------- store


def definitions(conn: Connection) -> dict[str, frozenset[str]]:
    return {r.key: frozenset(json.loads(r.allowed)) for r in conn.execute(select(t.tags))}


class TagInfo(Frozen):
    """A tag key of the governance vocabulary and the values it allows."""

    key: str
    values: list[str]
    created_by: str
    created_at: str


def list_tags(conn: Connection) -> list[TagInfo]:
    """Every tag key with its allowed values, by key."""
    return [
        TagInfo(
            key=r.key,
            values=sorted(json.loads(r.allowed)),
            created_by=r.created_by,
            created_at=r.created_at.isoformat(),
        )
        for r in conn.execute(select(t.tags).order_by(t.tags.c.key))
    ]


def define(conn: Connection, key: str, values: list[str], actor: str) -> tuple[bool, list[str]]:
    """Create a key, or change its allowed values; returns (created, allowed values).

    A value still assigned somewhere cannot be withdrawn: that would leave resources with
    a tag state no policy can name (SPEC 2.3: unknown tag state fails closed).
    """
    check_key(key)
    allowed = sorted({check_value(v.strip()) for v in values if v.strip()})
    if not allowed:
        raise InvalidInput(f"tag {key!r} needs at least one value")
    if len(allowed) > MAX_VALUES:
        raise InvalidInput(f"tag {key!r} has more than {MAX_VALUES} values")
    existing = conn.execute(select(t.tags.c.key).where(t.tags.c.key == key)).first()
    if existing is None:
        conn.execute(
            insert(t.tags).values(
                key=key, allowed=json.dumps(allowed), created_by=actor, created_at=now()
            )
        )
        return True, allowed
    in_use = {
        r.value
        for r in conn.execute(
            select(t.tag_assignments.c.value).where(t.tag_assignments.c.key == key)
        )
    }
    withdrawn = sorted(in_use - set(allowed))
    if withdrawn:
        raise InvalidInput(f"tag {key!r} value(s) {', '.join(withdrawn)} are still assigned")
    conn.execute(update(t.tags).where(t.tags.c.key == key).values(allowed=json.dumps(allowed)))
    return False, allowed


def resource_exists(conn: Connection, res: Resource) -> None:
    """The resource must be in the central catalog (columns checked against the schema)."""
    d, dbs, ct, cols = t.domains, t.databases, t.catalog_tables, t.columns
    if res.kind == "database":
        found = conn.execute(
            select(dbs.c.id)
            .join(d, d.c.id == dbs.c.domain_id)
            .where(d.c.name == res.domain, dbs.c.name == res.database)
        ).first()
    elif res.kind == "table":
        found = conn.execute(select(ct.c.id).where(ct.c.full_name == res.table_name)).first()
    else:
        found = conn.execute(
            select(cols.c.name)
            .join(ct, ct.c.id == cols.c.table_id)
            .where(ct.c.full_name == res.table_name, cols.c.name == res.column)
        ).first()
    if found is None:
        raise NotFound(f"unknown {res.kind} {res}")


def assign(conn: Connection, res: Resource, key: str, value: str, actor: str) -> str | None:
    """Set ``key=value`` on a resource (replacing its earlier value); returns the old value."""
    defs = definitions(conn)
    if key not in defs:
        raise NotFound(f"unknown tag key {key!r}")
    if value not in defs[key]:
        raise InvalidInput(f"tag {key!r} does not allow value {value!r}")
    resource_exists(conn, res)
    ta = t.tag_assignments
    old = conn.execute(
        select(ta.c.value).where(ta.c.resource == str(res), ta.c.key == key)
    ).scalar()
    conn.execute(delete(ta).where(ta.c.resource == str(res), ta.c.key == key))
    conn.execute(
        insert(ta).values(
            resource_kind=res.kind,
            resource=str(res),
            key=key,
            value=value,
            assigned_by=actor,
            assigned_at=now(),
        )
    )
    return str(old) if old is not None else None


def assignments(conn: Connection) -> dict[str, dict[str, str]]:
    """resource name -> {key: value}, for every tagged resource."""
    out: dict[str, dict[str, str]] = {}
    for r in conn.execute(
        select(t.tag_assignments.c.resource, t.tag_assignments.c.key, t.tag_assignments.c.value)
    ):
        out.setdefault(r.resource, {})[r.key] = r.value
    return out


def effective(
    raw: Mapping[str, Mapping[str, str]], table: str, columns: tuple[str, ...]
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Inherited tags of a table and of each of its columns (database -> table -> column)."""
    database = table.rsplit(".", 1)[0]
    table_tags = {**raw.get(database, {}), **raw.get(table, {})}
    column_tags = {c: {**table_tags, **raw.get(f"{table}.{c}", {})} for c in columns}
    return table_tags, column_tags
