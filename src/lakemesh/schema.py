"""Table schemas: one canonical form for every source, widening, and version diffs.

Column types are kept as Arrow type strings (``int64``, ``timestamp[us, tz=UTC]``,
``list<item: string>``) because every source we read (Parquet, CSV, JSON, Iceberg, Delta)
converts to Arrow exactly, and the string round-trips for storage and display.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Literal

import pyarrow as pa

from lakemesh.errors import InvalidInput, SchemaConflict
from lakemesh.typedef import Frozen, is_object_name


class Column(Frozen):
    name: str
    type: str
    nullable: bool = True
    description: str | None = None
    #: True for a Hive-style partition column (a path segment, not a file column).
    partition: bool = False
    #: The name as the files spell it, when that is not a valid column name and ``name``
    #: is its normalised form (``"Entry ID"`` -> ``entry_id``); queries read this one.
    source_name: str | None = None


class Schema(Frozen):
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def partition_keys(self) -> list[str]:
        return [c.name for c in self.columns if c.partition]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def fingerprint(self) -> str:
        """Stable hash of what readers depend on (names, types, nullability, partitioning)."""
        body = [[c.name, c.type, c.nullable, c.partition] for c in self.columns]
        return hashlib.sha256(json.dumps(body).encode()).hexdigest()[:32]

    def to_json(self) -> str:
        return json.dumps([c.model_dump(exclude_defaults=True) for c in self.columns])

    @classmethod
    def from_json(cls, text: str) -> Schema:
        return cls(columns=tuple(Column(**c) for c in json.loads(text)))


def from_arrow(
    schema: pa.Schema, partition_keys: Sequence[str] = (), *, lower: bool = True
) -> Schema:
    """Convert an Arrow schema; names are lower-cased (the central catalog's convention)."""
    columns: list[Column] = []
    seen: set[str] = set()
    for field in schema:
        name = field.name.lower() if lower else field.name
        if not is_object_name(name):
            raise InvalidInput(f"invalid column name {field.name!r}")
        if name in seen:
            raise InvalidInput(f"duplicate column name {name!r} (names are case-insensitive)")
        seen.add(name)
        columns.append(
            Column(
                name=name,
                type=str(canonical(field.type)),
                nullable=field.nullable,
                description=description_of(field.metadata),
                partition=name in partition_keys,
            )
        )
    return Schema(columns=tuple(columns))


def canonical(t: pa.DataType) -> pa.DataType:
    """One spelling per logical type: pyiceberg reads strings as ``large_string`` where
    Parquet and Delta say ``string``; the catalog should not see a change in that."""
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_large_list(t) or pa.types.is_list(t):
        return pa.list_(canonical(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(canonical(f.type)) for f in t])
    if pa.types.is_map(t):
        return pa.map_(canonical(t.key_type), canonical(t.item_type))
    if pa.types.is_dictionary(t):
        return canonical(t.value_type)
    return t


def description_of(metadata: dict[bytes, bytes] | None) -> str | None:
    """Business metadata a producer wrote into the file (Parquet/Arrow key ``description``,
    or ``comment`` as Hive and Spark write it)."""
    if not metadata:
        return None
    raw = metadata.get(b"description") or metadata.get(b"comment")
    return raw.decode("utf-8", errors="replace")[:4000] if raw else None


# --------------------------------------------------------------------------- widening


def widen(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The narrowest type both ``a`` and ``b`` fit in, or ``SchemaConflict``.

    The lattice is the one Glue and Spark's schema merge use: null < anything; integers
    widen to the larger signed width; integers and floats meet in float64; date and
    timestamps meet in the finest timestamp; dictionaries decay to their values; any
    scalar meets a string in string; lists and structs merge element/field-wise.
    """
    if a.equals(b):
        return a
    t = pa.types
    if t.is_null(a):
        return b
    if t.is_null(b):
        return a
    if t.is_dictionary(a):
        return widen(a.value_type, b)
    if t.is_dictionary(b):
        return widen(a, b.value_type)
    if t.is_integer(a) and t.is_integer(b):
        if t.is_unsigned_integer(a) and t.is_unsigned_integer(b):
            return max(a, b, key=lambda x: x.bit_width)
        width = max(_signed_width(a), _signed_width(b))
        return pa.int64() if width > 32 else {8: pa.int8(), 16: pa.int16(), 32: pa.int32()}[width]
    if (t.is_integer(a) or t.is_floating(a)) and (t.is_integer(b) or t.is_floating(b)):
        return pa.float64()
    if t.is_decimal(a) and t.is_decimal(b):
        scale = max(a.scale, b.scale)
        digits = max(a.precision - a.scale, b.precision - b.scale)
        if digits + scale > 38:
            return pa.float64()
        return pa.decimal128(digits + scale, scale)
    if _is_temporal(a) and _is_temporal(b):
        unit_rank = {"s": 0, "ms": 1, "us": 2, "ns": 3}
        units = [x.unit for x in (a, b) if t.is_timestamp(x)] or ["us"]
        tzs = {x.tz for x in (a, b) if t.is_timestamp(x)}
        return pa.timestamp(max(units, key=unit_rank.__getitem__), tz=_one_tz(tzs))
    if _is_stringy(a) or _is_stringy(b):
        if _is_nested(a) or _is_nested(b):
            raise SchemaConflict(f"cannot merge {a} with {b}")
        return pa.string()
    if (t.is_list(a) and t.is_list(b)) or (t.is_large_list(a) and t.is_large_list(b)):
        return pa.list_(widen(a.value_type, b.value_type))
    if t.is_struct(a) and t.is_struct(b):
        return pa.struct(merge_fields(list(a), list(b)))
    if t.is_boolean(a) and t.is_boolean(b):
        return a
    raise SchemaConflict(f"cannot merge {a} with {b}")


def merge_fields(left: Iterable[pa.Field], right: Iterable[pa.Field]) -> list[pa.Field]:
    """Union of fields by name, keeping first-seen order; shared names are widened."""
    merged: dict[str, pa.Field] = {f.name: f for f in left}
    for f in right:
        old = merged.get(f.name)
        if old is None:
            merged[f.name] = f.with_nullable(True)
        else:
            merged[f.name] = pa.field(
                f.name,
                widen(old.type, f.type),
                nullable=old.nullable or f.nullable,
                metadata=old.metadata or f.metadata,
            )
    return list(merged.values())


def merge_schemas(a: pa.Schema, b: pa.Schema) -> pa.Schema:
    return pa.schema(merge_fields(list(a), list(b)), metadata=a.metadata or b.metadata)


def _signed_width(x: pa.DataType) -> int:
    return int(x.bit_width * 2 if pa.types.is_unsigned_integer(x) else x.bit_width)


def _is_temporal(x: pa.DataType) -> bool:
    return bool(pa.types.is_timestamp(x) or pa.types.is_date(x))


def _is_stringy(x: pa.DataType) -> bool:
    return bool(pa.types.is_string(x) or pa.types.is_large_string(x))


def _is_nested(x: pa.DataType) -> bool:
    return bool(pa.types.is_nested(x))


def _one_tz(tzs: set[str | None]) -> str | None:
    tzs.discard(None)
    if len(tzs) > 1:
        return "UTC"
    return next(iter(tzs), None)


# --------------------------------------------------------------------------- diffs

ChangeKind = Literal[
    "column_added", "column_removed", "type_changed", "nullability_changed", "partitioning_changed"
]


class SchemaChange(Frozen):
    kind: ChangeKind
    column: str | None = None
    old: str | None = None
    new: str | None = None
    breaking: bool


def diff(old: Schema, new: Schema) -> list[SchemaChange]:
    """What changed between two versions, each change flagged breaking or not.

    Breaking means an existing reader can fail or read wrong values: a column removed, a
    type changed other than by widening, a nullable column made required, or the
    partition keys changed. Adding a nullable column and widening a type are safe.
    """
    changes: list[SchemaChange] = []
    new_by_name = {c.name: c for c in new.columns}
    old_by_name = {c.name: c for c in old.columns}
    for col in old.columns:
        now_col = new_by_name.get(col.name)
        if now_col is None:
            changes.append(
                SchemaChange(kind="column_removed", column=col.name, old=col.type, breaking=True)
            )
            continue
        if now_col.type != col.type:
            changes.append(
                SchemaChange(
                    kind="type_changed",
                    column=col.name,
                    old=col.type,
                    new=now_col.type,
                    breaking=not is_widening(col.type, now_col.type),
                )
            )
        if now_col.nullable != col.nullable:
            changes.append(
                SchemaChange(
                    kind="nullability_changed",
                    column=col.name,
                    old="nullable" if col.nullable else "required",
                    new="nullable" if now_col.nullable else "required",
                    breaking=not now_col.nullable,
                )
            )
    for col in new.columns:
        if col.name not in old_by_name:
            changes.append(
                SchemaChange(
                    kind="column_added", column=col.name, new=col.type, breaking=not col.nullable
                )
            )
    if old.partition_keys != new.partition_keys:
        changes.append(
            SchemaChange(
                kind="partitioning_changed",
                old=",".join(old.partition_keys),
                new=",".join(new.partition_keys),
                breaking=True,
            )
        )
    return changes


def is_widening(old_type: str, new_type: str) -> bool:
    """True when every value of ``old_type`` is representable unchanged in ``new_type``."""
    try:
        old, new = type_from_string(old_type), type_from_string(new_type)
    except InvalidInput:
        return False
    if old.equals(new):
        return True
    if pa.types.is_string(new) or pa.types.is_large_string(new):
        return False  # values survive but as text: readers of numbers break
    try:
        return bool(widen(old, new).equals(new))
    except SchemaConflict:
        return False


_SIMPLE_TYPES: dict[str, pa.DataType] = {
    str(t): t
    for t in (
        pa.null(),
        pa.bool_(),
        pa.int8(),
        pa.int16(),
        pa.int32(),
        pa.int64(),
        pa.uint8(),
        pa.uint16(),
        pa.uint32(),
        pa.uint64(),
        pa.float16(),
        pa.float32(),
        pa.float64(),
        pa.string(),
        pa.large_string(),
        pa.binary(),
        pa.large_binary(),
        pa.date32(),
        pa.date64(),
        pa.string_view(),
        pa.binary_view(),
    )
}


def type_from_string(text: str) -> pa.DataType:
    """Parse the scalar Arrow type strings we store; nested types only compare as text."""
    if text in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[text]
    if text.startswith("timestamp[") and text.endswith("]"):
        inner = text[len("timestamp[") : -1]
        unit, _, tz = inner.partition(", tz=")
        return pa.timestamp(unit, tz=tz or None)
    if text.startswith("decimal128(") and text.endswith(")"):
        precision, scale = text[len("decimal128(") : -1].split(",")
        return pa.decimal128(int(precision), int(scale))
    raise InvalidInput(f"unsupported type text {text!r}")
