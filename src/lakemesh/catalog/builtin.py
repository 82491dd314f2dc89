"""The builtin domain catalog: one SQLite file inside the domain's storage root.

SQLite because the domain's own tools can read it (``sqlite3 _lakemesh/catalog.db``,
DuckDB, pandas), it is transactional, and it keeps a million partitions compactly.

Change feed: every write transaction takes the next value of a global ``version``
counter and stamps each row it changes; removals leave tombstones (``deleted = 1``).
``changes(cursor)`` is then "every row with a version above the cursor". The cursor
carries the catalog's id too, so a catalog file that was replaced is noticed instead of
silently returning nothing.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lakemesh.catalog import (
    Changes,
    DomainCatalog,
    Partition,
    PartitionDelta,
    PartitionRow,
    TableInfo,
    TableRef,
)
from lakemesh.errors import BackendUnavailable, CatalogCorrupt, NotFound, first_line
from lakemesh.schema import Schema
from lakemesh.storage import Storage
from lakemesh.storage.local import LocalStorage

CATALOG_PATH = "_lakemesh/catalog.db"
FORMAT_VERSION = "1"

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tables (
    database TEXT NOT NULL, name TEXT NOT NULL, format TEXT NOT NULL,
    location TEXT NOT NULL, schema TEXT NOT NULL, description TEXT,
    properties TEXT NOT NULL DEFAULT '{}', partition_keys TEXT NOT NULL DEFAULT '[]',
    file_count INTEGER NOT NULL DEFAULT 0,
    size_bytes INTEGER NOT NULL DEFAULT 0, row_count INTEGER,
    version INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (database, name));
CREATE TABLE IF NOT EXISTS partitions (
    database TEXT NOT NULL, name TEXT NOT NULL, key TEXT NOT NULL,
    "values" TEXT NOT NULL, location TEXT NOT NULL, file_count INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL, row_count INTEGER, modified_at INTEGER,
    version INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (database, name, key));
CREATE INDEX IF NOT EXISTS partitions_changes ON partitions (database, name, version);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    schema BLOB NOT NULL, row_count INTEGER);
"""


class BuiltinCatalog(DomainCatalog):
    kind = "builtin"

    def __init__(self, storage: Storage) -> None:
        super().__init__(storage)

    # ------------------------------------------------------------------ file access

    @contextmanager
    def _open(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection to the catalog file; on object stores, to a local copy of it."""
        if isinstance(self.storage, LocalStorage):
            path = Path(self.storage.location(CATALOG_PATH))
            if not self.storage.exists():
                raise BackendUnavailable(f"storage root {self.storage.uri} does not exist")
            if not write and not path.exists():
                raise NotFound(f"no builtin catalog at {path}: run 'lakemesh crawl' first")
            path.parent.mkdir(exist_ok=True)
            with self._connect(path, write) as conn:
                yield conn
            return
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "catalog.db"
            try:
                with self.storage.open_input(CATALOG_PATH) as src, open(local, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            except FileNotFoundError:
                if not write:
                    raise NotFound(f"no builtin catalog in {self.storage.uri}") from None
            except OSError as exc:
                raise BackendUnavailable(f"cannot read {self.storage.uri}: {exc}") from exc
            with self._connect(local, write) as conn:
                yield conn
            if write:
                with open(local, "rb") as src, self.storage.open_output(CATALOG_PATH) as dst:
                    shutil.copyfileobj(src, dst)

    @staticmethod
    @contextmanager
    def _connect(path: Path, write: bool) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise BackendUnavailable(f"cannot open catalog {path}: {exc}") from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL" if write else "PRAGMA query_only=1")
            if write:
                conn.execute("PRAGMA synchronous=FULL")
                conn.executescript(_DDL)
                conn.execute("BEGIN IMMEDIATE")
                _init_meta(conn)
            else:
                conn.execute("BEGIN")
                _check_meta(conn, path)
            yield conn
            if write:
                conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise CatalogCorrupt(f"catalog file {path} is corrupt: {exc}") from exc
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()

    # ------------------------------------------------------------------ reading

    def check(self) -> None:
        with self._open() as conn:
            conn.execute("SELECT count(*) FROM tables").fetchone()

    def list_tables(self) -> list[TableRef]:
        with self._open() as conn:
            rows = conn.execute(
                "SELECT database, name, version FROM tables WHERE deleted = 0 "
                "ORDER BY database, name"
            ).fetchall()
        return [TableRef(db, name, str(v)) for db, name, v in rows]

    def load_table(self, database: str, name: str) -> TableInfo:
        with self._open() as conn:
            return self._load(conn, database, name)

    def _load(self, conn: sqlite3.Connection, database: str, name: str) -> TableInfo:
        row = conn.execute(
            "SELECT format, location, schema, description, properties, partition_keys, "
            "file_count, size_bytes, row_count, version FROM tables "
            "WHERE database = ? AND name = ? AND deleted = 0",
            (database, name),
        ).fetchone()
        if row is None:
            raise NotFound(f"table {database}.{name} is not in the catalog")
        fmt, loc, schema, desc, props, keys, files, size, rows, version = row
        try:
            return TableInfo(
                database=database,
                name=name,
                format=fmt,
                location=self.storage.location(loc),
                table_schema=Schema.from_json(schema),
                partition_keys=tuple(json.loads(keys)),
                description=desc,
                properties=json.loads(props),
                version=str(version),
                file_count=files,
                size_bytes=size,
                row_count=rows,
            )
        except (ValueError, TypeError) as exc:  # JSONDecodeError, pydantic's ValidationError
            raise CatalogCorrupt(
                f"catalog entry of table {database}.{name} is damaged: {first_line(exc, 300)}"
            ) from exc

    def _require(self, conn: sqlite3.Connection, database: str, name: str) -> None:
        """Partitions of a table that is not in the catalog are not found, as on every
        backend: an empty list would read as "unpartitioned" and clear them centrally."""
        if not _has_table(conn, database, name):
            raise NotFound(f"table {database}.{name} is not in the catalog")

    def partitions(self, database: str, name: str) -> list[Partition]:
        with self._open() as conn:
            self._require(conn, database, name)
            return self._partitions(conn, database, name, None)

    def file_schemas(self, folder: str) -> dict[str, tuple[int, int, bytes]]:
        """The crawler's file cache below ``folder`` (relative): path -> (size, mtime,
        serialised Arrow schema), for a query to check files without reading them."""
        with self._open() as conn:
            # A range on the primary key ('/' + 1 == '0'), not LIKE: the index is used.
            rows = conn.execute(
                "SELECT path, size, mtime_ns, schema FROM files WHERE path > ? AND path < ?",
                (f"{folder}/", f"{folder}0") if folder else ("", "\U0010ffff"),
            )
            return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def partition_rows(self, database: str, name: str) -> list[PartitionRow]:
        with self._open() as conn:
            self._require(conn, database, name)
            return self._partitions(conn, database, name, None, plain=True)

    def _partitions(
        self,
        conn: sqlite3.Connection,
        database: str,
        name: str,
        since: int | None,
        deleted: int = 0,
        plain: bool = False,
    ) -> list[Any]:
        base = self.storage.location("")
        # Absolute locations are built by SQLite and rows become Partitions with no
        # per-row Python: a full sync reads a million of them.
        sql = (
            "SELECT key, \"values\", CASE location WHEN '' THEN ? ELSE ? || '/' || location END, "
            "file_count, size_bytes, row_count, modified_at "
            "FROM partitions WHERE database = ? AND name = ? AND deleted = ?"
        )
        params: tuple[object, ...] = (base, base, database, name, deleted)
        if since is not None:
            sql += " AND version > ?"
            params += (since,)
        rows = conn.execute(sql + " ORDER BY key", params)
        return rows.fetchall() if plain else list(map(Partition._make, rows))

    def changes(self, cursor: str | None) -> Changes:
        with self._open() as conn:
            cat_id, version = _meta(conn)
            since = _parse_cursor(cursor, cat_id)
            rows = conn.execute(
                "SELECT database, name, version, deleted FROM tables WHERE version > ? "
                "ORDER BY database, name",
                (since or 0,),
            ).fetchall()
            changed = [TableRef(db, n, str(v)) for db, n, v, d in rows if not d]
            removed = [(db, n) for db, n, _, d in rows if d]
            deltas: dict[tuple[str, str], PartitionDelta] = {}
            if since is not None:
                for ref in changed:
                    upserts = self._partitions(conn, ref.database, ref.name, since)
                    gone = [
                        p.key
                        for p in self._partitions(conn, ref.database, ref.name, since, deleted=1)
                    ]
                    deltas[ref.ident] = PartitionDelta(upserts, gone)
        return Changes(
            cursor=f"{cat_id}:{version}", changed=changed, removed=removed, deltas=deltas
        )

    # ------------------------------------------------------------------ writing

    @contextmanager
    def writer(self) -> Iterator[CatalogWriter]:
        """One write transaction; every row it changes is stamped with one new version."""
        with self._open(write=True) as conn:
            _, version = _meta(conn)
            w = CatalogWriter(conn, version + 1, self.storage)
            yield w
            if w.dirty:
                conn.execute("UPDATE meta SET value = ? WHERE key = 'version'", (str(w.version),))


class CatalogWriter:
    """Writes tables and partitions; unchanged rows keep their version (no false change)."""

    def __init__(self, conn: sqlite3.Connection, version: int, storage: Storage) -> None:
        self.conn, self.version, self.storage = conn, version, storage
        self.dirty = False

    def put_table(self, info: TableInfo, partitions: Sequence[Partition]) -> bool:
        """Create or replace a table and its full partition list; True if anything changed."""
        rel = self.storage.relative(info.location)
        row = (
            info.format,
            rel,
            info.table_schema.to_json(),
            info.description,
            json.dumps(info.properties, sort_keys=True),
            json.dumps(info.partition_keys),
            info.file_count,
            info.size_bytes,
            info.row_count,
        )
        old = self.conn.execute(
            "SELECT format, location, schema, description, properties, partition_keys, "
            "file_count, size_bytes, row_count, deleted FROM tables "
            "WHERE database = ? AND name = ?",
            (info.database, info.name),
        ).fetchone()
        parts_changed = self._put_partitions(info.database, info.name, partitions)
        if old is not None and tuple(old[:-1]) == row and not old[-1] and not parts_changed:
            return False
        self.conn.execute(
            "INSERT OR REPLACE INTO tables (database, name, format, location, schema, "
            "description, properties, partition_keys, file_count, size_bytes, row_count, "
            "version, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (info.database, info.name, *row, self.version),
        )
        self.dirty = True
        return True

    def _put_partitions(self, database: str, name: str, parts: Sequence[Partition]) -> bool:
        existing = {
            r[0]: r[1:]
            for r in self.conn.execute(
                'SELECT key, "values", location, file_count, size_bytes, row_count, '
                "modified_at FROM partitions WHERE database = ? AND name = ? AND deleted = 0",
                (database, name),
            )
        }
        upserts = []
        for p in parts:
            rel = self.storage.relative(p.location)
            values = (p.values, rel, p.file_count, p.size_bytes, p.row_count, p.modified_at)
            if existing.pop(p.key, None) != values:
                upserts.append((database, name, p.key, *values, self.version))
        if upserts:
            self.conn.executemany(
                'INSERT OR REPLACE INTO partitions (database, name, key, "values", location, '
                "file_count, size_bytes, row_count, modified_at, version, deleted) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                upserts,
            )
        if existing:
            self.conn.executemany(
                "UPDATE partitions SET deleted = 1, version = ? "
                "WHERE database = ? AND name = ? AND key = ?",
                [(self.version, database, name, k) for k in existing],
            )
        return bool(upserts or existing)

    def drop_table(self, database: str, name: str) -> bool:
        cur = self.conn.execute(
            "UPDATE tables SET deleted = 1, version = ? "
            "WHERE database = ? AND name = ? AND deleted = 0",
            (self.version, database, name),
        )
        if cur.rowcount:
            self.conn.execute(
                "UPDATE partitions SET deleted = 1, version = ? "
                "WHERE database = ? AND name = ? AND deleted = 0",
                (self.version, database, name),
            )
            self.dirty = True
        return bool(cur.rowcount)

    def has_table(self, database: str, name: str) -> bool:
        return _has_table(self.conn, database, name)

    def tables(self) -> list[tuple[str, str]]:
        rows = self.conn.execute("SELECT database, name FROM tables WHERE deleted = 0")
        return [(db, name) for db, name in rows]

    # --------------------------------------------------------------- crawler file cache

    def cached_files(self, prefix: str) -> dict[str, tuple[int, int, bytes, int | None]]:
        """Files seen by an earlier crawl under ``prefix``: path -> (size, mtime, schema, rows)."""
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return {
            r[0]: (r[1], r[2], r[3], r[4])
            for r in self.conn.execute(
                "SELECT path, size, mtime_ns, schema, row_count FROM files "
                "WHERE path LIKE ? ESCAPE '\\'",
                (like,),
            )
        }

    def cache_files(self, rows: list[tuple[str, int, int, bytes, int | None]]) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO files (path, size, mtime_ns, schema, row_count) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )

    def forget_files(self, paths: list[str]) -> None:
        self.conn.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in paths])


def _has_table(conn: sqlite3.Connection, database: str, name: str) -> bool:
    return bool(
        conn.execute(
            "SELECT 1 FROM tables WHERE database = ? AND name = ? AND deleted = 0",
            (database, name),
        ).fetchone()
    )


def _init_meta(conn: sqlite3.Connection) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('format', ?), ('id', ?), ('version', '0')",
        (FORMAT_VERSION, uuid.uuid4().hex),
    )
    _check_meta(conn, None)


def _check_meta(conn: sqlite3.Connection, path: Path | None) -> None:
    fmt = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    if fmt is None or fmt[0] != FORMAT_VERSION:
        raise CatalogCorrupt(f"catalog file {path or ''} has an unknown format".replace("  ", " "))


def _meta(conn: sqlite3.Connection) -> tuple[str, int]:
    rows = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    try:
        return rows["id"], int(rows["version"])
    except (KeyError, ValueError) as exc:
        raise CatalogCorrupt("catalog file has no valid id/version") from exc


def _parse_cursor(cursor: str | None, cat_id: str) -> int | None:
    """The version a cursor stands for, or None if it belongs to another catalog file."""
    if not cursor:
        return None
    owner, _, version = cursor.partition(":")
    if owner != cat_id or not version.isdigit():
        return None
    return int(version)
