"""The crawler: infers tables, schemas and Hive partitions from files under a domain root.

Layout (SPEC 1): ``<path>/<database>/<table>/[key=value/...]files``, or with
``database=`` given, ``<path>/<table>/...``. Data files are Parquet, CSV or JSON lines;
a table folder holding ``_delta_log`` or Iceberg ``metadata`` is described from that
metadata instead. Names starting with ``_`` or ``.`` are ignored (Spark/Hive
convention: ``_SUCCESS``, ``_lakemesh``); invalid folder names and links leaving the root
are skipped with a warning. Column names are never a reason to skip: a header such as
``Entry ID`` is catalogued as ``entry_id`` with its spelling kept (``schema.column_names``),
and partition columns get one type from all their values (``partition_type``).

Large trees: one ``scandir`` walk, file schemas read in a thread pool (pyarrow releases
the GIL), and a per-file cache keyed by (path, size, mtime) so a re-crawl reads only
files that changed.
"""

from __future__ import annotations

import io
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from lakemesh.catalog import EXTENSIONS, HIVE_NULL, Format, Partition, TableInfo, partition_key
from lakemesh.catalog.builtin import BuiltinCatalog, CatalogWriter
from lakemesh.catalog.files import MAX_DEPTH, file_format, is_hidden, partition_of
from lakemesh.errors import (
    BackendUnavailable,
    InvalidInput,
    LakemeshError,
    PathOutsideRoot,
    SchemaConflict,
    first_line,
)
from lakemesh.schema import (
    Schema,
    SchemaChange,
    description_of,
    diff,
    from_arrow,
    merge_schemas,
    normal_name,
)
from lakemesh.storage import Entry, Storage, check_relative
from lakemesh.typedef import is_object_name

SAMPLE_BYTES = 1 << 20  #: CSV and JSON schemas are inferred from the first MiB, like Glue

Progress = Callable[[str, int, int], None]


@dataclass
class CrawlReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    files_read: int = 0
    files_cached: int = 0
    warnings: list[str] = field(default_factory=list)
    schema_changes: dict[str, list[SchemaChange]] = field(default_factory=dict)
    #: Set when the crawl found no table at all: why, in terms of the expected layout.
    hint: str | None = None

    @property
    def found(self) -> int:
        return len(self.added) + len(self.updated) + len(self.unchanged)

    def as_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "files_read": self.files_read,
            "files_cached": self.files_cached,
            "warnings": self.warnings,
            "hint": self.hint,
            "schema_changes": {
                t: [c.model_dump() for c in cs] for t, cs in self.schema_changes.items()
            },
        }


@dataclass
class _DataFile:
    path: str
    size: int
    mtime_ns: int
    fmt: Format
    partition: tuple[tuple[str, str], ...]

    @property
    def layout(self) -> tuple[str, ...]:
        """The partition keys in folder order: files of one table should all share it."""
        return tuple(k for k, _ in self.partition)


@dataclass
class _TableDir:
    database: str
    name: str
    path: str
    files: list[_DataFile] = field(default_factory=list)
    special: str | None = None  #: "delta" or "iceberg" when described by table metadata


class Crawler:
    def __init__(
        self, storage: Storage, catalog: BuiltinCatalog, *, progress: Progress | None = None
    ) -> None:
        self.storage, self.catalog = storage, catalog
        self.progress = progress
        self.report = CrawlReport()
        #: Folders that did not fit the layout, by kind, for the hint of an empty crawl.
        self._misfits: dict[str, str] = {}
        #: Folders that could not be listed: what lies below them is unknown, not gone.
        self._unlisted: list[str] = []

    def warn(self, message: str) -> None:
        self.report.warnings.append(message)

    # ------------------------------------------------------------------ entry point

    def crawl(self, path: str = "", database: str | None = None) -> CrawlReport:
        rel = self._start(path)
        if database is not None and not is_object_name(database):
            raise InvalidInput(f"invalid database name {database!r}")
        if not self.storage.exists():
            raise BackendUnavailable(f"storage root {self.storage.uri} does not exist")
        tables = self._discover(rel, database)
        with self.catalog.writer() as writer:
            cache = writer.cached_files(rel)
            schemas = self._read_schemas(tables, cache, writer)
            found: set[tuple[str, str]] = set()
            for i, t in enumerate(tables):
                self._tick("tables", i, len(tables))
                # Its folder is there: whether or not it reads now, it has not vanished.
                found.add((t.database, t.name))
                described = self._describe(t, schemas)
                if isinstance(described, str):
                    self._keep(writer, t, described)
                else:
                    self._put(writer, *described)
            self._remove_vanished(writer, rel, database, found)
            self._tick("tables", len(tables), len(tables))
        if not self.report.found:
            self.report.hint = self._hint(rel, database)
        return self.report

    def _hint(self, rel: str, database: str | None) -> str:
        """Why nothing was found, said in terms of the layout the crawler expects."""
        where = rel or "the storage root"
        if "partition" in self._misfits and database is not None:
            return (
                f"{self._misfits['partition']} has no key=value partitions; with --database "
                f"the tables are the folders directly under {where}; without it the layout "
                "is <database>/<table>/[key=value/...]files"
            )
        if "partition" in self._misfits:
            return (
                f"{self._misfits['partition']} is not a key=value partition folder: the "
                "layout is <database>/<table>/[key=value/...]files"
            )
        if "file" in self._misfits:
            layout = "<table>/files" if database else "<database>/<table>/files"
            other = "" if database else ", or <table>/files with --database DB"
            return (
                f"{self._misfits['file']} is a file where a folder was expected: the layout "
                f"under {where} is {layout}{other}"
            )
        if self.report.warnings:
            return f"nothing under {where} could be read as a table (see the warnings)"
        return f"{where} holds no data files (layout: <database>/<table>/[key=value/...]files)"

    def _start(self, path: str) -> str:
        if path.startswith("/") or "://" in path:
            return self.storage.relative(path)
        return check_relative(path)

    def _tick(self, stage: str, done: int, total: int) -> None:
        if self.progress:
            self.progress(stage, done, total)

    # ------------------------------------------------------------------ discovery

    def _discover(self, rel: str, database: str | None) -> list[_TableDir]:
        tables: list[_TableDir] = []
        if database is not None:
            dbs = [(database, rel)]
        else:
            dbs = [(e.name, e.path) for e in self._dirs(rel, "database")]
        for db, db_path in dbs:
            for e in self._dirs(db_path, "table"):
                t = _TableDir(db, e.name, e.path)
                self._walk_table(t, e.path, ())
                if t.files or t.special:
                    tables.append(t)
                elif e.path not in self._unlisted:
                    self.warn(f"skipped {e.path}: no data files")
        return tables

    def _list(self, path: str) -> list[Entry]:
        try:
            return sorted(self.storage.scan(path), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise InvalidInput(f"cannot crawl {path or '.'}: not a directory") from exc
        except PathOutsideRoot:
            raise  # a PermissionError too, but not one to crawl past
        except PermissionError:
            self.warn(f"skipped {path}: permission denied")
            self._unlisted.append(path)
            return []

    def _visible(self, e: Entry) -> bool:
        if is_hidden(e.name):
            return False
        if e.escapes:
            self.warn(f"skipped {e.path}: link leads outside the storage root")
            return False
        return True

    def _dirs(self, path: str, what: str) -> list[Entry]:
        out = []
        for e in self._list(path):
            if not self._visible(e):
                continue
            if not e.is_dir:
                self._misfits.setdefault("file", e.path)
                self.warn(f"skipped {e.path}: a file where a {what} folder was expected")
            elif not is_object_name(e.name):
                self.warn(f"skipped {e.path}: {e.name!r} is not a valid {what} name")
            else:
                out.append(e)
        return out

    def _walk_table(self, t: _TableDir, path: str, part: tuple[tuple[str, str], ...]) -> None:
        entries = self._list(path)
        names = {e.name for e in entries}
        if not part and "_delta_log" in names:
            t.special = "delta"
            return
        if (
            not part
            and "metadata" in names
            and not any(e.name.endswith(tuple(EXTENSIONS)) for e in entries)
        ):
            t.special = "iceberg"
            return
        if len(part) >= MAX_DEPTH:
            self.warn(f"skipped {path}: partition nesting deeper than {MAX_DEPTH}")
            return
        for e in entries:
            if not self._visible(e):
                continue
            if e.is_dir:
                kv = partition_of(e.name)
                if kv is None:
                    self._misfits.setdefault("partition", e.path)
                    self.warn(f"skipped {e.path}: {e.name!r} is not a key=value partition")
                    continue
                self._walk_table(t, e.path, (*part, kv))
                continue
            fmt = file_format(e.name)
            if fmt is None:
                self.warn(f"skipped {e.path}: not a Parquet, CSV or JSON lines file")
                continue
            t.files.append(_DataFile(e.path, e.size, e.mtime_ns, fmt, part))

    # ------------------------------------------------------------------ schemas

    def _read_schemas(
        self,
        tables: list[_TableDir],
        cache: dict[str, tuple[int, int, bytes, int | None]],
        writer: CatalogWriter,
    ) -> dict[str, tuple[pa.Schema, int | None] | None]:
        """Each data file's schema and row count, from the cache or read afresh.

        Files of one table nearly always share a schema, so equal schemas are interned
        (compared with the previous file's, which is cheaper than hashing): a schema is
        deserialised, serialised and later merged once per run of equal ones, not per file.
        """
        out: dict[str, tuple[pa.Schema, int | None] | None] = {}
        todo: list[_DataFile] = []
        from_blob: dict[bytes, pa.Schema] = {}
        for t in tables:
            for f in t.files:
                hit = cache.pop(f.path, None)
                if hit is not None and hit[0] == f.size and hit[1] == f.mtime_ns:
                    schema = from_blob.get(hit[2])
                    if schema is None:
                        schema = from_blob[hit[2]] = pa.ipc.read_schema(pa.py_buffer(hit[2]))
                    out[f.path] = (schema, hit[3])
                else:
                    todo.append(f)
        self.report.files_cached = len(out)
        fresh: list[tuple[str, int, int, bytes, int | None]] = []
        last: tuple[pa.Schema, bytes] | None = None  # files arrive table by table
        for i, (f, got) in enumerate(zip(todo, self._read_all(todo), strict=True)):
            if i % 1000 == 0:
                self._tick("files", i, len(todo))
            if isinstance(got, str):
                self.warn(f"skipped {f.path}: {got}")
                out[f.path] = None
                continue
            if last is None or not got[0].equals(last[0], check_metadata=True):
                last = (got[0], got[0].serialize().to_pybytes())
            out[f.path] = (last[0], got[1])
            fresh.append((f.path, f.size, f.mtime_ns, last[1], got[1]))
        self._tick("files", len(todo), len(todo))
        self.report.files_read = len(fresh)
        writer.cache_files(fresh)
        writer.forget_files(list(cache))  # files gone from this part of the tree
        return out

    def _read_all(self, files: list[_DataFile]) -> list[tuple[pa.Schema, int | None] | str]:
        """Read footers and headers in the storage's own parallelism: serially on a local
        disk (the per-file work is GIL-bound; threads were measured slower), in chunks on
        a thread pool for object stores, whose cost is latency."""
        workers = self.storage.read_parallelism
        if workers <= 1 or len(files) < 2:
            return [self._read_one(f) for f in files]
        size = max(1, -(-len(files) // (workers * 4)))
        chunks = [files[i : i + size] for i in range(0, len(files), size)]
        with ThreadPoolExecutor(workers) as pool:
            done = pool.map(lambda chunk: [self._read_one(f) for f in chunk], chunks)
            return [got for chunk in done for got in chunk]

    def _read_one(self, f: _DataFile) -> tuple[pa.Schema, int | None] | str:
        """A file's schema, or the reason it cannot be read (never raises)."""
        try:
            return read_file_schema(self.storage, f.path, f.fmt)
        except (OSError, pa.ArrowException, ValueError) as exc:
            return f"unreadable ({first_line(exc, 200)})"

    # ------------------------------------------------------------------ tables

    def _describe(
        self, t: _TableDir, schemas: dict[str, tuple[pa.Schema, int | None] | None]
    ) -> tuple[TableInfo, list[Partition]] | str:
        """A table folder as its catalog entry and partitions, or why its files cannot make
        one table now: one bad folder must not stop the crawl."""
        full = f"{t.database}.{t.name}"
        if t.special:
            return self._describe_special(t)
        formats = {f.fmt for f in t.files}
        if len(formats) > 1:
            return f"mixed file formats {sorted(formats)}"
        keep = self._partition_layout(t, full)
        merged, used = self._merged_schema(t, keep, schemas)
        if merged is None or not used:
            return "no readable data files"
        try:
            schema = self._with_partition_columns(full, merged, keep, used)
        except InvalidInput as exc:
            return str(exc)
        parts = self._partitions(keep, used, schemas)
        return self._table_info(t, merged, schema, keep, used, schemas), parts

    def _partition_layout(self, t: _TableDir, full: str) -> tuple[str, ...]:
        """The partition keys the table is catalogued with. Where files disagree, the
        layout most of them share wins (the others are left out, with a warning), so a
        stray folder does not cost the whole table."""
        layouts = {f.layout for f in t.files}
        if len(layouts) > 1:
            keep = max(layouts, key=lambda ks: sum(1 for f in t.files if f.layout == ks))
            self.warn(f"table {full}: inconsistent partition layout; kept {'/'.join(keep)}")
            return keep
        return layouts.pop()

    def _merged_schema(
        self,
        t: _TableDir,
        keep: tuple[str, ...],
        schemas: dict[str, tuple[pa.Schema, int | None] | None],
    ) -> tuple[pa.Schema | None, list[_DataFile]]:
        """One schema for the readable files of the kept layout, and those files. A file
        whose schema conflicts is left out (with a warning), not the table; interned
        schemas (see ``_read_schemas``) are merged once each, not once per file."""
        merged: pa.Schema | None = None
        used: list[_DataFile] = []
        merged_in: set[int] = set()
        for f in t.files:
            got = schemas.get(f.path)
            if got is None or f.layout != keep:
                continue
            if id(got[0]) not in merged_in:
                try:
                    merged = got[0] if merged is None else merge_schemas(merged, got[0])
                except SchemaConflict as exc:
                    self.warn(f"skipped {f.path}: schema conflict ({exc})")
                    continue
                merged_in.add(id(got[0]))
            used.append(f)
        return merged, used

    def _table_info(
        self,
        t: _TableDir,
        merged: pa.Schema,
        schema: Schema,
        keys: tuple[str, ...],
        used: list[_DataFile],
        schemas: dict[str, tuple[pa.Schema, int | None] | None],
    ) -> TableInfo:
        """The table's catalog entry, with totals over the files it is made of. A row count
        only when every file knows its own (Parquet footers do, text files do not): a sum
        that silently skipped files would be wrong, not approximate."""
        rows = [schemas[f.path][1] for f in used]  # type: ignore[index]
        return TableInfo(
            database=t.database,
            name=t.name,
            format=used[0].fmt,
            description=description_of(merged.metadata),
            location=self.storage.location(t.path),
            table_schema=schema,
            partition_keys=keys,
            version="0",
            file_count=len(used),
            size_bytes=sum(f.size for f in used),
            row_count=None if None in rows else sum(r or 0 for r in rows),
        )

    def _with_partition_columns(
        self, full: str, merged: pa.Schema, keys: tuple[str, ...], files: list[_DataFile]
    ) -> Schema:
        fields = list(merged)
        for k in keys:
            clash = [f.name for f in fields if normal_name(f.name) == k]
            if clash:
                self.warn(
                    f"table {full}: column {clash[0]!r} is also a partition key; "
                    "the partition value is used"
                )
                fields = [f for f in fields if normal_name(f.name) != k]
        for k in keys:
            values = {dict(f.partition)[k] for f in files}
            fields.append(pa.field(k, partition_type(values)))
        return from_arrow(pa.schema(fields), partition_keys=keys)

    def _partitions(
        self,
        keys: tuple[str, ...],
        files: list[_DataFile],
        schemas: dict[str, tuple[pa.Schema, int | None] | None],
    ) -> list[Partition]:
        if not keys:
            return []
        groups: dict[tuple[tuple[str, str], ...], list[_DataFile]] = defaultdict(list)
        for f in files:
            groups[f.partition].append(f)
        parts = []
        for part, members in groups.items():
            values: dict[str, str | None] = {k: None if v == HIVE_NULL else v for k, v in part}
            loc_rel = members[0].path.rsplit("/", 1)[0]
            rows = [schemas[f.path][1] for f in members]  # type: ignore[index]
            parts.append(
                Partition(
                    key=partition_key(keys, values),
                    values=json.dumps(values, separators=(",", ":")),
                    location=self.storage.location(loc_rel),
                    file_count=len(members),
                    size_bytes=sum(f.size for f in members),
                    row_count=None if None in rows else sum(r or 0 for r in rows),
                    modified_at=max(f.mtime_ns for f in members),
                )
            )
        return sorted(parts)

    def _describe_special(self, t: _TableDir) -> tuple[TableInfo, list[Partition]] | str:
        try:
            if t.special == "delta":
                from lakemesh.catalog.delta import describe_delta_table as describe
            else:
                from lakemesh.catalog.iceberg import describe_iceberg_table as describe
            return describe(self.storage, t.path, t.database, t.name)
        except LakemeshError as exc:
            return str(exc)

    def _keep(self, writer: CatalogWriter, t: _TableDir, reason: str) -> None:
        """A table whose folder is there but cannot be described now keeps its last
        catalogued entry: unreadable is not gone, and the sync would delete what is. The
        entry counts as unchanged, so a crawl that kept it is not "found no table"."""
        full = f"{t.database}.{t.name}"
        if writer.has_table(t.database, t.name):
            self.report.unchanged.append(full)
            self.warn(f"table {full} not updated, its catalog entry is kept: {reason}")
        else:
            self.warn(f"skipped table {full}: {reason}")

    def _put(self, writer: CatalogWriter, info: TableInfo, parts: list[Partition]) -> None:
        full = f"{info.database}.{info.name}"
        try:
            old = self.catalog_table(writer, info.database, info.name)
        except LakemeshError:
            old = None
        if writer.put_table(info, parts):
            (self.report.updated if old else self.report.added).append(full)
            if old is not None:
                changes = diff(old.table_schema, info.table_schema)
                if changes:
                    self.report.schema_changes[full] = changes
                    if any(c.breaking for c in changes):
                        self.warn(f"table {full}: breaking schema change")
        else:
            self.report.unchanged.append(full)

    def catalog_table(self, writer: CatalogWriter, database: str, name: str) -> TableInfo | None:
        try:
            return self.catalog._load(writer.conn, database, name)
        except LakemeshError:
            return None

    def _remove_vanished(
        self, writer: CatalogWriter, rel: str, database: str | None, found: set[tuple[str, str]]
    ) -> None:
        """Tables of the crawled scope whose folder is gone, or holds no data file any
        more, are dropped; not those below a folder that could not be listed."""
        for db, name in writer.tables():
            if (db, name) in found or (database is not None and db != database):
                continue
            info = self.catalog_table(writer, db, name)
            if info is None:
                continue
            loc = self.storage.relative(info.location)
            if not _within(loc, rel):
                continue
            if any(_within(loc, u) for u in self._unlisted):
                self.warn(f"table {db}.{name} kept: {loc} could not be listed")
                continue
            if writer.drop_table(db, name):
                self.report.removed.append(f"{db}.{name}")


def _within(path: str, folder: str) -> bool:
    """Whether a relative path is ``folder`` or below it (``""`` is the root)."""
    return not folder or path == folder or path.startswith(folder + "/")


def read_file_schema(storage: Storage, path: str, fmt: Format) -> tuple[pa.Schema, int | None]:
    """A data file's schema (and row count, for Parquet) as the crawler catalogs it: the
    Parquet footer, or types inferred from the first ``SAMPLE_BYTES`` of a text file. A
    query checks files the crawler has not seen the same way. Raises ``OSError``,
    ``pa.ArrowException`` or ``ValueError`` for a file that cannot be read."""
    with storage.open_input(path) as fh:
        if fmt == "parquet":
            meta = pq.ParquetFile(fh).metadata
            return meta.schema.to_arrow_schema(), int(meta.num_rows)
        head = fh.read(SAMPLE_BYTES)
    return _infer_text(head, fmt, complete=len(head) < SAMPLE_BYTES), None


def _infer_text(head: bytes, fmt: Format, *, complete: bool) -> pa.Schema:
    """Schema of a CSV or JSON-lines file from its first block (whole rows only)."""
    if not complete:
        cut = head.rfind(b"\n")
        head = head[: cut + 1] if cut > 0 else head
    reader = pacsv.read_csv if fmt == "csv" else pajson.read_json
    table = reader(io.BytesIO(head))
    if table.num_columns == 0:
        raise ValueError("no columns")
    return table.schema


_INT = re.compile(r"-?(0|[1-9][0-9]*)")
_PADDED = re.compile(r"-?0[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"(?P<tz>Z|[+-][0-9]{2}:?[0-9]{2})?"
)


def partition_type(values: Iterable[str]) -> pa.DataType:
    """The one type a Hive partition key's values are catalogued as, decided by all of
    them (as written in the folder names, ``%XX`` escapes decoded):

    - ``__HIVE_DEFAULT_PARTITION__`` is null and does not vote; no other value: string;
    - any zero-padded integer (``01``, ``007``): string, or the padding is lost;
    - integers in int64's range: ``int64``;
    - ISO dates (``2024-01-31``): ``date32[day]``; dates and ISO timestamps without a
      zone: ``timestamp[us]``; timestamps all with a zone (``Z``, ``+02:00``):
      ``timestamp[us, tz=UTC]``;
    - anything else, or a mix of the above: string.
    """
    kinds = {_value_kind(unquote(v)) for v in values if v != HIVE_NULL}
    if kinds == {"int"}:
        return pa.int64()
    if kinds == {"date"}:
        return pa.date32()
    if kinds and kinds <= {"date", "timestamp"}:
        return pa.timestamp("us")
    if kinds == {"timestamptz"}:
        return pa.timestamp("us", tz="UTC")
    return pa.string()


def _value_kind(v: str) -> str:
    if _INT.fullmatch(v):
        return "int" if -(2**63) <= int(v) < 2**63 else "string"
    if _PADDED.fullmatch(v):
        return "padded"
    try:
        if _DATE.fullmatch(v):
            date.fromisoformat(v)
            return "date"
        m = _TIMESTAMP.fullmatch(v)
        if m:
            datetime.fromisoformat(v)
            return "timestamptz" if m.group("tz") else "timestamp"
    except ValueError:
        pass  # 2024-13-45: looks like a date, is text
    return "string"


def crawl_domain(
    storage: Storage,
    catalog: BuiltinCatalog,
    path: str = "",
    database: str | None = None,
    progress: Progress | None = None,
) -> CrawlReport:
    return Crawler(storage, catalog, progress=progress).crawl(path, database)
