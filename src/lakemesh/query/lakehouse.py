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
    """An Iceberg scan as local Parquet files an engine reads itself: the data files by
    groups, and the rows positional delete files remove (``file_path``, ``pos``; the
    path spelled as the data file's)."""

    groups: tuple[FileGroup, ...]
    deleted: pa.Table | None
    #: Columns are found by name across files whose schemas differ (Delta), not mapped.
    by_name: bool = False
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
        from pyiceberg.manifest import DataFileContent, FileFormat

        from lakemesh.catalog.iceberg import canonical

        names = {f.name.lower(): f for f in self.schema}
        tasks = list(self._table.scan(row_filter=iceberg_filter(where, names)).plan_files())
        self.files_planned = len(tasks)
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
        names = tuple((name, name) for name in self.schema.names)
        return FilePlan(
            (FileGroup(tuple(files), names),), None, by_name=True, hive=bool(keys), keys=tuple(keys)
        )

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
    for path in delete_files:
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
        parts.append(rows.filter(pc.is_in(rows.column("file_path"), pa.array(sorted(planned)))))
    return pa.concat_tables(parts)


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
