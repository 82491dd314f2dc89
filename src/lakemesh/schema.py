"""Table schemas: one canonical form for every source, widening, and version diffs.

Column types are kept as Arrow type strings (``int64``, ``timestamp[us, tz=UTC]``,
``list<item: string>``) because every source we read (Parquet, CSV, JSON, Iceberg, Delta)
converts to Arrow exactly, and the string round-trips for storage and display.

Column names are the central catalog's lower-case identifiers (``typedef.OBJECT_NAME``);
a name the files spell otherwise is normalised (``column_names``) and the file's spelling
kept as ``Column.source_name``.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
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

    def by_source(self, raw: str) -> Column | None:
        """The column the files call ``raw``: exactly, else ignoring case (how engines
        resolve a name the catalog only lower-cased)."""
        spelled = [(c.source_name or c.name, c) for c in self.columns]
        hit = next((c for s, c in spelled if s == raw), None)
        return hit or next((c for s, c in spelled if s.lower() == raw.lower()), None)

    def fingerprint(self) -> str:
        """Stable hash of what readers depend on (names, types, nullability, partitioning,
        and the file spelling where it differs: a schema without one hashes as before)."""
        body = [
            [c.name, c.type, c.nullable, c.partition]
            + ([c.source_name] if c.source_name is not None else [])
            for c in self.columns
        ]
        return hashlib.sha256(json.dumps(body).encode()).hexdigest()[:32]

    def to_json(self) -> str:
        return json.dumps([c.model_dump(exclude_defaults=True) for c in self.columns])

    @classmethod
    def from_json(cls, text: str) -> Schema:
        return cls(columns=tuple(Column(**c) for c in json.loads(text)))


def from_arrow(schema: pa.Schema, partition_keys: Sequence[str] = ()) -> Schema:
    """Convert an Arrow schema. Names are normalised by ``column_names`` (never refused);
    ``partition_keys`` are matched against the files' spelling, ignoring case."""
    raws = [field.name for field in schema]
    keys = {k.lower() for k in partition_keys}
    columns: list[Column] = []
    for field, name in zip(schema, column_names(raws), strict=True):
        columns.append(
            Column(
                name=name,
                type=str(canonical(field.type)),
                nullable=field.nullable,
                description=description_of(field.metadata),
                partition=field.name.lower() in keys or name in keys,
                source_name=None if _only_case(field.name, name) else field.name,
            )
        )
    return Schema(columns=tuple(columns))


# --------------------------------------------------------------------------- names

MAX_NAME = 128
#: Prefix of a normalised name that would start with a digit (``2024 total`` ->
#: ``c_2024_total``): valid under ``OBJECT_NAME``, and unlike a bare ``_`` it cannot run
#: into a prefix the mesh reserves for itself (``__lm_``).
DIGIT_PREFIX = "c_"
#: Letters that Unicode decomposition (NFKD) does not take apart into an ASCII letter and
#: marks, spelled as their usual Latin transliteration.
_FOLD = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "ss",
        "æ": "ae",
        "Æ": "ae",
        "œ": "oe",
        "Œ": "oe",
        "ø": "o",
        "Ø": "o",
        "đ": "d",
        "Đ": "d",
        "ð": "d",
        "Ð": "d",
        "þ": "th",
        "Þ": "th",
        "ł": "l",
        "Ł": "l",
        "ı": "i",
    }
)
_SEPARATORS = re.compile(r"[^a-z0-9]+")


def normal_name(raw: str, position: int = 1) -> str:
    """``raw`` as a valid column name (``typedef.OBJECT_NAME``), deterministically.

    A name that is valid once lower-cased is only lower-cased (``OrderID`` -> ``orderid``),
    as the catalog has always done. Any other name is folded to ASCII and snake-cased:

    - letters from the ``_FOLD`` table are transliterated (``ß`` -> ``ss``, ``æ`` -> ``ae``,
      ``ø`` -> ``o``), then Unicode NFKD splits accented letters into letter and mark and
      the marks are dropped (``größe`` -> ``grosse``, ``café`` -> ``cafe``; no German
      ``oe``: one rule for every language);
    - every run of anything else that is not ``a-z``/``0-9`` (spaces, punctuation, letters
      of other scripts) becomes one ``_``, trimmed at both ends (``Order-Date (UTC)`` ->
      ``order_date_utc``);
    - a leading digit gets ``DIGIT_PREFIX`` (``1st place`` -> ``c_1st_place``);
    - nothing left (``""``, ``"%"``, ``"名前"``) gives ``column_<position>`` (1-based);
    - names are cut to 128 characters.

    Two names may normalise alike; ``column_names`` makes them unique.
    """
    lowered = raw.lower()
    if raw.isascii() and is_object_name(lowered):
        return lowered
    folded = unicodedata.normalize("NFKD", raw.translate(_FOLD))
    ascii_ = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()
    name = _SEPARATORS.sub("_", ascii_).strip("_")
    if not name:
        return f"column_{position}"
    if name[0].isdigit():
        name = DIGIT_PREFIX + name
    return name[:MAX_NAME].rstrip("_")


def column_names(raws: Sequence[str]) -> list[str]:
    """Unique valid names for a file's columns, in order (see ``normal_name``).

    When several columns arrive at one name, they take turns: first the names the files
    already spell exactly, then those differing only in case, then the others, each group
    in column order. The first takes the name, the rest the first free of ``_2``, ``_3``...
    (``Name``, ``name`` -> ``name_2``, ``name``). Names compare case-insensitively, and
    nothing is ever refused.
    """
    bases = [normal_name(r, i + 1) for i, r in enumerate(raws)]

    def rank(i: int) -> int:
        return 0 if raws[i] == bases[i] else 1 if _only_case(raws[i], bases[i]) else 2

    turns = sorted(range(len(raws)), key=lambda i: (rank(i), i))
    out: list[str | None] = [None] * len(raws)
    taken: set[str] = set()
    for i in turns:
        if bases[i] not in taken:
            out[i] = bases[i]
            taken.add(bases[i])
    for i in turns:
        if out[i] is not None:
            continue
        n = 2
        while (candidate := f"{bases[i][: MAX_NAME - len(str(n)) - 1]}_{n}") in taken:
            n += 1
        out[i] = candidate
        taken.add(candidate)
    return [name for name in out if name is not None]


def _only_case(raw: str, name: str) -> bool:
    """True when ``name`` is ``raw`` lower-cased: the catalog's convention since the start,
    resolved by every engine, so no ``source_name`` is recorded for it."""
    return raw.isascii() and raw.lower() == name


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
    "column_added",
    "column_removed",
    "type_changed",
    "nullability_changed",
    "partitioning_changed",
    "source_name_changed",
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
    partition keys changed. Adding a nullable column and widening a type are safe, and so
    is a new file spelling of a column (``source_name_changed``: readers use the catalog
    name, engines read the files by the new spelling).
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
        if now_col.source_name != col.source_name:
            changes.append(
                SchemaChange(
                    kind="source_name_changed",
                    column=col.name,
                    old=col.source_name,
                    new=now_col.source_name,
                    breaking=False,
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
