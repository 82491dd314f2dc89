"""A result as a file: a JSON array of row objects, CSV or Parquet. JSON is every value's
JSON text; CSV and Parquet keep the columns they store faithfully and write the others
as plain text.

Each format comes twice: ``to_<format>(table)`` for a whole table, and
``write_<format>(batches, schema, sink)`` for a result read batch by batch, written as it
arrives (``lakemesh query --output``): the same text, except that CSV decides per batch
whether a floating-point column is written as numbers (a batch holding NaN or an
infinity spells them out as text, like a table holding one), and Parquet decides its
columns' types on the first batch (a later value Parquet cannot hold fails the write).
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Iterable
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc

from lakemesh.query.output.arrays import as_list, filled, text_scalar
from lakemesh.query.output.names import unique_names, with_unique_names
from lakemesh.query.output.values import json_text, text_column


def to_json(table: pa.Table) -> str:
    """A JSON array of row objects, then a newline; spaced like ``json.dumps``."""
    table = with_unique_names(table)
    keys = [json.dumps(name, ensure_ascii=False) + ": " for name in table.column_names]
    batches = [_json_rows(batch, keys) for batch in table.to_batches() if batch.num_rows]
    return "[" + ", ".join(batches) + "]\n"


def write_json(batches: Iterable[pa.RecordBatch], schema: pa.Schema, sink: IO[bytes]) -> int:
    """``to_json`` of the batches, written as they come; returns the row count."""
    names = unique_names(schema.names)
    keys = [json.dumps(name, ensure_ascii=False) + ": " for name in names]
    sink.write(b"[")
    rows = 0
    for batch in batches:
        if batch.num_rows:
            sink.write(((", " if rows else "") + _json_rows(batch, keys)).encode())
            rows += batch.num_rows
    sink.write(b"]\n")
    return rows


def write_csv(batches: Iterable[pa.RecordBatch], schema: pa.Schema, sink: IO[bytes]) -> int:
    """``to_csv`` of the batches, written as they come; returns the row count."""
    names = unique_names(schema.names)
    rows = 0
    for batch in batches:
        if batch.num_rows:
            table = pa.Table.from_batches([batch]).rename_columns(names)
            sink.write(_csv(table, header=not rows))
            rows += batch.num_rows
    if not rows:
        sink.write(_csv(schema.empty_table().rename_columns(names), header=True))
    return rows


def write_parquet(batches: Iterable[pa.RecordBatch], schema: pa.Schema, sink: IO[bytes]) -> int:
    """``to_parquet`` of the batches, written as they come; returns the row count."""
    import pyarrow.parquet as pq

    names = unique_names(schema.names)
    as_text = {i for i, field in enumerate(schema) if not _parquet_stores(field.type)}
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for batch in batches:
            table = _text_columns(pa.Table.from_batches([batch]), as_text, names)
            if writer is None:  # the first batch settles the file's schema
                try:
                    writer = _first_write(table, sink)
                except (pa.ArrowException, OSError):
                    as_text |= {
                        i for i, column in enumerate(table.columns) if not _parquet_holds(column)
                    }
                    table = _text_columns(pa.Table.from_batches([batch]), as_text, names)
                    writer = _first_write(table, sink)
            else:
                writer.write_table(table)
            rows += batch.num_rows
        if writer is None:
            empty = _text_columns(schema.empty_table(), as_text, names)
            writer = _first_write(empty, sink)
    finally:
        if writer is not None:
            writer.close()
    return rows


def _first_write(table: pa.Table, sink: IO[bytes]) -> Any:
    """A writer for ``table``'s schema holding ``table``; a value Parquet cannot hold
    fails the trial write, before anything reaches ``sink``."""
    import pyarrow.parquet as pq

    pq.write_table(table, pa.BufferOutputStream())
    writer = pq.ParquetWriter(sink, table.schema)
    writer.write_table(table)
    return writer


def _text_columns(table: pa.Table, as_text: set[int], names: list[str]) -> pa.Table:
    columns = [text_column(c) if i in as_text else c for i, c in enumerate(table.columns)]
    return pa.table(columns, names=names)


def to_csv(table: pa.Table) -> bytes:
    """CSV with a header. Integers, booleans, strings, decimals and all-finite
    floats are written by pyarrow (so numbers stay unquoted); every other column as its
    plain text (pyarrow fails on nested values, writes binary raw, NaN as ``nan`` and
    timestamps with a space). NULL is an empty cell, an empty string a quoted one (so a
    row of one NULL is an empty line, which some readers skip)."""
    return _csv(with_unique_names(table), header=True)


def _csv(table: pa.Table, *, header: bool) -> bytes:
    columns = [column if _csv_native(column) else text_column(column) for column in table.columns]
    import pyarrow.csv as pacsv  # here: most results are never written as CSV

    sink = io.BytesIO()
    options = pacsv.WriteOptions(include_header=header)
    pacsv.write_csv(pa.table(columns, names=table.column_names), sink, write_options=options)
    return sink.getvalue()


def to_parquet(table: pa.Table) -> bytes:
    """Parquet; a column whose type Parquet cannot store becomes its plain text. Durations
    count as such: pyarrow would store a bare int64 whose unit only Arrow readers see. So
    does a column with a value Parquet cannot hold (seconds far beyond the milliseconds
    pyarrow converts them to)."""
    table = with_unique_names(table)
    columns = [
        column if _parquet_stores(column.type) else text_column(column) for column in table.columns
    ]
    try:
        return _parquet_bytes(pa.table(columns, names=table.column_names))
    except (pa.ArrowException, OSError):
        columns = [column if _parquet_holds(column) else text_column(column) for column in columns]
        return _parquet_bytes(pa.table(columns, names=table.column_names))


def _json_rows(batch: pa.RecordBatch, keys: list[str]) -> str:
    """The rows of one batch as JSON objects joined by ``", "``, assembled by Arrow."""
    if not keys:
        return ", ".join(["{}"] * batch.num_rows)
    parts: list[Any] = []
    for i, (key, column) in enumerate(zip(keys, batch.columns, strict=True)):
        parts += [text_scalar(("{" if i == 0 else ", ") + key), filled(json_text(column))]
    rows = pc.binary_join_element_wise(*parts, text_scalar("}"), text_scalar(""))
    return str(pc.binary_join(as_list(rows), text_scalar(", "))[0].as_py())


def _csv_native(column: pa.ChunkedArray) -> bool:
    t = column.type
    if pa.types.is_floating(t) and not pa.types.is_float16(t):
        return bool(pc.all(pc.is_finite(column)).as_py() is not False)
    if pa.types.is_decimal(t):
        return bool(0 <= t.scale <= t.precision)  # else Arrow's text is a placeholder
    return bool(
        pa.types.is_integer(t)
        or pa.types.is_boolean(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
    )


@functools.cache
def _parquet_stores(type_: pa.DataType) -> bool:
    """Whether pyarrow writes ``type_`` to Parquet, found by trying its schema (unions,
    intervals, empty structs and decimals with a negative scale fail, among others)."""
    import pyarrow.parquet as pq

    if _has_duration(type_):
        return False
    try:
        pq.ParquetWriter(pa.BufferOutputStream(), pa.schema([pa.field("c", type_)])).close()
    except (pa.ArrowException, OSError):
        return False
    return True


def _parquet_holds(column: pa.ChunkedArray) -> bool:
    try:
        _parquet_bytes(pa.table({"c": column}))
    except (pa.ArrowException, OSError):
        return False
    return True


def _parquet_bytes(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


def _has_duration(type_: pa.DataType) -> bool:
    if pa.types.is_duration(type_):
        return True
    if pa.types.is_dictionary(type_):
        return _has_duration(type_.value_type)
    if isinstance(type_, pa.BaseExtensionType):
        return _has_duration(type_.storage_type)
    return any(_has_duration(type_.field(i).type) for i in range(type_.num_fields))
