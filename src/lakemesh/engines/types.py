"""Catalog column types as Arrow types and as each engine spells them.

The catalog keeps a column's type as Arrow's own type text (``schema.py``); a governed
scan casts every column to it, so the text must become a type again, nested types
included (``struct<b: string, a: int64>``, ``list<item: double>``, ``map<string,
int64>``). A text that does not round-trip exactly is refused (``InvalidInput``): the
scan then reads that column as the files have it rather than guess.
"""

from __future__ import annotations

import pyarrow as pa
from sqlglot import exp

from lakemesh.errors import InvalidInput
from lakemesh.schema import type_from_string

_NOT_NULL = " not null"


def arrow_type(text: str) -> pa.DataType:
    """The Arrow type the catalog type ``text`` names."""
    try:
        parsed, rest = _parse(text)
    except (InvalidInput, ValueError, TypeError, pa.ArrowException) as e:
        raise InvalidInput(f"unsupported type text {text!r}") from e
    if rest or str(parsed) != text:
        raise InvalidInput(f"unsupported type text {text!r}")
    return parsed


def _parse(s: str) -> tuple[pa.DataType, str]:
    """One type from the start of ``s`` and what follows it."""
    for prefix, make in (("list<", pa.list_), ("large_list<", pa.large_list)):
        if s.startswith(prefix):
            name, _, s = s[len(prefix) :].partition(": ")
            inner, nullable, s = _field_type(s)
            return make(pa.field(name, inner, nullable)), _expect(s, ">")
    if s.startswith("struct<"):
        s = s[len("struct<") :]
        fields: list[pa.Field] = []
        while not s.startswith(">"):
            name, sep, s = s.partition(": ")
            if not sep:
                raise InvalidInput("struct field without a type")
            inner, nullable, s = _field_type(s)
            fields.append(pa.field(name, inner, nullable))
            if s.startswith(", "):
                s = s[2:]
        return pa.struct(fields), s[1:]
    if s.startswith("map<"):
        key, s = _parse(s[len("map<") :])
        item, s = _parse(_expect(s, ", "))
        keys_sorted = s.startswith(", keys_sorted")
        if keys_sorted:
            s = s[len(", keys_sorted") :]
        return pa.map_(key, item, keys_sorted=keys_sorted), _expect(s, ">")
    end = _scalar_end(s)
    return _scalar(s[:end]), s[end:]


def _field_type(s: str) -> tuple[pa.DataType, bool, str]:
    inner, s = _parse(s)
    if s.startswith(_NOT_NULL):
        return inner, False, s[len(_NOT_NULL) :]
    return inner, True, s


def _expect(s: str, token: str) -> str:
    if not s.startswith(token):
        raise InvalidInput(f"expected {token!r}")
    return s[len(token) :]


def _scalar_end(s: str) -> int:
    """Where a scalar type's text ends: at a top-level ``,``/``>``/`` not null`` or the end
    (``timestamp[us, tz=UTC]`` and ``decimal128(10, 2)`` hold commas in brackets)."""
    depth = 0
    for i, ch in enumerate(s):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif depth == 0 and (ch in ",>" or s.startswith(_NOT_NULL, i)):
            return i
    return len(s)


def _scalar(text: str) -> pa.DataType:
    for prefix, make in (
        ("time32[", pa.time32),
        ("time64[", pa.time64),
        ("duration[", pa.duration),
    ):
        if text.startswith(prefix) and text.endswith("]"):
            return make(text[len(prefix) : -1])
    if text.startswith("fixed_size_binary[") and text.endswith("]"):
        return pa.binary(int(text[len("fixed_size_binary[") : -1]))
    if text == "halffloat":
        return pa.float16()
    return type_from_string(text)


# --------------------------------------------------------------------------- DuckDB

_DUCKDB_SCALARS: dict[pa.DataType, exp.DType] = {
    pa.bool_(): exp.DataType.Type.BOOLEAN,
    pa.int8(): exp.DataType.Type.TINYINT,
    pa.int16(): exp.DataType.Type.SMALLINT,
    pa.int32(): exp.DataType.Type.INT,
    pa.int64(): exp.DataType.Type.BIGINT,
    pa.uint8(): exp.DataType.Type.UTINYINT,
    pa.uint16(): exp.DataType.Type.USMALLINT,
    pa.uint32(): exp.DataType.Type.UINT,
    pa.uint64(): exp.DataType.Type.UBIGINT,
    pa.float16(): exp.DataType.Type.FLOAT,
    pa.float32(): exp.DataType.Type.FLOAT,
    pa.float64(): exp.DataType.Type.DOUBLE,
    pa.string(): exp.DataType.Type.TEXT,
    pa.large_string(): exp.DataType.Type.TEXT,
    pa.string_view(): exp.DataType.Type.TEXT,
    pa.binary(): exp.DataType.Type.VARBINARY,
    pa.large_binary(): exp.DataType.Type.VARBINARY,
    pa.binary_view(): exp.DataType.Type.VARBINARY,
    pa.date32(): exp.DataType.Type.DATE,
    pa.date64(): exp.DataType.Type.DATE,
}
_DUCKDB_TIMESTAMPS: dict[str, exp.DType] = {
    "s": exp.DataType.Type.TIMESTAMP_S,
    "ms": exp.DataType.Type.TIMESTAMP_MS,
    "us": exp.DataType.Type.TIMESTAMP,
    "ns": exp.DataType.Type.TIMESTAMP_NS,
}


def duckdb_type(t: pa.DataType) -> exp.DataType:
    """The DuckDB type an Arrow type reads as, as a sqlglot AST (``InvalidInput`` for a
    type DuckDB has no spelling for)."""
    scalar = _DUCKDB_SCALARS.get(t)
    if scalar is not None:
        return exp.DataType(this=scalar, nested=False)
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            return exp.DataType(this=exp.DataType.Type.TIMESTAMPTZ, nested=False)
        return exp.DataType(this=_DUCKDB_TIMESTAMPS[t.unit], nested=False)
    if pa.types.is_decimal(t) and t.precision <= 38:
        params = [exp.DataTypeParam(this=exp.Literal.number(n)) for n in (t.precision, t.scale)]
        return exp.DataType(this=exp.DataType.Type.DECIMAL, expressions=params, nested=False)
    if pa.types.is_time(t):
        return exp.DataType(this=exp.DataType.Type.TIME, nested=False)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return exp.DataType(
            this=exp.DataType.Type.ARRAY, expressions=[duckdb_type(t.value_type)], nested=True
        )
    if pa.types.is_struct(t):
        fields = [
            exp.ColumnDef(this=exp.to_identifier(f.name, quoted=True), kind=duckdb_type(f.type))
            for f in t
        ]
        return exp.DataType(this=exp.DataType.Type.STRUCT, expressions=fields, nested=True)
    if pa.types.is_map(t):
        return exp.DataType(
            this=exp.DataType.Type.MAP,
            expressions=[duckdb_type(t.key_type), duckdb_type(t.item_type)],
            nested=True,
        )
    raise InvalidInput(f"no DuckDB type for {t}")


# --------------------------------------------------------------------------- Arrow


def conform(table: pa.Table, columns: list[tuple[str, str, pa.DataType | None]]) -> pa.Table:
    """``table`` as exactly ``columns`` (catalog name, the files' name, catalog type), in
    that order: each found by its files' name (exactly, else ignoring case), cast to its
    type (structs by field name); one the table lacks is all NULL."""
    by_lower: dict[str, int] = {}
    for i, name in enumerate(table.column_names):
        by_lower.setdefault(name.lower(), i)
    arrays: list[pa.ChunkedArray | pa.Array] = []
    fields: list[pa.Field] = []
    for name, source, target in columns:
        index = (
            table.column_names.index(source)
            if source in table.column_names
            else by_lower.get(source.lower())
        )
        if index is None:
            kind = target if target is not None else pa.null()
            arrays.append(pa.nulls(table.num_rows, kind))
            fields.append(pa.field(name, kind))
            continue
        column = table.column(index)
        if target is not None and pa.types.is_null(target):
            column = pa.nulls(table.num_rows, target)
        elif target is not None and not column.type.equals(target):
            column = column.cast(target)
        arrays.append(column)
        fields.append(pa.field(name, column.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
