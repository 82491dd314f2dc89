"""The central catalog as it is read: every domain's tables, schemas, partitions and
schema history, and what a query needs to scan a table.

Only the sync writes it, through ``lakemesh.metadata.apply``; everything else reads
through ``CentralCatalog``, ``table_detail`` and ``scan_info``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, func, select

from lakemesh.catalog import Partition, partition_key
from lakemesh.errors import NotFound
from lakemesh.schema import Column, Schema, SchemaChange, diff
from lakemesh.store import Store
from lakemesh.store import tables as t
from lakemesh.typedef import TableName


@dataclass
class TableDetail:
    name: str
    domain: str
    database: str
    table: str
    format: str
    location: str
    description: str | None
    owner: str | None
    schema: Schema
    schema_version: int
    partition_keys: list[str]
    properties: dict[str, str]
    source_version: str
    file_count: int
    size_bytes: int
    row_count: int | None
    partition_count: int
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "schema"}
        d["columns"] = [c.model_dump() for c in self.schema.columns]
        d["created_at"] = self.created_at.isoformat()
        d["updated_at"] = self.updated_at.isoformat()
        return d


#: A partition row's columns, in ``Partition``'s field order (reads and bulk writes).
PARTITION_FIELDS = (
    "key",
    "values",
    "location",
    "file_count",
    "size_bytes",
    "row_count",
    "modified_at",
)

_LOOKUP = (
    select(*[t.partitions.c[f] for f in PARTITION_FIELDS])
    .join(t.catalog_tables, t.catalog_tables.c.id == t.partitions.c.table_id)
    .where(
        t.catalog_tables.c.full_name == bindparam("name"), t.partitions.c.key == bindparam("key")
    )
)


class CentralCatalog:
    """Read access to the central catalog (a fresh snapshot per call, or a held reader)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def table(self, name: str | TableName, conn: Connection | None = None) -> TableDetail:
        """A table's details; ``conn``: read within the caller's transaction."""
        if conn is not None:
            return table_detail(conn, _name(name))
        with self.store.read() as c:
            return table_detail(c, _name(name))

    def tables(self, domain: str | None = None) -> list[dict[str, Any]]:
        ct, d = t.catalog_tables, t.domains
        q = (
            select(
                ct.c.full_name,
                ct.c.format,
                ct.c.description,
                ct.c.schema_version,
                ct.c.updated_at,
                d.c.name.label("domain"),
            )
            .join(d, d.c.id == ct.c.domain_id)
            .order_by(ct.c.full_name)
        )
        if domain:
            q = q.where(d.c.name == domain)
        with self.store.read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def partitions(
        self,
        name: str | TableName,
        limit: int | None = None,
        offset: int = 0,
        conn: Connection | None = None,
    ) -> list[Partition]:
        tp, ct = t.partitions, t.catalog_tables
        q = (
            select(*[tp.c[f] for f in PARTITION_FIELDS])
            .join(ct, ct.c.id == tp.c.table_id)
            .where(ct.c.full_name == str(_name(name)))
            .order_by(tp.c.key)
            .offset(offset)
        )
        if limit is not None:
            q = q.limit(limit)
        if conn is not None:
            return [Partition._make(r) for r in conn.execute(q)]
        with self.store.read() as c:
            return [Partition._make(r) for r in c.execute(q)]

    def partition(
        self,
        name: str | TableName,
        key: str | dict[str, str | None],
        conn: Connection | None = None,
    ) -> Partition | None:
        """One partition by its key (``"dt=2024-01-01/region=eu"`` or a values dict).

        Pass a held ``conn`` (``with catalog.store.read() as conn``) for many lookups.
        """
        table = str(_name(name))
        if isinstance(key, dict):
            key = partition_key(self.table(table).partition_keys, key)
        if conn is not None:
            row = conn.execute(_LOOKUP, {"name": table, "key": key}).first()
        else:
            with self.store.read() as c:
                row = c.execute(_LOOKUP, {"name": table, "key": key}).first()
        return None if row is None else Partition._make(row)

    def schema_history(
        self, name: str | TableName, conn: Connection | None = None
    ) -> list[dict[str, Any]]:
        sv, ct = t.schema_versions, t.catalog_tables
        q = (
            select(sv.c.version, sv.c.schema, sv.c.changes, sv.c.breaking, sv.c.created_at)
            .join(ct, ct.c.id == sv.c.table_id)
            .where(ct.c.full_name == str(_name(name)))
            .order_by(sv.c.version)
        )
        if conn is not None:
            rows = list(conn.execute(q))
        else:
            with self.store.read() as c:
                rows = list(c.execute(q))
        if not rows:
            raise NotFound(f"table {name} is not in the central catalog")
        return [
            {
                "version": r.version,
                "columns": json.loads(r.schema),
                "changes": json.loads(r.changes),
                "breaking": bool(r.breaking),
                "created_at": r.created_at.isoformat(),
            }
            for r in rows
        ]

    def schema_diff(self, name: str | TableName, old: int, new: int) -> list[SchemaChange]:
        versions = {v["version"]: v for v in self.schema_history(name)}
        for v in (old, new):
            if v not in versions:
                raise NotFound(f"table {name} has no schema version {v}")
        return diff(*(Schema.from_json(json.dumps(versions[v]["columns"])) for v in (old, new)))


@dataclass(frozen=True)
class ScanInfo:
    """What a governed query needs of a table: where its data is and its column types.
    Lean on purpose: it is read on every query (``table_detail`` also counts partitions)."""

    name: str
    domain: str
    format: str
    location: str
    partition_keys: list[str]
    column_types: dict[str, str]
    #: Catalog name -> the files' spelling, for columns whose files spell them otherwise.
    source_names: dict[str, str] = field(default_factory=dict)


def scan_info(conn: Connection, name: str) -> ScanInfo:
    ct, d = t.catalog_tables, t.domains
    row = conn.execute(
        select(ct.c.id, ct.c.format, ct.c.location, ct.c.partition_keys, d.c.name)
        .join(d, d.c.id == ct.c.domain_id)
        .where(ct.c.full_name == name)
    ).first()
    if row is None:
        raise NotFound(f"table {name} is not in the central catalog")
    cols = conn.execute(
        select(t.columns.c.name, t.columns.c.type, t.columns.c.source_name)
        .where(t.columns.c.table_id == row.id)
        .order_by(t.columns.c.ordinal)
    ).all()
    return ScanInfo(
        name=name,
        domain=row.name,
        format=row.format,
        location=row.location,
        partition_keys=json.loads(row.partition_keys),
        column_types={c.name: c.type for c in cols},
        source_names={c.name: c.source_name for c in cols if c.source_name is not None},
    )


class Brief(NamedTuple):
    """What a search result shows of a table."""

    description: str | None
    format: str | None
    schema: Schema


def briefs(conn: Connection, names: Sequence[str]) -> dict[str, Brief]:
    """Description, format and columns of many tables in two statements per 500 names:
    a search looks at up to its limit of hits, and one ``table_detail`` each (three
    statements) was most of its time."""
    ct, c = t.catalog_tables, t.columns
    out: dict[str, Brief] = {}
    for start in range(0, len(names), 500):
        chunk = list(names[start : start + 500])
        rows = conn.execute(
            select(ct.c.id, ct.c.full_name, ct.c.description, ct.c.format).where(
                ct.c.full_name.in_(chunk)
            )
        ).all()
        columns: dict[int, list[Column]] = {r.id: [] for r in rows}
        for col in conn.execute(
            select(c).where(c.c.table_id.in_(list(columns))).order_by(c.c.table_id, c.c.ordinal)
        ):
            columns[col.table_id].append(
                Column(
                    name=col.name,
                    type=col.type,
                    nullable=col.nullable,
                    partition=col.is_partition,
                    description=col.description,
                    source_name=col.source_name,
                )
            )
        for r in rows:
            out[r.full_name] = Brief(r.description, r.format, Schema(columns=tuple(columns[r.id])))
    return out


def table_detail(conn: Connection, name: TableName) -> TableDetail:
    ct, d = t.catalog_tables, t.domains
    row = conn.execute(
        select(ct, d.c.name.label("domain_name"))
        .join(d, d.c.id == ct.c.domain_id)
        .where(ct.c.full_name == str(name))
    ).first()
    if row is None:
        raise NotFound(f"table {name} is not in the central catalog")
    cols = conn.execute(
        select(t.columns).where(t.columns.c.table_id == row.id).order_by(t.columns.c.ordinal)
    )
    schema = Schema(
        columns=tuple(
            Column(
                name=c.name,
                type=c.type,
                nullable=c.nullable,
                partition=c.is_partition,
                description=c.description,
                source_name=c.source_name,
            )
            for c in cols
        )
    )
    count = conn.execute(
        select(func.count()).select_from(t.partitions).where(t.partitions.c.table_id == row.id)
    ).scalar_one()
    return TableDetail(
        name=str(name),
        domain=row.domain_name,
        database=name.database,
        table=name.table,
        format=row.format,
        location=row.location,
        description=row.description,
        owner=row.owner,
        schema=schema,
        schema_version=row.schema_version,
        partition_keys=json.loads(row.partition_keys),
        properties=json.loads(row.properties),
        source_version=row.source_version,
        file_count=row.file_count,
        size_bytes=row.size_bytes,
        row_count=row.row_count,
        partition_count=count,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _name(name: str | TableName) -> TableName:
    return name if isinstance(name, TableName) else TableName.parse(name)
