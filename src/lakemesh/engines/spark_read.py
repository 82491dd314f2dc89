"""The Spark engine's read side: a relation's source as a DataFrame, exactly its files,
in exactly the catalog's columns and types.

Spark reads whatever path it is given, on whatever filesystem is its default, so only
``file://`` URIs of exactly the source's files reach it (``file_uri``). Spark's own
schema merging would not match the catalog (no widening by name, JSON struct fields out
of order), so catalogued files are read group by group with explicit schemas
(``_catalog_read``); a source without catalogued columns is read as Spark infers it.

Planning a read (listing the files, inferring or checking their schema, analysing the
casts) costs more than a small query takes to run, and its outcome depends on nothing
but the read's definition (format, files, each file's schema, the catalog's columns)
and the files' state (inode, size, modification time). ``ReadPlans`` plans each read
once, in the engine's private reader session (the query sessions' settings; no view,
never any SQL), keyed by exactly those, and gives every query session the analysed
plan as a DataFrame of its own; likewise a plan derived from it (the engine's policy
projection), keyed by the read's key and the derivation's exact text. A file that
changes, appears or goes gives a new key.
"""

from __future__ import annotations

import os
import posixpath
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from py4j.java_gateway import JavaObject
from pyspark.errors import PySparkException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.classic.dataframe import DataFrame as ClassicDataFrame
from pyspark.sql.pandas.types import from_arrow_schema, from_arrow_type
from pyspark.sql.types import (
    DataType,
    DecimalType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
    StructField,
    StructType,
)
from sqlglot import exp

from lakemesh.engines import EngineError, Source, SourceColumn
from lakemesh.engines.types import conform

_PARTITION_DIR = re.compile(r"[^=/]+=[^/]*")

_Build = Callable[[SparkSession], DataFrame]


class ReadPlans:
    """Sources as DataFrames, each file read planned once per exact definition and file
    state in ``reader`` (see the module docstring) and handed to query sessions as is.

    A plan names exactly the files it was planned for, with the schema it was planned
    with; a query session gets it through ``Dataset.ofRows`` (no re-analysis), so what it
    reads is what a fresh read would read. A plan derived from a read (the policy applied
    to it) is kept the same way, keyed by the read's key and the derivation's own exact
    key. At most ``size`` plans, of at most ``files`` files in all (a plan holds its
    files' listing), are kept, least recently used first out.
    """

    def __init__(
        self, root: SparkSession, reader: SparkSession, size: int = 256, files: int = 100_000
    ) -> None:
        self.root = root
        self._reader = reader
        self._size = size
        self._max_files = files
        self._files = 0
        self._plans: OrderedDict[Hashable, tuple[JavaObject, int]] = OrderedDict()
        self._lock = threading.Lock()

    def frame(
        self,
        session: SparkSession,
        source: Source,
        derive: Callable[[DataFrame], DataFrame] | None = None,
        derivation: Hashable = None,
    ) -> DataFrame:
        """``source`` as an unnamed DataFrame of ``session`` (an Arrow table as it is, files
        as the catalog sees them, or, with no catalogued columns, as Spark infers them),
        then ``derive``-d. ``derivation`` must say exactly what ``derive`` does: the
        derived plan is then reused for every read of the same files with that key."""
        if source.arrow is not None:
            # Naive Arrow timestamps stay naive (TIMESTAMP_NTZ), as Parquet's are read here
            # and as DuckDB reads both; PySpark's default would pin them to the session zone.
            schema = from_arrow_schema(source.arrow.schema, prefer_timestamp_ntz=True)
            frame = session.createDataFrame(source.arrow, schema=schema)
            return frame if derive is None else derive(frame)
        definition, build = _catalog_read(source) if source.columns else _inferred_read(source)
        state = _file_state(source.files)
        if state is None:  # a file is gone: Spark's own read fails and says which
            frame = build(session)
            return frame if derive is None else derive(frame)
        read_key = (definition, state)
        key = None if derive is None or derivation is None else (read_key, derivation)
        if key is not None and (plan := self._cached(key)) is not None:
            return _in_session(session, plan)
        read = self._cached(read_key)
        if read is None:
            read = build(self._reader)._jdf.queryExecution().analyzed()
        frame = _in_session(session, read)
        derived = frame if derive is None else derive(frame)
        if _file_state(source.files) == state:  # unchanged while it was planned
            self._remember(read_key, read, len(source.files))
            if key is not None:
                plan = derived._jdf.queryExecution().analyzed()
                self._remember(key, plan, len(source.files))
        return derived

    def _cached(self, key: Hashable) -> JavaObject | None:
        with self._lock:
            cached = self._plans.get(key)
            if cached is None:
                return None
            self._plans.move_to_end(key)
            return cached[0]

    def _remember(self, key: Hashable, plan: JavaObject, files: int) -> None:
        with self._lock:
            if key in self._plans:
                return
            self._plans[key] = (plan, files)
            self._files += files
            while len(self._plans) > self._size or self._files > self._max_files:
                _, (_, evicted) = self._plans.popitem(last=False)
                self._files -= evicted


def _in_session(session: SparkSession, plan: JavaObject) -> DataFrame:
    """An analysed plan as a DataFrame of ``session`` (``Dataset.ofRows``: no re-analysis)."""
    jvm: Any = session.sparkContext._jvm
    rows = jvm.org.apache.spark.sql.classic.Dataset.ofRows(session._jsparkSession, plan)
    return ClassicDataFrame(rows, session)


def _inferred_read(source: Source) -> tuple[Hashable, _Build]:
    """The files as Spark infers them (tests and diagnostics)."""
    paths = tuple(file_uri(path) for path in source.files)
    base = file_uri(_partition_base(source.files)) if source.hive_partitioning else None

    def build(session: SparkSession) -> DataFrame:
        reader = session.read
        if base is not None:
            reader = reader.option("basePath", base)
        if source.format == "parquet":
            return reader.parquet(*paths)
        # FAILFAST: a malformed record fails the query (as on DuckDB), never a half-NULL row.
        if source.format == "csv":
            return reader.csv(list(paths), header=True, inferSchema=True, mode="FAILFAST")
        return reader.json(list(paths), mode="FAILFAST")

    return ("inferred", source.format, base, paths), build


def _catalog_read(source: Source) -> tuple[Hashable, _Build]:
    """The files as exactly the catalog's columns, each cast to the catalog's type.

    Spark neither unifies files by column name with widening nor keeps a JSON struct's
    field order, so each group of files sharing one schema is read with an explicit
    schema (nothing is inferred) and projected on its own, and the groups are unioned:
    Parquet with each file column's own type; CSV, whose schema is positional, with the
    header's columns as text; JSON lines, read by name, in the catalog's types at once.
    Partition values are read as text (``01`` stays ``01``) until the catalog's cast.
    Columns are renamed by position (``toDF``) before any is named, so no file spelling
    is ever parsed as an expression.
    """
    base = file_uri(_partition_base(source.files)) if source.hive_partitioning else None
    keys = {c.source.lower() for c in source.columns if c.partition}
    partition_fields = (
        [StructField(c.source, StringType()) for c in source.columns if c.partition]
        if source.hive_partitioning
        else []
    )
    groups: list[tuple[StructType, tuple[str, ...], tuple[str, ...]]] = []
    for schema, files in _schema_groups(source):
        fields = _group_fields(source, schema, keys) + partition_fields
        spelled = [f.name for f in fields]
        if source.format == "csv":  # positional, and Spark refuses `Name` beside `name`
            spelled = [*schema.names, *spelled[len(schema) :]] if schema else spelled
        paths = tuple(file_uri(path) for path in files)
        groups.append((StructType(fields), tuple(spelled), paths))

    def build(session: SparkSession) -> DataFrame:
        frames = []
        for read_schema, spelled, paths in groups:
            reader = session.read.schema(read_schema)
            if base is not None:
                reader = reader.option("basePath", base)
            if source.format == "parquet":
                frame = reader.parquet(*paths)
            elif source.format == "csv":
                frame = reader.csv(list(paths), header=True, mode="FAILFAST")
            else:
                frame = reader.json(list(paths), mode="FAILFAST")
            frames.append(_catalog_columns(frame, spelled, source.columns))
        read = frames[0]
        for frame in frames[1:]:
            read = read.union(frame)  # same columns, same order, same types
        return read

    definition = (
        "catalog",
        source.format,
        base,
        source.columns,
        tuple((s.json(), spelled, paths) for s, spelled, paths in groups),
    )
    return definition, build


def _catalog_columns(
    frame: DataFrame, spelled: Sequence[str], columns: Sequence[SourceColumn]
) -> DataFrame:
    """``frame`` (its columns spelled ``spelled``, in order) as exactly the catalog's
    ``columns``, each found by its spelling (the k-th of a repeated one for the k-th
    column naming it; else ignoring case) and cast to its type. The columns are renamed
    by position first, so no spelling is ever parsed as an expression."""
    internal = [f"__lm_c{i}" for i in range(len(spelled))]
    frame = frame.toDF(*internal)
    exact: dict[str, list[str]] = {}
    folded: dict[str, str] = {}
    for name, raw in zip(internal, spelled, strict=True):
        exact.setdefault(raw, []).append(name)  # a repeated header: each in turn
        folded.setdefault(raw.lower(), name)
    taken: dict[str, int] = {}
    projected = []
    for column in columns:
        k = taken.get(column.source, 0)
        taken[column.source] = k + 1
        projected.append(_project(column, exact, folded, k))
    return frame.select(*projected)


def _file_state(files: Sequence[str]) -> tuple[tuple[int, int, int], ...] | None:
    """Each file's inode, size and modification time, or None if one cannot be read."""
    try:
        stats = [os.stat(path) for path in files]
    except OSError:
        return None
    return tuple((st.st_ino, st.st_size, st.st_mtime_ns) for st in stats)


def _schema_groups(source: Source) -> list[tuple[pa.Schema | None, list[str]]]:
    """The files by equal schema, in first-seen order (JSON lines: one group, read by
    name in the catalog's types; files of unknown schema: one group)."""
    if source.format == "json" or len(source.file_schemas) != len(source.files):
        return [(None, list(source.files))]
    groups: list[tuple[pa.Schema | None, list[str]]] = []
    for path, schema in zip(source.files, source.file_schemas, strict=True):
        for known, members in groups:
            if known is schema or (known is not None and known.equals(schema)):
                members.append(path)
                break
        else:
            groups.append((schema, [path]))
    return groups


def _group_fields(
    source: Source, schema: pa.Schema | None, partition_keys: set[str]
) -> list[StructField]:
    """The explicit read schema of one group of files, partition columns aside."""
    if schema is None:  # JSON lines (or unknown files): the catalog's columns by name
        return [
            StructField(c.source, _spark_type(c.arrow_type()) or StringType())
            for c in source.columns
            if not c.partition
        ]
    if source.format == "csv":  # positional: every header column, as text
        return [StructField(f"__lm_h{i}", StringType()) for i in range(len(schema))]
    fields = []
    for f in schema:
        if f.name.lower() in partition_keys:
            continue  # the partition value is used, as the crawler catalogues it
        spark = _spark_type(f.type)
        if spark is None:
            raise EngineError(detail=f"no Spark type for file column {f.name!r} of type {f.type}")
        fields.append(StructField(f.name, spark))
    return fields


def _project(
    column: SourceColumn,
    exact: Mapping[str, Sequence[str]],
    folded: Mapping[str, str],
    occurrence: int = 0,
) -> Column:
    """One catalog column from a group's internally named columns (found by the files'
    spelling, the ``occurrence``-th of a repeated header; else ignoring case), cast to
    its type."""
    spelled = exact.get(column.source)
    internal = (
        spelled[min(occurrence, len(spelled) - 1)] if spelled else folded.get(column.source.lower())
    )
    target = column.arrow_type()
    if target is not None and pa.types.is_null(target):
        return F.lit(None).alias(column.name)
    value = F.col(internal) if internal is not None else F.lit(None)
    spark = _spark_type(target) if target is not None else None
    if spark is not None:
        value = value.cast(spark)
    return value.alias(column.name)


_UNSIGNED = {8: ShortType(), 16: IntegerType(), 32: LongType(), 64: DecimalType(20, 0)}


def _spark_type(t: pa.DataType | None) -> DataType | None:
    """The Spark type an Arrow type reads as (unsigned integers as the next wider signed
    type, as Spark reads them from Parquet), or None."""
    if t is None:
        return None
    if pa.types.is_unsigned_integer(t):
        return _UNSIGNED[t.bit_width]
    try:
        return from_arrow_type(t, prefer_timestamp_ntz=True)
    except (TypeError, PySparkException):
        return None


def file_uri(path: str) -> str:
    """``file://`` + an absolute, normalised path: never the default (maybe remote)
    filesystem; and no backslash, which Hadoop would read as a glob escape."""
    if (
        not path.startswith("/")
        or path.startswith("//")
        or posixpath.normpath(path) != path
        or "\\" in path
    ):
        raise EngineError(detail=f"source path refused by the spark engine: {path!r}")
    return "file://" + path


def _partition_base(files: Sequence[str]) -> str:
    """The directory hive partitions are read below: the files' common directory without
    its trailing ``key=value`` levels (Spark reads no partition at or above it)."""
    base = posixpath.commonpath([posixpath.dirname(f) for f in files])
    while base != "/" and _PARTITION_DIR.fullmatch(posixpath.basename(base)):
        base = posixpath.dirname(base)
    return base


# --------------------------------------------------------------------------- lakehouse


def lakehouse_frame(session: SparkSession, source: Source, where: exp.Expr | None) -> DataFrame:
    """An Iceberg/Delta table as an unnamed DataFrame of ``session``, in the catalog's
    columns: its planned data files (``LakehouseScan.plan``: the files ``where`` may
    need, each file's columns by Iceberg field id or Delta name, positional deletes)
    read by Spark itself, on the executors, in bounded memory, with Spark's own column
    pruning and row-group filters on top. A table that cannot be planned so (equality
    deletes, deletion vectors or column mapping, files not on a local disk) is read whole
    on the driver by its library and handed over as Arrow: correct, not bounded.

    Not kept in ``ReadPlans``: which files are read depends on the query's WHERE and on
    the table's current snapshot, and planning them is the scan's own (cheap) metadata
    work."""
    scan = source.lakehouse
    assert scan is not None  # Source checks it
    planner = getattr(scan, "plan", None)
    try:
        plan = planner(where) if planner is not None else None
        if plan is None or (frame := _planned_frame(session, plan, scan.schema)) is None:
            whole = scan.read()
            if source.columns:
                whole = conform(whole, [(c.name, c.source, c.arrow_type()) for c in source.columns])
            schema = from_arrow_schema(whole.schema, prefer_timestamp_ntz=True)
            return session.createDataFrame(whole, schema=schema)
    except (OSError, pa.ArrowException) as e:
        raise EngineError(
            detail=f"{scan.kind} table read failed: {type(e).__name__}: {e}"
        ) from None
    except Exception as e:  # deltalake's and pyiceberg's own errors
        if type(e).__module__.split(".")[0] in ("deltalake", "pyiceberg"):
            raise EngineError(detail=f"{scan.kind} table: {type(e).__name__}: {e}") from None
        raise
    if not source.columns:
        return frame
    return _catalog_columns(frame, scan.schema.names, source.columns)


_FILE, _ROW = "__lm_file", "__lm_row"
_HIGH_ESCAPE = re.compile(r"%[89a-fA-F][0-9a-fA-F]")


def _planned_frame(session: SparkSession, plan: Any, schema: pa.Schema) -> DataFrame | None:
    """The data files of ``plan`` (``lakemesh.query.lakehouse.FilePlan``) as one
    DataFrame in the table's own columns (``schema``, in order) without the rows its
    positional deletes remove; None if a column has no Spark type.

    Each group of files is read with an explicit schema: the group's own spelling of
    each column, in the table's current type (Spark widens older files' narrower types
    as it reads them), a column the group lacks as NULL; partition values (Delta) from
    the ``key=value`` folders as text, for the catalog's cast. Deleted rows are found by
    the file each row was read from and its position there (Spark's ``_metadata``), in
    the spelling Spark gives that file."""
    types = {f.name: f.type for f in schema}
    deleting = plan.deleted is not None and plan.deleted.num_rows > 0
    folders = {
        part
        for group in plan.groups
        for path in group.files
        for part in posixpath.dirname(path).split("/")
        if "=" in part
    }
    # Spark unescapes ``%XX`` in partition folder names one byte to one character: right
    # for ASCII, not for UTF-8 (``%C3%A9`` is é). Folder names in ASCII are made right by
    # reading the characters back as the bytes they stand for; names that mix raw
    # non-ASCII with escaped bytes cannot be, and are read whole instead.
    ascii_folders = all(part.isascii() for part in folders)
    if not ascii_folders and any(_HIGH_ESCAPE.search(part) for part in folders):
        return None
    frames = []
    for group in plan.groups:
        spelled = [(name, file_name) for name, file_name in group.names if file_name is not None]
        fields = []
        partitioned = set()
        for name, file_name in spelled:
            in_folders = plan.hive and file_name in plan.keys
            if in_folders:
                partitioned.add(name)
            spark: DataType | None = StringType() if in_folders else _spark_type(types[name])
            if spark is None:
                return None
            fields.append(StructField(file_name, spark))
        paths = [file_uri(path) for path in group.files]
        reader = session.read.schema(StructType(fields))
        if plan.hive:
            reader = reader.option("basePath", file_uri(_partition_base(group.files)))
        read = reader.parquet(*paths)
        # Spark puts partition columns after the files' own: each is found by its name.
        order = read.columns
        exact = {n: i for i, n in enumerate(order)}
        folded = {n.lower(): i for i, n in enumerate(order)}
        extra = [F.col("_metadata.file_path"), F.col("_metadata.row_index")] if deleting else []
        inner = [f"__lm_g{i}" for i in range(len(order))]
        read = read.select("*", *extra).toDF(*inner, *([_FILE, _ROW] if deleting else []))
        position = {}
        for name, file_name in spelled:
            at = exact.get(file_name, folded.get(file_name.lower()))
            if at is None:
                raise EngineError(detail=f"column {file_name!r} missing from the planned read")
            position[name] = inner[at]
        columns = []
        for f in schema:
            value = F.col(position[f.name]) if f.name in position else F.lit(None)
            if f.name in partitioned and ascii_folders:
                value = F.decode(F.encode(value, "ISO-8859-1"), "UTF-8")
            target = _spark_type(f.type)
            columns.append((value if target is None else value.cast(target)).alias(f.name))
        if deleting:
            columns += [F.col(_FILE), F.col(_ROW)]
        frames.append(read.select(*columns))
    if not frames:
        raise EngineError(detail="a lakehouse plan without data files")
    frame = frames[0]
    for other in frames[1:]:
        frame = frame.union(other)  # same columns, same order, same types
    if not deleting:
        return frame
    deleted = plan.deleted
    spelled_as = _spark_paths(session, pc.unique(deleted.column("file_path")).to_pylist())
    removes = [spelled_as.get(p) for p in deleted.column("file_path").to_pylist()]
    gone = pa.table({_FILE: pa.array(removes, pa.string()), _ROW: deleted.column("pos")})
    removed = session.createDataFrame(gone.filter(pc.is_valid(gone.column(_FILE))))
    kept = frame.join(removed, on=[_FILE, _ROW], how="left_anti")
    return kept.drop(_FILE, _ROW)


def _spark_paths(session: SparkSession, paths: Sequence[str]) -> dict[str, str]:
    """Each local path as Spark's ``_metadata.file_path`` spells it: the file's URI as
    Java gives it (``file:/a%20b/c%23d.parquet``; checked by the tests with spaces, ``%``,
    ``#``, ``+`` and non-ASCII names)."""
    jvm: Any = session.sparkContext._jvm
    return {path: str(jvm.java.io.File(path).toURI().toString()) for path in paths}
