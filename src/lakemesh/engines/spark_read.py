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

from lakemesh.engines import EngineError, Source, SourceColumn

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
            internal = [f"__lm_c{i}" for i in range(len(spelled))]
            frame = frame.toDF(*internal)
            exact: dict[str, list[str]] = {}
            folded: dict[str, str] = {}
            for name, raw in zip(internal, spelled, strict=True):
                exact.setdefault(raw, []).append(name)  # a repeated header: each in turn
                folded.setdefault(raw.lower(), name)
            taken: dict[str, int] = {}
            projected = []
            for column in source.columns:
                k = taken.get(column.source, 0)
                taken[column.source] = k + 1
                projected.append(_project(column, exact, folded, k))
            frames.append(frame.select(*projected))
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
