"""The Spark engine's read side: a relation's source as a DataFrame, exactly its files,
in exactly the catalog's columns and types.

Spark reads whatever path it is given, on whatever filesystem is its default, so only
``file://`` URIs of exactly the source's files reach it (``file_uri``). Spark's own
schema merging would not match the catalog (no widening by name, JSON struct fields out
of order), so catalogued files are read group by group with explicit schemas
(``_read_as_catalog``); a source without catalogued columns is read as Spark infers it,
the schema remembered per exact file set, since inference is a Spark job of its own.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Mapping, Sequence

import pyarrow as pa
from pyspark.errors import PySparkException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
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


def read_source(session: SparkSession, source: Source) -> DataFrame:
    """``source`` as an unnamed DataFrame: an Arrow table as it is, files as the catalog
    sees them, or (no catalogued columns) as Spark infers them."""
    if source.arrow is not None:
        # Naive Arrow timestamps stay naive (TIMESTAMP_NTZ), as Parquet's are read here
        # and as DuckDB reads both; PySpark's default would pin them to the session zone.
        schema = from_arrow_schema(source.arrow.schema, prefer_timestamp_ntz=True)
        return session.createDataFrame(source.arrow, schema=schema)
    if source.columns:
        return _read_as_catalog(session, source)
    paths = [file_uri(path) for path in source.files]
    reader = session.read
    if source.hive_partitioning:
        reader = reader.option("basePath", file_uri(_partition_base(source.files)))
    key = _schema_key(source)
    known = _SCHEMAS.get(key) if key is not None else None
    if known is not None:
        reader = reader.schema(StructType.fromJson(json.loads(known)))
    if source.format == "parquet":
        frame = reader.parquet(*paths)
    # FAILFAST: a malformed record fails the query (as on DuckDB), never a half-NULL row.
    elif source.format == "csv":
        frame = reader.csv(paths, header=True, inferSchema=known is None, mode="FAILFAST")
    else:
        frame = reader.json(paths, mode="FAILFAST")
    if key is not None and known is None:
        if len(_SCHEMAS) >= _SCHEMAS_MAX:
            _SCHEMAS.pop(next(iter(_SCHEMAS)))
        _SCHEMAS[key] = frame.schema.json()
    return frame


def _read_as_catalog(session: SparkSession, source: Source) -> DataFrame:
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
    base = session.read
    if source.hive_partitioning:
        base = base.option("basePath", file_uri(_partition_base(source.files)))
    keys = {c.source.lower() for c in source.columns if c.partition}
    partition_fields = (
        [StructField(c.source, StringType()) for c in source.columns if c.partition]
        if source.hive_partitioning
        else []
    )
    frames = []
    for schema, files in _schema_groups(source):
        fields = _group_fields(source, schema, keys) + partition_fields
        spelled = [f.name for f in fields]
        if source.format == "csv":  # positional, and Spark refuses `Name` beside `name`
            spelled = [*schema.names, *spelled[len(schema) :]] if schema else spelled
        paths = [file_uri(path) for path in files]
        reader = base.schema(StructType(fields))
        if source.format == "parquet":
            frame = reader.parquet(*paths)
        elif source.format == "csv":
            frame = reader.csv(paths, header=True, mode="FAILFAST")
        else:
            frame = reader.json(paths, mode="FAILFAST")
        internal = [f"__lm_c{i}" for i in range(len(fields))]
        frame = frame.toDF(*internal)
        exact: dict[str, str] = {}
        folded: dict[str, str] = {}
        for name, raw in zip(internal, spelled, strict=True):
            exact.setdefault(raw, name)
            folded.setdefault(raw.lower(), name)
        frames.append(frame.select(*[_project(c, exact, folded) for c in source.columns]))
    governed = frames[0]
    for frame in frames[1:]:
        governed = governed.union(frame)  # same columns, same order, same types
    return governed


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


def _project(column: SourceColumn, exact: Mapping[str, str], folded: Mapping[str, str]) -> Column:
    """One catalog column from a group's internally named columns (found by the files'
    spelling, else ignoring case), cast to its type."""
    internal = exact.get(column.source) or folded.get(column.source.lower())
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


#: Inferred schemas by exact file set: inference is a Spark job of its own (for CSV, a
#: pass over the data), and the same files give the same schema. A file that changes
#: (size, modification time or inode) gives a new key, so it is inferred again.
_SCHEMAS: dict[tuple[object, ...], str] = {}
_SCHEMAS_MAX = 256


def _schema_key(source: Source) -> tuple[object, ...] | None:
    try:
        stats = tuple(os.stat(path) for path in source.files)
    except OSError:
        return None  # let the read itself fail, with Spark's own message
    return (
        source.format,
        source.hive_partitioning,
        source.files,
        tuple((st.st_ino, st.st_size, st.st_mtime_ns) for st in stats),
    )


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
