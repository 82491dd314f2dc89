"""Widening and schema diffs: the rules the crawler and the schema history rely on."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakemesh.errors import SchemaConflict
from lakemesh.schema import Column, Schema, canonical, diff, from_arrow, is_widening, widen


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (pa.int32(), pa.int64(), pa.int64()),
        (pa.int8(), pa.uint8(), pa.int16()),
        (pa.uint32(), pa.int32(), pa.int64()),
        (pa.int64(), pa.float32(), pa.float64()),
        (pa.null(), pa.string(), pa.string()),
        (pa.date32(), pa.timestamp("ms"), pa.timestamp("ms")),
        (pa.timestamp("s"), pa.timestamp("ns"), pa.timestamp("ns")),
        (pa.int64(), pa.string(), pa.string()),
        (pa.decimal128(10, 2), pa.decimal128(12, 4), pa.decimal128(12, 4)),
        (pa.list_(pa.int32()), pa.list_(pa.int64()), pa.list_(pa.int64())),
        (
            pa.struct([("a", pa.int32())]),
            pa.struct([("b", pa.string())]),
            pa.struct([("a", pa.int32()), ("b", pa.string())]),
        ),
    ],
)
def test_widen(a: pa.DataType, b: pa.DataType, expected: pa.DataType) -> None:
    assert widen(a, b).equals(expected)
    assert widen(b, a).equals(expected) or pa.types.is_struct(expected)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (pa.struct([("a", pa.int32())]), pa.list_(pa.int32())),
        (pa.bool_(), pa.int32()),
        (pa.list_(pa.int32()), pa.string()),
    ],
)
def test_widen_conflicts(a: pa.DataType, b: pa.DataType) -> None:
    with pytest.raises(SchemaConflict):
        widen(a, b)


def schema(*cols: tuple[str, str], partition: tuple[str, ...] = ()) -> Schema:
    return Schema(columns=tuple(Column(name=n, type=t, partition=n in partition) for n, t in cols))


def test_diff_flags_breaking_changes() -> None:
    old = schema(("id", "int32"), ("name", "string"), ("dt", "string"), partition=("dt",))
    new = schema(("id", "int64"), ("dt", "string"), ("email", "string"))
    changes = {(c.kind, c.column): c.breaking for c in diff(old, new)}
    assert changes == {
        ("type_changed", "id"): False,  # a widening
        ("column_removed", "name"): True,
        ("column_added", "email"): False,
        ("partitioning_changed", None): True,
    }
    assert diff(old, old) == []


def test_narrowing_and_retyping_are_breaking() -> None:
    assert not is_widening("int64", "int32")
    assert not is_widening("int64", "string")
    assert is_widening("float", "double")
    assert is_widening("timestamp[ms]", "timestamp[us]")
    assert not is_widening("list<item: int64>", "list<item: int32>")


def test_canonical_types_and_fingerprint() -> None:
    a = from_arrow(pa.schema([("s", pa.large_string()), ("l", pa.large_list(pa.large_string()))]))
    b = from_arrow(pa.schema([("s", pa.string()), ("l", pa.list_(pa.string()))]))
    assert a.fingerprint() == b.fingerprint()
    assert canonical(pa.dictionary(pa.int8(), pa.string())).equals(pa.string())
    assert Schema.from_json(a.to_json()) == a
