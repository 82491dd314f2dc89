"""Iceberg and Delta tables read lazily for a governed query: only the files, row groups
and columns the query needs, batch by batch, never the whole table in memory.

An engine asks a scan to ``open`` with the columns it reads and the relation's WHERE
clause (the policy's row filter and the consumer's harmless predicates the planner
pushed in), both in the table's own column names; it applies that WHERE itself
afterwards, so a scan may return more rows than it admits, never fewer:

* **Iceberg** (pyiceberg): the WHERE becomes a pyiceberg row filter where it can be
  (comparisons, IN and IS [NOT] NULL of a column with literals of its own kind, joined by
  AND/OR; anything else reads as "all rows"), which prunes data files by partition and by
  the manifests' column statistics and filters row groups; only the selected fields are
  read; positional delete files are applied; columns are matched by field id, so renamed,
  added and dropped columns read right in every old file. Equality deletes are not
  supported by pyiceberg yet: such a table fails with a clear reason in the audit log.
* **Delta** (deltalake): on a local disk, the current version's Parquet files are handed
  to the engine to read itself (``plan``: partition values from the ``key=value``
  folder names, columns by name; partitions and Parquet statistics prune files and row
  groups); otherwise a lazy pyarrow dataset over them, into which DuckDB pushes its
  columns and filters. A table whose protocol needs deletion vectors or column mapping
  (which neither can apply) is read by deltalake's own DataFusion reader instead,
  streamed, columns selected.

Iceberg's ``plan`` hands local Parquet data files over the same way: pyiceberg plans the
files (the row filter against partitions and manifest statistics) and names each file's
columns by field id; positional deletes become (file, row number) pairs the engine
removes. pyiceberg's own reader stays for what cannot be handed over (equality deletes,
files on object stores).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlglot import exp

from lakemesh.engines import SOURCE_PLACEHOLDER
from lakemesh.errors import PathOutsideRoot
from lakemesh.storage import Storage
from lakemesh.storage.local import LocalStorage

_STRINGS = ("string", "large_string")
_INTEGERS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
_FLOATS = ("float", "double", "halffloat")


@dataclass(frozen=True)
class FileGroup:
    """Data files that spell the table's columns alike: ``names`` maps each of the
    table's current columns to its name in these files (None: not in them)."""

    files: tuple[str, ...]
    names: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class FilePlan:
    """An Iceberg or Delta scan as local Parquet files an engine reads itself: the data
    files by groups of one schema, and the rows positional delete files remove
    (``file_path``, ``pos``; the path spelled as the data file's)."""

    groups: tuple[FileGroup, ...]
    deleted: pa.Table | None
    #: Partition values are in the files' folder names (``key=value``), not in the files.
    hive: bool = False
    #: The partition columns whose values are in the folder names (with ``hive``).
    keys: tuple[str, ...] = ()


class IcebergScan:
    """An Iceberg table at the snapshot it was loaded at."""

    kind = "iceberg"

    def __init__(self, table: Any, storage: Storage | None = None) -> None:
        self._table = table
        self._storage = storage
        self.schema: pa.Schema = table.schema().as_arrow()
        #: Data files the last ``open``/``plan`` planned to read (diagnostics, benchmarks).
        self.files_planned = 0

    def plan(self, where: exp.Expr | None) -> FilePlan | None:
        """The local Parquet files to read for the rows ``where`` may admit, with their
        positional deletes; None when an engine cannot read them itself (equality
        deletes, files not on a local disk or not Parquet)."""
        if not isinstance(self._storage, LocalStorage):
            return None
        names = {f.name.lower(): f for f in self.schema}
        row_filter = iceberg_filter(where, names)
        # A snapshot never changes (its metadata file names it), so neither does its plan
        # for the same filter: repeated queries skip reading the manifests again.
        metadata = getattr(self._table, "metadata_location", None)
        key = (self._storage.uri, str(metadata), repr(row_filter))
        with _PLANS_LOCK:
            hit = _PLANS.get(key) if metadata else None
            if hit is not None:
                _PLANS.move_to_end(key)
        if hit is not None:
            self.files_planned = hit[1]
            return hit[0]
        tasks = list(self._table.scan(row_filter=row_filter).plan_files())
        self.files_planned = len(tasks)
        planned = self._planned(tasks)
        if not metadata:
            return planned
        with _PLANS_LOCK:
            _PLANS[key] = (planned, len(tasks))
            while len(_PLANS) > _PLANS_MAX:
                _PLANS.popitem(last=False)
        return planned

    def _planned(self, tasks: list[Any]) -> FilePlan | None:
        assert self._storage is not None
        from pyiceberg.manifest import DataFileContent, FileFormat

        from lakemesh.catalog.iceberg import canonical

        fields = [(f.field_id, f.name) for f in self._table.schema().fields]
        groups: dict[tuple[tuple[str, str | None], ...], list[str]] = {}
        deletes: dict[str, None] = {}
        for task in tasks:
            if task.file.file_format != FileFormat.PARQUET:
                return None
            for delete in task.delete_files:
                if delete.content == DataFileContent.EQUALITY_DELETES:
                    return None
                deletes[canonical(self._storage, delete.file_path)] = None
            path = canonical(self._storage, task.file.file_path)
            by_id = _field_names(path)
            mapping = tuple((name, by_id.get(field_id)) for field_id, name in fields)
            groups.setdefault(mapping, []).append(path)
        planned = {p for paths in groups.values() for p in paths}
        return FilePlan(
            tuple(FileGroup(tuple(paths), names) for names, paths in groups.items()),
            _deleted_rows(self._storage, list(deletes), planned) if deletes else None,
        )

    def open(self, columns: Sequence[str] | None, where: exp.Expr | None) -> pa.RecordBatchReader:
        """The rows ``where`` may admit, ``columns`` only (all when None), streamed."""
        names = {f.name.lower(): f for f in self.schema}
        selected = tuple(columns) if columns else ("*",)
        scan = self._table.scan(row_filter=iceberg_filter(where, names), selected_fields=selected)
        self.files_planned = sum(1 for _ in scan.plan_files())
        return scan.to_arrow_batch_reader()

    def read(self) -> pa.Table:
        """Every row (engines that need the table whole: Spark)."""
        return self._table.scan().to_arrow()


class DeltaScan:
    """A Delta table at the version it was loaded at."""

    kind = "delta"

    def __init__(self, table: Any, storage: Storage, location: str) -> None:
        outside = [u for u in table.file_uris() if not storage.contains(u)]
        if outside:  # the log names the files; a link among them could lead out of the root
            raise PathOutsideRoot(f"Delta table {location} names files outside the storage root")
        self._table = table
        self._location = location
        self._local = isinstance(storage, LocalStorage)
        self.schema: pa.Schema = pa.schema(table.schema().to_arrow())
        protocol = table.protocol()
        features = set(protocol.reader_features or ())
        #: Whether a pyarrow dataset can read it (else deltalake's own reader does).
        self.as_dataset = not features & {"deletionVectors", "columnMapping"}

    def plan(self, where: exp.Expr | None) -> FilePlan | None:
        """The current version's local Parquet files, for an engine to read itself (its
        own partition and statistics pruning apply); None when it cannot: deletion
        vectors or column mapping, files not on a local disk, or partition values that
        are not all in the folder names."""
        del where  # the engine prunes by the folder names and the files' statistics
        if not (self.as_dataset and self._local):
            return None
        keys = list(self._table.metadata().partition_columns)
        files = []
        for uri in self._table.file_uris():
            path = uri.removeprefix("file://")
            folders = path.split("/")[:-1]
            found = [part.split("=", 1)[0] for part in folders if "=" in part]
            if (found[-len(keys) :] if keys else found) != keys:
                return None  # partition values the folder names do not all give
            files.append(path)
        if not files:
            return None
        # Files written before a column was added lack it: files are grouped by their own
        # columns (footers read once per file) so that each group reads as one schema
        # (DuckDB's ``union_by_name`` would open every footer of the table per query).
        groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
        for path in files:
            groups.setdefault(_file_columns(path), []).append(path)
        planned = []
        for columns, paths in groups.items():
            own = {name for name, _ in columns}.union(keys)
            names = tuple((n, n if n in own else None) for n in self.schema.names)
            planned.append(FileGroup(tuple(paths), names))
        return FilePlan(tuple(planned), None, hive=bool(keys), keys=tuple(keys))

    def open(self, columns: Sequence[str] | None, where: exp.Expr | None) -> Any:
        """A lazy pyarrow dataset (the engine pushes its columns and filters in), or a
        stream of ``columns`` from deltalake's reader."""
        del where  # the engine pushes filters into the dataset itself
        if self.as_dataset:
            filesystem = None
            if self._local:
                import pyarrow.fs as pafs

                filesystem = pafs.SubTreeFileSystem(self._location, pafs.LocalFileSystem())
            return self._table.to_pyarrow_dataset(filesystem=filesystem)
        from deltalake import QueryBuilder

        wanted = columns or self.schema.names
        select = exp.select(*(exp.column(c, quoted=True) for c in wanted)).from_(
            exp.Table(this=exp.to_identifier("t", quoted=True))
        )
        result = QueryBuilder().register("t", self._table).execute(select.sql("postgres"))
        return pa.RecordBatchReader.from_stream(result)

    def read(self) -> pa.Table:
        """Every row (engines that need the table whole: Spark)."""
        opened = self.open(None, None)
        if isinstance(opened, pa.RecordBatchReader):
            return opened.read_all()
        return opened.to_table()


_COMMIT = re.compile(r"(\d{20})\.json")


class DeltaTables:
    """Loaded Delta tables by location, each reused while it is still the latest version.

    Loading a Delta table replays its log (about 10 ms for 20 commits, more for a long
    log without a checkpoint), which every query would pay again. A table is kept with
    the newest commit file of its ``_delta_log`` folder as it was when the table was
    loaded (name, size, modification time); a later query lists that folder (one
    directory level, through the domain's storage) and reuses the loaded table only if
    its newest commit file is still exactly that one, else loads the table anew (a table
    deleted and written again starts at version 0 again: the file's time tells them
    apart). A loaded table is never updated in place (queries may be reading it), only
    replaced.
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._tables: OrderedDict[str, tuple[tuple[str, int, int], Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, storage: Storage, location: str) -> Any:
        from deltalake import DeltaTable

        newest = _newest_commit(storage, location)
        with self._lock:
            cached = self._tables.get(location)
            if cached is not None and newest is not None and cached[0] == newest:
                self._tables.move_to_end(location)
                return cached[1]
        table = DeltaTable(location)
        if newest is None or int(newest[0].split(".")[0]) != table.version():
            return table  # the log moved while it loaded: used once, not kept
        with self._lock:
            self._tables[location] = (newest, table)
            self._tables.move_to_end(location)
            while len(self._tables) > self._size:
                self._tables.popitem(last=False)
        return table


def _newest_commit(storage: Storage, location: str) -> tuple[str, int, int] | None:
    """The newest commit file in the table's ``_delta_log`` folder: its name, size and
    modification time (None when the folder cannot be listed)."""
    try:
        entries = storage.scan(storage.relative(location.rstrip("/") + "/_delta_log"))
    except (OSError, PathOutsideRoot):
        return None
    commits = [e for e in entries if not e.is_dir and _COMMIT.fullmatch(e.name)]
    if not commits:
        return None
    newest = max(commits, key=lambda e: e.name)
    return newest.name, newest.size, newest.mtime_ns


def _file_columns(path: str) -> tuple[tuple[str, str], ...]:
    """A Parquet data file's columns with their types (files never change: kept; equal
    schemas share one tuple)."""
    cached = _FILE_COLUMNS.get(path)
    if cached is None:
        import pyarrow.parquet as pq

        columns = tuple((f.name, str(f.type)) for f in pq.read_schema(path))
        cached = _SCHEMAS.setdefault(columns, columns)
        if len(_FILE_COLUMNS) >= _FIELD_NAMES_MAX:
            _FILE_COLUMNS.pop(next(iter(_FILE_COLUMNS)))
        _FILE_COLUMNS[path] = cached
    return cached


_FILE_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {}
_SCHEMAS: dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = {}


def _field_names(path: str) -> dict[int, str]:
    """A Parquet data file's columns by Iceberg field id (files never change: kept)."""
    cached = _FIELD_NAMES.get(path)
    if cached is None:
        import pyarrow.parquet as pq

        cached = {}
        for field in pq.read_schema(path):
            raw = (field.metadata or {}).get(b"PARQUET:field_id")
            if raw is not None:
                cached[int(raw)] = field.name
        if len(_FIELD_NAMES) >= _FIELD_NAMES_MAX:
            _FIELD_NAMES.pop(next(iter(_FIELD_NAMES)))
        _FIELD_NAMES[path] = cached
    return cached


_FIELD_NAMES: dict[str, dict[int, str]] = {}
_FIELD_NAMES_MAX = 100_000


def _deleted_rows(storage: Storage, delete_files: Sequence[str], planned: set[str]) -> pa.Table:
    """The (data file, row position) pairs the delete files remove from ``planned``, the
    data file spelled as ``planned`` spells it."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from lakemesh.catalog.iceberg import canonical

    parts = []
    wanted = pa.array(sorted(planned))
    for path in delete_files:
        key = (storage.uri, path)
        with _PLANS_LOCK:
            rows = _DELETES.get(key)
        if rows is None:
            rows = pq.read_table(path, columns=["file_path", "pos"])
            raw = rows.column("file_path").combine_chunks()
            spelled: dict[str, str | None] = {}
            for value in pc.unique(raw).to_pylist():
                try:
                    spelled[value] = canonical(storage, value)
                except PathOutsideRoot:
                    spelled[value] = None  # names no file we read
            keys = pa.array(list(spelled))
            mapped = pc.take(pa.array(list(spelled.values()), pa.string()), pc.index_in(raw, keys))
            rows = pa.table({"file_path": mapped, "pos": rows.column("pos").cast(pa.int64())})
            with _PLANS_LOCK:  # delete files never change: each is read once
                _DELETES[key] = rows
                while len(_DELETES) > _DELETES_MAX:
                    _DELETES.popitem(last=False)
        parts.append(rows.filter(pc.is_in(rows.column("file_path"), wanted)))
    return pa.concat_tables(parts)


#: Plans by (storage root, metadata file, row filter), and delete files' rows by (storage
#: root, path), least recently used out first: both are functions of immutable files.
_PLANS: OrderedDict[tuple[str, str, str], tuple[FilePlan | None, int]] = OrderedDict()
_PLANS_MAX = 256
_DELETES: OrderedDict[tuple[str, str], pa.Table] = OrderedDict()
_DELETES_MAX = 1024
_PLANS_LOCK = threading.Lock()


def iceberg_filter(where: exp.Expr | None, fields: Mapping[str, pa.Field]) -> Any:
    """``where`` as a pyiceberg row filter admitting at least every row it admits
    (``AlwaysTrue`` for whatever cannot be said exactly)."""
    from pyiceberg.expressions import AlwaysTrue

    if where is None:
        return AlwaysTrue()
    return _translate(where, fields)


def _translate(node: exp.Expr, fields: Mapping[str, pa.Field]) -> Any:
    from pyiceberg import expressions as ice

    if isinstance(node, exp.Paren):
        return _translate(node.this, fields)
    if isinstance(node, exp.And):
        return ice.And(_translate(node.this, fields), _translate(node.expression, fields))
    if isinstance(node, exp.Or):
        left, right = _translate(node.this, fields), _translate(node.expression, fields)
        if isinstance(left, ice.AlwaysTrue) or isinstance(right, ice.AlwaysTrue):
            return ice.AlwaysTrue()
        return ice.Or(left, right)
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        name = _field(node.this, fields)
        return ice.IsNull(term=name) if name else ice.AlwaysTrue()
    if isinstance(node, exp.Not) and isinstance(node.this, exp.Is):
        inner = node.this
        name = _field(inner.this, fields) if isinstance(inner.expression, exp.Null) else None
        return ice.NotNull(term=name) if name else ice.AlwaysTrue()
    if isinstance(node, exp.Between):
        name = _field(node.this, fields)
        low, high = node.args.get("low"), node.args.get("high")
        if name and isinstance(low, exp.Literal) and isinstance(high, exp.Literal):
            values = _literals([low, high], fields[name.lower()])
            if values:
                return ice.And(
                    ice.GreaterThanOrEqual(term=name, literal=values[0]),  # type: ignore[call-arg]
                    ice.LessThanOrEqual(term=name, literal=values[1]),  # type: ignore[call-arg]
                )
        return ice.AlwaysTrue()
    if isinstance(node, exp.In) and not node.args.get("query"):
        name = _field(node.this, fields)
        values = _literals(node.expressions, fields[name.lower()]) if name else None
        return ice.In(term=name, literals=values) if name and values else ice.AlwaysTrue()
    comparisons = {
        exp.EQ: (ice.EqualTo, ice.EqualTo),
        exp.NEQ: (ice.NotEqualTo, ice.NotEqualTo),
        exp.LT: (ice.LessThan, ice.GreaterThan),
        exp.LTE: (ice.LessThanOrEqual, ice.GreaterThanOrEqual),
        exp.GT: (ice.GreaterThan, ice.LessThan),
        exp.GTE: (ice.GreaterThanOrEqual, ice.LessThanOrEqual),
    }
    for kind, (straight, flipped) in comparisons.items():
        if type(node) is not kind:
            continue
        for column, literal, make in (
            (node.this, node.expression, straight),
            (node.expression, node.this, flipped),
        ):
            name = _field(column, fields)
            if name and isinstance(literal, exp.Literal):
                values = _literals([literal], fields[name.lower()])
                if values:
                    return make(term=name, literal=values[0])  # type: ignore[call-arg]
    return ice.AlwaysTrue()


def _field(node: exp.Expr, fields: Mapping[str, pa.Field]) -> str | None:
    """The table's field a placeholder column names (its own spelling), if any."""
    if not isinstance(node, exp.Column) or node.table not in ("", SOURCE_PLACEHOLDER):
        return None
    field = fields.get(str(node.name).lower())
    return field.name if field is not None else None


def _literals(nodes: Iterable[exp.Expr], field: pa.Field) -> list[Any] | None:
    """The literals' values when each is of the field's own kind, else None."""
    kind = str(field.type)
    out: list[Any] = []
    for node in nodes:
        if not isinstance(node, exp.Literal):
            return None
        if kind in _STRINGS and node.is_string:
            out.append(node.this)
        elif kind in _INTEGERS and node.is_int:
            out.append(int(node.this))
        elif kind in _FLOATS and node.is_number and not node.is_string:
            out.append(float(node.this))
        else:
            return None
    return out
