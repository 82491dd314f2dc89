"""Applying a domain's table to the central catalog: the sync's only way to write it.

``apply_table`` makes the central copy of one table equal to what the domain's catalog
says (its row, its schema history, its partitions from a full listing or a change-feed
delta, its search document), and ``remove_table`` drops one; both run inside the
caller's transaction, so a table's catalog change, its events and its policy change mark
commit together. Partitions go through the driver's own cursor in bulk: a first sync
writes a million of them. Reads are ``lakemesh.metadata.central``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, insert, select, update

from lakemesh import events
from lakemesh.access import snapshot as policy
from lakemesh.catalog import PartitionDelta, PartitionRow, TableInfo
from lakemesh.metadata import search
from lakemesh.products import notices
from lakemesh.schema import Schema, SchemaChange, diff
from lakemesh.store import copy_rows, driver_cursor
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
        changes = [c.model_dump() for c in out.schema_changes]
        events.emit(
            conn,
            events.SchemaChanged(
                actor=actor,
                domain=domain,
                table=name,
                version=schema_version,
                breaking=any(c.breaking for c in out.schema_changes),
                changes=changes,
            ),
        )
        # a registered product tells its subscribers, by name, in the same transaction
        notices.breaking_change(conn, domain, name, schema_version, changes, actor)
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
    """New partitions; on PostgreSQL by ``COPY`` (a third of ``executemany``'s time for
    an initial sync of a million partitions: one statement per row is what costs)."""
    if not parts:
        return 0
    tid = int(table_id)
    if copy_rows(conn, "partitions", f"table_id, {_PART_COLS}", ((tid, *p) for p in parts)):
        return len(parts)
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
