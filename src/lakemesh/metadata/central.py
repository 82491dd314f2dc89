"""The central catalog: every domain's tables, schemas, partitions and schema history.

Writes come only from the sync (``apply_table`` / ``remove_table``), always inside a
transaction the caller owns, so a table's catalog change, its events and its change
mark commit together. Reads go through ``CentralCatalog``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, select, update

from lakemesh import events
from lakemesh.access import snapshot as policy
from lakemesh.catalog import Partition, PartitionDelta, PartitionRow, TableInfo, partition_key
from lakemesh.errors import NotFound
from lakemesh.metadata import search
from lakemesh.schema import Column, Schema, SchemaChange, diff
from lakemesh.store import Store, driver_cursor
from lakemesh.store import tables as t
from lakemesh.typedef import TableName, now

_CHUNK = 500


@dataclass
class Applied:
    """What applying one table did (for the sync summary and drift report)."""

    created: bool = False
    changed_fields: list[str] = field(default_factory=list)
    schema_changes: list[SchemaChange] = field(default_factory=list)
    partitions_added: int = 0
    partitions_changed: int = 0
    partitions_removed: int = 0

    @property
    def changed(self) -> bool:
        return bool(
            self.created
            or self.changed_fields
            or self.partitions_added
            or self.partitions_changed
            or self.partitions_removed
        )


# --------------------------------------------------------------------------- writes

# Statements built once: SQLAlchemy then reuses their compiled form on every table.
_TABLE_BY_NAME = select(t.catalog_tables).where(t.catalog_tables.c.full_name == bindparam("name"))
_TABLE_UPDATE = update(t.catalog_tables).where(t.catalog_tables.c.id == bindparam("b_id"))


def ensure_database(conn: Connection, domain_id: int, name: str) -> int:
    dbs = t.databases
    found = conn.execute(
        select(dbs.c.id).where(dbs.c.domain_id == domain_id, dbs.c.name == name)
    ).scalar()
    if found is not None:
        return int(found)
    return int(
        conn.execute(
            insert(dbs).values(domain_id=domain_id, name=name, created_at=now()).returning(dbs.c.id)
        ).scalar_one()
    )


def apply_table(
    conn: Connection,
    domain: str,
    domain_id: int,
    info: TableInfo,
    partitions: Sequence[PartitionRow] | None,
    delta: PartitionDelta | None = None,
    *,
    actor: str | None = None,
) -> Applied:
    """Make the central copy of one table equal to ``info`` and its partitions (its
    events name ``actor``, who caused the sync).

    ``partitions`` is the table's full listing (diffed against what we hold); ``delta``
    is a change-feed delta applied as upserts and removals. Idempotent: applying the
    same input twice changes nothing the second time.
    """
    name = str(TableName(domain, info.database, info.name))
    row = conn.execute(_TABLE_BY_NAME, {"name": name}).first()
    stamp = now()
    values = _table_values(info)
    if row is None:
        table_id = _insert_table(conn, domain_id, name, info, values, stamp)
        out = _fill_new_table(conn, table_id, info.table_schema, partitions, delta)
        schema_version = 1
    else:
        table_id = row.id
        out, schema_version = _update_table(conn, row, info, values, stamp, partitions, delta)
    _index_for_search(conn, table_id, name, info, out)
    _mark_policy_change(conn, name, out)
    _emit_applied(conn, domain, name, info, out, schema_version, actor)
    return out


def _table_values(info: TableInfo) -> dict[str, Any]:
    """The table row's fields that mirror the domain catalog: written as they are, and
    compared one by one to tell the sync which of them changed."""
    return {
        "format": info.format,
        "location": info.location,
        "description": info.description,
        "partition_keys": json.dumps(list(info.partition_keys)),
        "properties": json.dumps(info.properties, sort_keys=True),
        "source_version": info.version,
        "file_count": info.file_count,
        "size_bytes": info.size_bytes,
        "row_count": info.row_count,
        "schema_fingerprint": info.table_schema.fingerprint(),
    }


def _insert_table(
    conn: Connection,
    domain_id: int,
    name: str,
    info: TableInfo,
    values: dict[str, Any],
    stamp: datetime,
) -> int:
    """A table seen for the first time gets its row (and its database's, if that is new
    too) at schema version 1; returns the row's id."""
    ct = t.catalog_tables
    db_id = ensure_database(conn, domain_id, info.database)
    return int(
        conn.execute(
            insert(ct)
            .values(
                domain_id=domain_id,
                database_id=db_id,
                name=info.name,
                full_name=name,
                schema_version=1,
                created_at=stamp,
                updated_at=stamp,
                **values,
            )
            .returning(ct.c.id)
        ).scalar_one()
    )


def _fill_new_table(
    conn: Connection,
    table_id: int,
    schema: Schema,
    partitions: Sequence[PartitionRow] | None,
    delta: PartitionDelta | None,
) -> Applied:
    """A new table's columns, first schema version and partitions. With nothing held
    to diff against, a listing or a delta's upserts are all plain inserts."""
    _write_columns(conn, table_id, schema)
    _write_schema_version(conn, table_id, 1, schema, [])
    added = _insert_partitions(conn, table_id, partitions or (delta.upserts if delta else []))
    return Applied(created=True, partitions_added=added)


def _update_table(
    conn: Connection,
    row: Row[Any],
    info: TableInfo,
    values: dict[str, Any],
    stamp: datetime,
    partitions: Sequence[PartitionRow] | None,
    delta: PartitionDelta | None,
) -> tuple[Applied, int]:
    """Bring a known table up to date; returns what changed and its schema version.

    The row is rewritten only when something changed or the change mark moved, so a
    table the sync merely looked at keeps its ``updated_at``."""
    out = Applied(
        changed_fields=[
            k for k, v in values.items() if k != "source_version" and getattr(row, k) != v
        ]
    )
    schema_version = row.schema_version
    if row.schema_fingerprint != values["schema_fingerprint"]:
        schema_version = _new_schema_version(conn, row, info.table_schema, out)
        values["schema_version"] = schema_version
    _apply_partitions(conn, row.id, partitions, delta, out)
    if out.changed or row.source_version != info.version:
        values["updated_at"] = stamp
        conn.execute(_TABLE_UPDATE, {"b_id": row.id, **values})
    return out, schema_version


def _new_schema_version(conn: Connection, row: Row[Any], schema: Schema, out: Applied) -> int:
    """Store ``schema`` as the table's next version together with its diff from the
    previous one: the history users read and the breaking-change alert both come from
    that diff. Returns the new version number."""
    version = int(row.schema_version) + 1
    out.schema_changes = diff(_current_schema(conn, row.id), schema)
    _write_columns(conn, row.id, schema)
    _write_schema_version(conn, row.id, version, schema, out.schema_changes)
    return version


def _apply_partitions(
    conn: Connection,
    table_id: int,
    partitions: Sequence[PartitionRow] | None,
    delta: PartitionDelta | None,
    out: Applied,
) -> None:
    """A change-feed delta touches only the keys it names; without one, the full listing
    is diffed against every partition we hold (an absent listing means none)."""
    if delta is not None:
        _apply_delta(conn, table_id, delta, out)
    else:
        _diff_partitions(conn, table_id, partitions or [], out)


def _index_for_search(
    conn: Connection, table_id: int, name: str, info: TableInfo, out: Applied
) -> None:
    """Search reads the name, the description and the columns: re-index only when one of
    them changed, so a sync that only moved partitions costs no index write."""
    if out.created or "description" in out.changed_fields or out.schema_changes:
        search.index_table(conn, table_id, name, info.description, info.table_schema)


def _mark_policy_change(conn: Connection, name: str, out: Applied) -> None:
    """Bump the policy version when a table or any of its columns is new: the
    authorizer's snapshot must see them before a grant or a tag on them can apply."""
    if out.created or out.schema_changes:
        policy.changed(conn, "table", name)


def remove_table(
    conn: Connection, domain: str, database: str, table: str, *, actor: str | None = None
) -> bool:
    name = str(TableName(domain, database, table))
    ct = t.catalog_tables
    table_id = conn.execute(select(ct.c.id).where(ct.c.full_name == name)).scalar()
    if table_id is None:
        return False
    search.unindex_table(conn, table_id)
    untagged = conn.execute(
        delete(t.tag_assignments).where(
            t.tag_assignments.c.resource.startswith(name + ".", autoescape=True)
            | (t.tag_assignments.c.resource == name)
        )
    )
    conn.execute(delete(ct).where(ct.c.id == table_id))
    policy.changed(conn, "table", name)
    if untagged.rowcount:
        policy.changed(conn, "tag_assignment", name)
    events.emit(conn, events.TableRemoved(domain=domain, table=name, actor=actor))
    return True


def _emit_applied(
    conn: Connection,
    domain: str,
    name: str,
    info: TableInfo,
    out: Applied,
    schema_version: int,
    actor: str | None,
) -> None:
    """Announce what applying did: a new table once, as created (its schema and
    partitions are part of that); a known one as a schema change, then as updated."""
    if out.created:
        events.emit(
            conn,
            events.TableCreated(
                actor=actor,
                domain=domain,
                table=name,
                format=info.format,
                schema_version=1,
                partitions=out.partitions_added,
            ),
        )
        return
    if out.schema_changes:
        events.emit(
            conn,
            events.SchemaChanged(
                actor=actor,
                domain=domain,
                table=name,
                version=schema_version,
                breaking=any(c.breaking for c in out.schema_changes),
                changes=[c.model_dump() for c in out.schema_changes],
            ),
        )
    if out.changed:
        events.emit(
            conn,
            events.TableUpdated(
                actor=actor,
                domain=domain,
                table=name,
                fields=out.changed_fields,
                partitions_added=out.partitions_added,
                partitions_changed=out.partitions_changed,
                partitions_removed=out.partitions_removed,
            ),
        )


def _write_columns(conn: Connection, table_id: int, schema: Schema) -> None:
    conn.execute(delete(t.columns).where(t.columns.c.table_id == table_id))
    conn.execute(
        insert(t.columns),
        [
            {
                "table_id": table_id,
                "ordinal": i,
                "name": c.name,
                "type": c.type,
                "nullable": c.nullable,
                "is_partition": c.partition,
                "description": c.description,
                "source_name": c.source_name,
            }
            for i, c in enumerate(schema.columns)
        ],
    )


def _write_schema_version(
    conn: Connection, table_id: int, version: int, schema: Schema, changes: list[SchemaChange]
) -> None:
    conn.execute(
        insert(t.schema_versions).values(
            table_id=table_id,
            version=version,
            schema=schema.to_json(),
            fingerprint=schema.fingerprint(),
            changes=json.dumps([c.model_dump() for c in changes]),
            breaking=any(c.breaking for c in changes),
            created_at=now(),
        )
    )


def _current_schema(conn: Connection, table_id: int) -> Schema:
    sv = t.schema_versions
    text = conn.execute(
        select(sv.c.schema).where(sv.c.table_id == table_id).order_by(sv.c.version.desc()).limit(1)
    ).scalar_one()
    return Schema.from_json(text)


_PART_FIELDS = ("key", "values", "location", "file_count", "size_bytes", "row_count", "modified_at")

# Partition rows move by the million, so they bypass SQLAlchemy's per-row processing:
# fixed SQL text (no name or value is ever formatted in, only the driver's placeholder)
# with plain tuples, on the transaction's own DBAPI cursor.
_PART_COLS = '"key", "values", location, file_count, size_bytes, row_count, modified_at'
#: The table id is an integer our own store issued; it is written into the statement so
#: the domain's rows go to executemany as they are, without building a tuple per row.
_PART_INSERT = (
    "INSERT INTO partitions (table_id, {cols}) VALUES ({table_id:d}, ?, ?, ?, ?, ?, ?, ?)"
)
_PART_UPDATE = (
    'UPDATE partitions SET "values" = ?, location = ?, file_count = ?, size_bytes = ?, '
    'row_count = ?, modified_at = ? WHERE table_id = ? AND "key" = ?'
)
_PART_DELETE = 'DELETE FROM partitions WHERE table_id = ? AND "key" = ?'
_PART_SELECT = f"SELECT {_PART_COLS} FROM partitions WHERE table_id = ?"


def _insert_partitions(conn: Connection, table_id: int, parts: Sequence[PartitionRow]) -> int:
    if parts:
        cur, sql = driver_cursor(conn, _PART_INSERT.format(cols=_PART_COLS, table_id=int(table_id)))
        cur.executemany(sql, parts)
    return len(parts)


def _update_partitions(conn: Connection, table_id: int, parts: Sequence[PartitionRow]) -> int:
    if parts:
        cur, sql = driver_cursor(conn, _PART_UPDATE)
        cur.executemany(sql, [(*p[1:], table_id, p[0]) for p in parts])
    return len(parts)


def _delete_partitions(conn: Connection, table_id: int, keys: Sequence[str]) -> int:
    if keys:
        cur, sql = driver_cursor(conn, _PART_DELETE)
        cur.executemany(sql, [(table_id, k) for k in keys])
    return len(keys)


def _existing_partitions(
    conn: Connection, table_id: int, keys: Sequence[str] | None = None
) -> dict[str, PartitionRow]:
    """The central copy of a table's partitions (all, or just those with ``keys``)."""
    if keys is None:
        cur, sql = driver_cursor(conn, _PART_SELECT)
        cur.execute(sql, (table_id,))
        rows = cur.fetchall()
    else:
        rows = []
        for i in range(0, len(keys), _CHUNK):
            chunk = tuple(keys[i : i + _CHUNK])
            marks = ", ".join("?" * len(chunk))
            cur, sql = driver_cursor(conn, f'{_PART_SELECT} AND "key" IN ({marks})')
            cur.execute(sql, (table_id, *chunk))
            rows += cur.fetchall()
    return {r[0]: tuple(r) for r in rows}


def _diff_partitions(
    conn: Connection, table_id: int, parts: Sequence[PartitionRow], out: Applied
) -> None:
    """Make the central partitions equal to ``parts``: insert, update, delete the difference."""
    existing = _existing_partitions(conn, table_id)
    added, changed = [], []
    for p in parts:
        old = existing.pop(p[0], None)
        if old is None:
            added.append(p)
        elif old[1:] != p[1:]:
            changed.append(p)
    out.partitions_added += _insert_partitions(conn, table_id, added)
    out.partitions_changed += _update_partitions(conn, table_id, changed)
    out.partitions_removed += _delete_partitions(conn, table_id, list(existing))


def _apply_delta(conn: Connection, table_id: int, delta: PartitionDelta, out: Applied) -> None:
    """Apply a change-feed delta; rows already in that state are left alone (idempotent)."""
    existing = _existing_partitions(conn, table_id, [p[0] for p in delta.upserts] + delta.removed)
    added = [p for p in delta.upserts if p[0] not in existing]
    changed = [p for p in delta.upserts if p[0] in existing and existing[p[0]][1:] != p[1:]]
    out.partitions_added += _insert_partitions(conn, table_id, added)
    out.partitions_changed += _update_partitions(conn, table_id, changed)
    out.partitions_removed += _delete_partitions(
        conn, table_id, [k for k in delta.removed if k in existing]
    )


# --------------------------------------------------------------------------- reads


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


_LOOKUP = (
    select(*[t.partitions.c[f] for f in _PART_FIELDS])
    .join(t.catalog_tables, t.catalog_tables.c.id == t.partitions.c.table_id)
    .where(
        t.catalog_tables.c.full_name == bindparam("name"), t.partitions.c.key == bindparam("key")
    )
)


class CentralCatalog:
    """Read access to the central catalog (a fresh snapshot per call, or a held reader)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def table(self, name: str | TableName) -> TableDetail:
        with self.store.read() as conn:
            return table_detail(conn, _name(name))

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
        self, name: str | TableName, limit: int | None = None, offset: int = 0
    ) -> list[Partition]:
        tp, ct = t.partitions, t.catalog_tables
        q = (
            select(*[tp.c[f] for f in _PART_FIELDS])
            .join(ct, ct.c.id == tp.c.table_id)
            .where(ct.c.full_name == str(_name(name)))
            .order_by(tp.c.key)
            .offset(offset)
        )
        if limit is not None:
            q = q.limit(limit)
        with self.store.read() as conn:
            return [Partition._make(r) for r in conn.execute(q)]

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

    def schema_history(self, name: str | TableName) -> list[dict[str, Any]]:
        sv, ct = t.schema_versions, t.catalog_tables
        q = (
            select(sv.c.version, sv.c.schema, sv.c.changes, sv.c.breaking, sv.c.created_at)
            .join(ct, ct.c.id == sv.c.table_id)
            .where(ct.c.full_name == str(_name(name)))
            .order_by(sv.c.version)
        )
        with self.store.read() as conn:
            rows = list(conn.execute(q))
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
