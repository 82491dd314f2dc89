"""Result output (SPEC 3): every Arrow type as JSON, CSV, Parquet and terminal text.

Unit cases build arrays with pyarrow; engine cases put one Parquet table per type in a
real mesh and read it through governed queries on DuckDB and Spark. Every result also
goes through ``consistent``: the JSON must parse (with NaN and Infinity refused), and
the CSV cells, terminal cells and Parquet read-back must say the same as the JSON. Oracles
for the property tests are independent: DuckDB's own column naming, Python's
``datetime.isoformat``, ``json.dumps``, ``decimal`` and PostgreSQL's iso_8601 intervals.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import struct
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lakemesh.access.grants import GrantRequest
from lakemesh.mesh import Mesh
from lakemesh.query.governed import QueryFailed
from lakemesh.query.output import (
    NULL_TEXT,
    to_csv,
    to_json,
    to_parquet,
    to_text_rows,
    unique_names,
    with_unique_names,
    write_csv,
    write_json,
)
from lakemesh.query.output import write_parquet as stream_parquet
from tests.files import write_parquet
from tests.pgserver import PostgresServer

D = Decimal
UTC = dt.UTC
BERLIN = "Europe/Berlin"
ADMIN = "admin@central"
NON_FINITE = ("NaN", "Infinity", "-Infinity")


# --------------------------------------------------------------------------- checks


def _refuse(token: str) -> None:
    raise AssertionError(f"{token} is not JSON")


def consistent(table: pa.Table) -> list[dict[str, Any]]:
    """The rows of ``to_json(table)`` (decimal numbers as ``Decimal``), once every format
    has been checked against them."""
    text = to_json(table)
    assert text.endswith("]\n")
    rows: list[dict[str, Any]] = json.loads(text, parse_float=D, parse_constant=_refuse)
    names = unique_names(table.column_names)
    assert all(list(row) == names for row in rows) and len(rows) == table.num_rows

    header, cells = to_text_rows(table, table.num_rows)
    assert header == names and len(cells) == table.num_rows
    for row, line in zip(rows, cells, strict=True):
        for value, cell in zip(row.values(), line, strict=True):
            if value is None:  # NaN and infinities are JSON null but spelled out in text
                assert cell == NULL_TEXT or cell in NON_FINITE
            elif isinstance(value, str):
                assert cell == value
            else:
                assert json.loads(cell, parse_float=D) == value

    with io.StringIO(to_csv(table).decode(), newline="") as f:
        parsed = [line or [""] for line in csv.reader(f)]  # a lone NULL is an empty line
    assert parsed[0] == names
    assert parsed[1:] == [["" if c == NULL_TEXT else c for c in line] for line in cells]

    back = pq.read_table(io.BytesIO(to_parquet(table)))
    assert back.column_names == names
    for i, column in enumerate(back.columns):
        kept = pa.table({"c": column})
        original = pa.table({"c": table.column(i)})
        if to_json(kept) != to_json(original):  # converted to its plain text
            assert column.type in (pa.string(), pa.large_string())
            assert column.to_pylist() == [None if c[i] == NULL_TEXT else c[i] for c in cells]
    return rows


def values(arr: pa.Array | pa.ChunkedArray) -> list[Any]:
    return [row["c"] for row in consistent(pa.table({"c": arr}))]


def decimals(type_: pa.DataType, unscaled: list[int | None]) -> pa.Array:
    """A decimal array from unscaled integers, whatever precision and scale (pyarrow's
    own constructor refuses scales beyond the precision and 39-digit HUGEINTs)."""
    width = type_.bit_width // 8
    data = b"".join((v or 0).to_bytes(width, "little", signed=True) for v in unscaled)
    valid = pa.array([v is not None for v in unscaled]).buffers()[1]
    return pa.Array.from_buffers(type_, len(unscaled), [valid, pa.py_buffer(data)])


def ints(type_: pa.DataType, raw: list[int | None]) -> pa.Array:
    """An array of a temporal ``type_`` from its raw integers (no Python objects, which
    would round nanoseconds or need pandas)."""
    storage = pa.int32() if type_.bit_width == 32 else pa.int64()
    return pa.array(raw, storage).view(type_)


def mdn(months: int, days: int, nanos: int) -> pa.MonthDayNano:
    return pa.MonthDayNano([months, days, nanos])


HUGEINT_MIN = -(2**127)
OPAQUE = pa.opaque(pa.binary(), "bignum", "DuckDB")
SECOND = 10**9
POINT = pa.struct([("a", pa.int64()), ("b", pa.string())])
UNION_CHILDREN = [pa.array([1, 2, 3], pa.int32()), pa.array(["a", "b", "c"])]


# --------------------------------------------------------------------------- unit cases

CASES: list[tuple[str, pa.Array, list[Any]]] = [
    ("int8", pa.array([-128, 127, None], pa.int8()), [-128, 127, None]),
    ("int16", pa.array([-32768, 32767], pa.int16()), [-32768, 32767]),
    ("int32", pa.array([-(2**31), 2**31 - 1], pa.int32()), [-(2**31), 2**31 - 1]),
    ("int64", pa.array([-(2**63), 2**63 - 1, None]), [-(2**63), 2**63 - 1, None]),
    ("uint8", pa.array([0, 255], pa.uint8()), [0, 255]),
    ("uint16", pa.array([65535], pa.uint16()), [65535]),
    ("uint32", pa.array([2**32 - 1], pa.uint32()), [2**32 - 1]),
    ("uint64", pa.array([0, 2**64 - 1, None], pa.uint64()), [0, 2**64 - 1, None]),
    (
        "decimal128-38-digits",
        decimals(pa.decimal128(38, 0), [10**38 - 1, -(10**38 - 1), None]),
        [10**38 - 1, -(10**38 - 1), None],
    ),
    ("hugeint-min", decimals(pa.decimal128(38, 0), [HUGEINT_MIN]), [HUGEINT_MIN]),
    (
        "decimal-negative",
        pa.array([D("-1.50"), D("0.00"), D("-0.01")], pa.decimal128(10, 2)),
        [D("-1.50"), D(0), D("-0.01")],
    ),
    (
        "decimal-scale-10",
        decimals(pa.decimal128(20, 10), [1, -12345678900123456789, 10**10]),
        [D("1E-10"), D("-1234567890.0123456789"), D(1)],
    ),
    ("decimal32", decimals(pa.decimal32(9, 2), [-999999999, 5]), [D("-9999999.99"), D("0.05")]),
    ("decimal64", decimals(pa.decimal64(18, 4), [10**18 - 1]), [D("99999999999999.9999")]),
    ("decimal256", decimals(pa.decimal256(76, 38), [-(10**76 - 1)]), [D(f"-{10**76 - 1}E-38")]),
    (
        "decimal-negative-scale",
        decimals(pa.decimal128(5, -3), [12345, -1, 0]),
        [12345000, -1000, 0],
    ),
    (  # scales past the width's precision: Arrow prints a placeholder, rebuilt exactly
        "decimal-scale-past-precision",
        decimals(pa.decimal32(9, 12), [5, -123456789, None]),
        [D("5E-12"), D("-0.000123456789"), None],
    ),
    ("decimal64-scale-20", decimals(pa.decimal64(18, 20), [7]), [D("7E-20")]),
    (
        "float64",
        pa.array([0.1, -0.0, 1.0, 1e300, 5e-324, 1e-7, float("nan"), None]),
        [D("0.1"), D("-0.0"), D("1.0"), D("1e300"), D("5e-324"), D("1e-07"), None, None],
    ),
    (
        "float64-non-finite",
        pa.array([float("inf"), float("-inf"), float("nan")]),
        [None, None, None],
    ),
    (  # float32's own shortest digits, not those of the double it widens to
        "float32",
        pa.array([0.1, 3.4e38, 16777216.0, float("nan"), None], pa.float32()),
        [D("0.1"), D("3.4e38"), D("16777216.0"), None, None],
    ),
    (
        "float16",
        pa.array([0.1, 65504.0, float("inf"), -2.0], pa.float16()),
        [D("0.1"), D("65500.0"), None, D("-2.0")],
    ),
    ("bool", pa.array([True, False, None]), [True, False, None]),
    ("null", pa.nulls(2), [None, None]),
    (
        "string",
        pa.array(
            ["", "unicode é 😀 中", "\u2028\u2029", "\x00\x01\x1f\x7f", 'q"b\\s', "\n\r\t", None]
        ),
        ["", "unicode é 😀 中", "\u2028\u2029", "\x00\x01\x1f\x7f", 'q"b\\s', "\n\r\t", None],
    ),
    ("large_string", pa.array(["a", None, '"'], pa.large_string()), ["a", None, '"']),
    ("string_view", pa.array(["a", None, "\\"], pa.string_view()), ["a", None, "\\"]),
    ("binary", pa.array([b"", b"\x00\xff", None]), ["", "AP8=", None]),
    ("large_binary", pa.array([b"abc"], pa.large_binary()), ["YWJj"]),
    ("fixed_size_binary", pa.array([b"\xff\xfe\xfd", None], pa.binary(3)), ["//79", None]),
    ("binary_view", pa.array([b"\x00", None], pa.binary_view()), ["AA==", None]),
    (
        "date32",
        pa.array([dt.date(1969, 12, 31), dt.date(1, 1, 1), dt.date(9999, 12, 31), None]),
        ["1969-12-31", "0001-01-01", "9999-12-31", None],
    ),
    (  # beyond Python's dates: astronomical years with ISO 8601's sign
        "date32-far",
        ints(pa.date32(), [-719163, -719529, 2932897, 10**8]),
        ["0000-12-31", "-0001-12-31", "+10000-01-01", "+275760-09-13"],
    ),
    (
        "date64",
        ints(pa.date64(), [0, -86_400_000, 86_400_000 * 365, None]),
        ["1970-01-01", "1969-12-31", "1971-01-01", None],
    ),
    (
        "timestamp-us",
        pa.array(
            [
                dt.datetime(1969, 12, 31, 23, 59, 59, 999999),
                dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
                dt.datetime(1, 1, 1),
                dt.datetime(2024, 1, 2, 3, 4, 5, 500000),
                None,
            ],
            pa.timestamp("us"),
        ),
        [
            "1969-12-31T23:59:59.999999",
            "9999-12-31T23:59:59.999999",
            "0001-01-01T00:00:00",
            "2024-01-02T03:04:05.500000",
            None,
        ],
    ),
    (
        "timestamp-s",
        ints(pa.timestamp("s"), [0, -1]),
        ["1970-01-01T00:00:00", "1969-12-31T23:59:59"],
    ),
    (
        "timestamp-ms",
        ints(pa.timestamp("ms"), [1500, 2000]),
        ["1970-01-01T00:00:01.500", "1970-01-01T00:00:02"],
    ),
    (
        "timestamp-ns",
        ints(pa.timestamp("ns"), [1_700_000_000_123_456_789, -1, 2**63 - 1, -(2**63) + 1]),
        [
            "2023-11-14T22:13:20.123456789",
            "1969-12-31T23:59:59.999999999",
            "2262-04-11T23:47:16.854775807",
            "1677-09-21T00:12:43.145224193",
        ],
    ),
    (
        "timestamp-s-far",
        ints(pa.timestamp("s"), [253402300800, -62167219201, 2**62]),
        ["+10000-01-01T00:00:00", "-0001-12-31T23:59:59", "+146138514283-06-19T07:45:04"],
    ),
    (
        "timestamp-berlin",
        pa.array(
            [
                dt.datetime(2024, 7, 1, 12, tzinfo=UTC),
                dt.datetime(2024, 1, 1, tzinfo=UTC),
                dt.datetime(1870, 1, 1, tzinfo=UTC),  # local mean time: +00:53:28
                None,
            ],
            pa.timestamp("us", BERLIN),
        ),
        [
            "2024-07-01T14:00:00+02:00",
            "2024-01-01T01:00:00+01:00",
            "1870-01-01T00:53:28+00:53:28",
            None,
        ],
    ),
    (
        "timestamp-ns-berlin",
        ints(pa.timestamp("ns", BERLIN), [1_700_000_000_000_000_001]),
        ["2023-11-14T23:13:20.000000001+01:00"],
    ),
    (
        "timestamp-etc-utc",
        ints(pa.timestamp("ms", "Etc/UTC"), [1]),
        ["1970-01-01T00:00:00.001+00:00"],
    ),
    (
        "timestamp-fixed-offset",
        ints(pa.timestamp("s", "-05:30"), [0]),
        ["1969-12-31T18:30:00-05:30"],
    ),
    (  # zoned, but beyond the years the zone database covers: the instant, in UTC
        "timestamp-zoned-far",
        ints(pa.timestamp("s", BERLIN), [253402300800]),
        ["+10000-01-01T00:00:00+00:00"],
    ),
    (
        "timestamp-unknown-zone",
        ints(pa.timestamp("s", "Nowhere/Land"), [0]),
        ["1970-01-01T00:00:00+00:00"],
    ),
    ("time32-s", ints(pa.time32("s"), [0, 86399, None]), ["00:00:00", "23:59:59", None]),
    ("time32-ms", ints(pa.time32("ms"), [1500, 1000]), ["00:00:01.500", "00:00:01"]),
    (
        "time64-us",
        pa.array([dt.time(10, 0, 0, 500000), dt.time(0)]),
        ["10:00:00.500000", "00:00:00"],
    ),
    (
        "time64-ns",
        ints(pa.time64("ns"), [1, 86_399_999_999_999]),
        ["00:00:00.000000001", "23:59:59.999999999"],
    ),
    ("time-outside-a-day", ints(pa.time32("s"), [-1, 90000]), ["-00:00:01", "25:00:00"]),
    (
        "duration-s",
        ints(pa.duration("s"), [0, 5400, 86400, -1, None]),
        ["PT0S", "PT1H30M", "PT24H", "PT-1S", None],
    ),
    ("duration-ms", ints(pa.duration("ms"), [-1500]), ["PT-1.5S"]),
    ("duration-us", ints(pa.duration("us"), [3_723_000_001]), ["PT1H2M3.000001S"]),
    (
        "duration-ns",
        ints(pa.duration("ns"), [1, -(2**63)]),
        ["PT0.000000001S", "PT-2562047H-47M-16.854775808S"],
    ),
    (
        "interval",
        pa.array(
            [
                mdn(14, 3, (4 * 3600 + 5 * 60 + 6) * SECOND + SECOND // 2),
                mdn(0, 1, 0),
                mdn(0, 0, 0),
                mdn(-14, -1, -90 * SECOND - SECOND // 2),
                mdn(1, -1, 1),
                mdn(12, 0, 3600 * SECOND),
                None,
            ],
            pa.month_day_nano_interval(),
        ),
        [
            "P1Y2M3DT4H5M6.5S",
            "P1D",
            "PT0S",
            "P-1Y-2M-1DT-1M-30.5S",
            "P1M-1DT0.000000001S",
            "P1YT1H",
            None,
        ],
    ),
    (
        "list",
        pa.array([[1, None, 2], [], None], pa.list_(pa.int64())),
        [[1, None, 2], [], None],
    ),
    ("large_list", pa.array([["a"], None], pa.large_list(pa.string())), [["a"], None]),
    (
        "fixed_size_list",
        pa.array([[1, 2], None, [None, 4]], pa.list_(pa.int8(), 2)),
        [[1, 2], None, [None, 4]],
    ),
    (  # views may share and reorder their values
        "list_view",
        pa.ListViewArray.from_arrays([2, 0, 0, 1], [2, 3, 0, 1], pa.array([1, 2, 3, 4])),
        [[3, 4], [1, 2, 3], [], [2]],
    ),
    (
        "large_list_view",
        pa.array([[1.5], None, []], pa.large_list_view(pa.float64())),
        [[D("1.5")], None, []],
    ),
    (
        "list-of-structs",
        pa.array([[{"a": 1, "b": "x"}, None], [{"a": None, "b": None}], []], pa.list_(POINT)),
        [[{"a": 1, "b": "x"}, None], [{"a": None, "b": None}], []],
    ),
    (
        "list-of-lists",
        pa.array([[[1], [], None], None], pa.list_(pa.list_(pa.int8()))),
        [[[1], [], None], None],
    ),
    (
        "list-of-non-finite",
        pa.array([[float("nan"), 0.5], [float("inf")]], pa.list_(pa.float64())),
        [[None, D("0.5")], [None]],
    ),
    (
        "struct",
        pa.array([{"a": 1, "b": 'x"'}, {"a": None, "b": None}, None], POINT),
        [{"a": 1, "b": 'x"'}, {"a": None, "b": None}, None],
    ),
    (
        "struct-nested",
        pa.array(
            [{"é k": {"t": dt.date(2024, 1, 2)}, "l": [b"\x00"]}],
            pa.struct([("é k", pa.struct([("t", pa.date32())])), ("l", pa.list_(pa.binary()))]),
        ),
        [{"é k": {"t": "2024-01-02"}, "l": ["AA=="]}],
    ),
    (
        "struct-empty",
        pa.StructArray.from_arrays([], names=[], mask=pa.array([False, True])),
        [{}, None],
    ),
    (
        "map-int-keys",
        pa.array([[(1, "one"), (2, None)], [], None], pa.map_(pa.int64(), pa.string())),
        [{"1": "one", "2": None}, {}, None],
    ),
    (
        "map-string-keys",
        pa.array([[("a b", 1.5), ('q"', None)]], pa.map_(pa.string(), pa.float64())),
        [{"a b": D("1.5"), 'q"': None}],
    ),
    (
        "map-other-keys",
        pa.array([[(dt.date(2024, 1, 1), [1])]], pa.map_(pa.date32(), pa.list_(pa.int8()))),
        [{"2024-01-01": [1]}],
    ),
    (
        "map-float-keys",
        pa.array([[(float("nan"), 1), (0.5, 2)]], pa.map_(pa.float64(), pa.int8())),
        [{"NaN": 1, "0.5": 2}],
    ),
    (
        "dictionary",
        pa.DictionaryArray.from_arrays(pa.array([1, 0, None, 1], pa.int8()), pa.array(["x", "y"])),
        ["y", "x", None, "y"],
    ),
    (
        "dictionary-of-timestamps",
        pa.array([0, 0, None], pa.timestamp("s")).dictionary_encode(),
        ["1970-01-01T00:00:00", "1970-01-01T00:00:00", None],
    ),
    (
        "sparse_union",
        pa.UnionArray.from_sparse(pa.array([0, 1, 0], pa.int8()), UNION_CHILDREN),
        [1, "b", 3],
    ),
    (
        "dense_union",
        pa.UnionArray.from_dense(
            pa.array([5, 7, 5], pa.int8()),
            pa.array([0, 0, 1], pa.int32()),
            [pa.array([None, 2], pa.int32()), pa.array(["a"])],
            type_codes=[5, 7],
        ),
        [None, "a", 2],
    ),
    (
        "uuid",
        pa.ExtensionArray.from_storage(
            pa.uuid(), pa.array([bytes(range(16)), None], pa.binary(16))
        ),
        ["00010203-0405-0607-0809-0a0b0c0d0e0f", None],
    ),
    (
        "bool8",
        pa.ExtensionArray.from_storage(pa.bool8(), pa.array([0, 1, 2, None], pa.int8())),
        [False, True, True, None],
    ),
    (
        "json-extension",
        pa.ExtensionArray.from_storage(pa.json_(), pa.array(['{"a": 1}'])),
        ['{"a": 1}'],
    ),
    (  # DuckDB BIGNUM: rendered by its storage (DuckDB's own bytes for 1)
        "duckdb-bignum",
        pa.ExtensionArray.from_storage(OPAQUE, pa.array([b"\x80\x00\x01\x01"])),
        ["gAABAQ=="],
    ),
    (
        "run_end_encoded",
        pa.RunEndEncodedArray.from_arrays([2, 3], pa.array(["a", None])),
        ["a", "a", None],
    ),
    ("all-null-int", pa.nulls(2, pa.int64()), [None, None]),
    ("all-null-list", pa.nulls(2, pa.list_(POINT)), [None, None]),
]


@pytest.mark.parametrize(("arr", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_type(arr: pa.Array, expected: list[Any]) -> None:
    assert values(arr) == expected
    # a slice and a chunked column (offsets into shared buffers) say the same
    assert values(arr.slice(1)) == expected[1:]
    assert values(pa.chunked_array([arr.slice(0, 1), arr.slice(1)])) == expected


def test_text_matches_json_dumps_exactly() -> None:
    rows = [
        {"i": 1, "f": 0.1, "g": -0.0, "h": 1e-07, "s": "é\n", "b": True, "n": None},
        {"i": -(2**63), "f": 1.0, "g": 1e16, "h": 5e-324, "s": "", "b": False, "n": None},
    ]
    table = pa.Table.from_pylist(rows)
    assert to_json(table) == json.dumps(rows, ensure_ascii=False) + "\n"
    assert to_json(table.slice(0, 0)) == "[]\n"


def test_text_rows_show_what_json_cannot() -> None:
    table = pa.table(
        {
            "f": [float("nan"), float("inf"), float("-inf"), None],
            "s": ["", "NULL", None, "x"],
            "l": pa.array([[float("nan")], None, [], [1.0]]),
        }
    )
    header, rows = to_text_rows(table, 3)
    assert header == ["f", "s", "l"]
    assert rows == [
        ["NaN", "", "[null]"],
        ["Infinity", "NULL", NULL_TEXT],
        ["-Infinity", NULL_TEXT, "[]"],
    ]
    assert to_text_rows(table, 0) == (["f", "s", "l"], [])
    assert to_text_rows(table, -1) == (["f", "s", "l"], [])
    # CSV: NULL is an empty cell, an empty string a quoted one, NaN spelled out
    assert to_csv(table).decode().splitlines()[:3] == [
        '"f","s","l"',
        '"NaN","","[null]"',
        '"Infinity","NULL",',
    ]


def test_nested_columns_write_to_csv() -> None:
    """pyarrow's own CSV writer refuses these (ArrowInvalid)."""
    table = pa.table(
        {
            "l": pa.array([[1, 2]]),
            "s": pa.array([{"a": [1]}]),
            "m": pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int8())),
            "b": pa.array([b"\xff"]),
        }
    )
    lines = to_csv(table).decode().splitlines()
    assert lines == ['"l","s","m","b"', '"[1, 2]","{""a"": [1]}","{""k"": 1}","/w=="']


def test_zero_rows_and_zero_columns() -> None:
    empty = pa.table({"a": pa.array([], pa.int64()), "l": pa.array([], pa.list_(POINT))})
    assert to_json(empty) == "[]\n"
    assert to_csv(empty).decode().splitlines() == ['"a","l"']
    assert to_text_rows(empty, 10) == (["a", "l"], [])
    assert pq.read_table(io.BytesIO(to_parquet(empty))).schema == empty.schema
    no_columns = pa.table({"a": [1, 2]}).select([])
    assert to_json(no_columns) == "[{}, {}]\n"
    assert to_text_rows(no_columns, 5) == ([], [[], []])


def test_parquet_converts_only_what_it_cannot_store() -> None:
    durations = ints(pa.duration("s"), [60])
    table = pa.table(
        {
            "interval": pa.array([mdn(0, 1, 0)], pa.month_day_nano_interval()),
            "duration": durations,  # Parquet has none: pyarrow would keep a bare int64
            "durations": pa.ListArray.from_arrays([0, 1], durations),
            "union": pa.UnionArray.from_sparse(
                pa.array([1], pa.int8()), [pa.array([1], pa.int32()), pa.array(["b"])]
            ),
            "empty": pa.StructArray.from_arrays([], names=[], mask=pa.array([False])),
            "negative_scale": decimals(pa.decimal128(5, -3), [1]),
            "far_seconds": ints(pa.timestamp("s"), [2**62]),  # overflows Parquet's ms
            "null": pa.nulls(1),
            "uuid": pa.ExtensionArray.from_storage(pa.uuid(), pa.array([bytes(16)], pa.binary(16))),
            "bignum": pa.ExtensionArray.from_storage(OPAQUE, pa.array([b"\x80\x00\x01\x01"])),
            "ns": ints(pa.timestamp("ns", BERLIN), [1]),
            "map": pa.array([[(1, [2])]], pa.map_(pa.int8(), pa.list_(pa.int8()))),
        }
    )
    back = pq.read_table(io.BytesIO(to_parquet(table)))
    text = {f.name for f in back.schema if f.type == pa.large_string()}
    assert text == {
        "interval",
        "duration",
        "durations",
        "union",
        "empty",
        "negative_scale",
        "far_seconds",
    }
    assert back.column("interval").to_pylist() == ["P1D"]
    assert back.column("durations").to_pylist() == ['["PT1M"]']
    assert back.column("union").to_pylist() == ["b"]
    assert back.column("negative_scale").to_pylist() == ["1E+3"]
    for name in ("null", "uuid", "bignum", "ns", "map"):
        assert back.schema.field(name).type == table.schema.field(name).type
    consistent(table)


# --------------------------------------------------------------------------- names


def test_unique_names() -> None:
    assert unique_names(["x", "x", "X", "x_1"]) == ["x", "x_1", "X_2", "x_1_1"]
    assert unique_names([]) == []
    table = pa.table({"a": [1], "b": [2]})
    assert with_unique_names(table) is table
    clash = pa.Table.from_arrays([pa.array([1]), pa.array([2]), pa.array([3])], ["x", "X", "x"])
    assert with_unique_names(clash).column_names == ["x", "X_1", "x_2"]
    assert consistent(clash) == [{"x": 1, "X_1": 2, "x_2": 3}]


NAME_PARTS = ["x", "X", "x_1", "X_1", "x_2", "y", "_", "_1", " ", "é", "É", "é_1"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(NAME_PARTS), min_size=1, max_size=8))
def test_unique_names_as_duckdb_names_them(names: list[str]) -> None:
    """Differential: DuckDB's own deduplication (ASCII-only case folding) is the oracle."""
    with duckdb.connect() as con:
        columns = ", ".join(f'{i} AS "{name}"' for i, name in enumerate(names))
        con.execute(f"CREATE TABLE t AS SELECT {columns}")
        described = [row[0] for row in con.execute("DESCRIBE t").fetchall()]
    assert unique_names(names) == described


# --------------------------------------------------------------------------- properties


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(), min_size=1, max_size=20))
def test_float64_text_is_json_dumps(floats: list[float]) -> None:
    finite = [{"c": v if v == v and abs(v) != float("inf") else None} for v in floats]
    assert to_json(pa.table({"c": pa.array(floats, pa.float64())})) == json.dumps(finite) + "\n"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=1))
@example([999999995904.0, 1e-7, 0.1, 123456792.0])  # found by a fresh clone's run
def test_float32_text_round_trips_at_its_width(floats: list[float]) -> None:
    text = to_json(pa.table({"c": pa.array(floats, pa.float32())}))
    got = json.loads(text, parse_float=str, parse_int=str)  # the numbers as written
    for value, row in zip(floats, got, strict=True):
        assert struct.pack("<f", float(row["c"])) == struct.pack("<f", value)
        # never more digits than the double's: float32 999999995904 is written with the
        # one digit of 1e12 (as "1000000000000.0", Python's spelling, longer as text)
        assert _significant(row["c"]) <= _significant(repr(value))


def _significant(number: str) -> int:
    """How many significant digits a number's text holds."""
    mantissa = number.lower().lstrip("-").split("e")[0]
    return len(mantissa.replace(".", "").strip("0")) or 1


WIDTHS = {
    32: (pa.decimal32, 9),
    64: (pa.decimal64, 18),
    128: (pa.decimal128, 38),
    256: (pa.decimal256, 76),
}


@st.composite
def decimal_columns(draw: st.DrawFn) -> tuple[pa.DataType, list[int]]:
    factory, most = WIDTHS[draw(st.sampled_from(sorted(WIDTHS)))]
    precision = draw(st.integers(1, most))
    scale = draw(st.integers(-precision - 5, precision + 25))
    bound = 10**precision - 1
    return factory(precision, scale), draw(st.lists(st.integers(-bound, bound), min_size=1))


@settings(max_examples=200, deadline=None)
@given(decimal_columns())
def test_decimals_are_exact_json_numbers(column: tuple[pa.DataType, list[int]]) -> None:
    type_, unscaled = column
    text = to_json(pa.table({"c": decimals(type_, list(unscaled))}))
    got = [row["c"] for row in json.loads(text, parse_float=D, parse_int=D)]
    assert got == [D(f"{v}E{-type_.scale}") for v in unscaled]


ZONES = [
    ZoneInfo(z)
    for z in (BERLIN, "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Etc/UTC")
]


@settings(max_examples=200, deadline=None)
@given(st.datetimes(), st.sampled_from(ZONES))
def test_timestamps_are_isoformat(moment: dt.datetime, zone: ZoneInfo) -> None:
    """Microseconds print like Python's ``isoformat``: naive as given, zoned in the zone
    (up to 2037: after its last listed transition Arrow applies no DST, so a summer
    instant then shows standard time; the instant stays exact)."""
    naive = pa.array([moment], pa.timestamp("us"))
    assert values(naive) == [moment.isoformat()]
    instant = moment.replace(tzinfo=UTC)
    if dt.datetime(1, 1, 2, tzinfo=UTC) <= instant < dt.datetime(2038, 1, 1, tzinfo=UTC):
        zoned = pa.array([instant], pa.timestamp("us", zone.key))
        assert values(zoned) == [instant.astimezone(zone).isoformat()]


@settings(max_examples=200, deadline=None)
@given(st.integers(-(2**63), 2**63 - 1))
def test_nanosecond_timestamps_keep_every_digit(ns: int) -> None:
    seconds, fraction = divmod(ns, 10**9)
    expected = (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)).isoformat()
    expected += f".{fraction:09d}" if fraction else ""
    assert values(ints(pa.timestamp("ns"), [ns])) == [expected]


@settings(max_examples=200, deadline=None)
@given(st.integers(-(2**62), 2**62))
def test_far_dates_follow_the_proleptic_calendar(seconds: int) -> None:
    """Outside Python's years, shifted by whole 400-year cycles (146097 days) into them."""
    days, clock = divmod(seconds, 86400)
    cycles = days // 146097
    shifted = dt.date(2000, 1, 1) + dt.timedelta(days=days - cycles * 146097 - 10957)
    year = shifted.year + 400 * cycles
    sign = "-" if year < 0 else "+" if year > 9999 else ""
    time = (dt.datetime.min + dt.timedelta(seconds=clock)).time().isoformat()
    date = f"{sign}{abs(year):04d}-{shifted:%m-%d}"
    assert values(ints(pa.timestamp("s"), [seconds])) == [f"{date}T{time}"]
    if -(2**31) <= days < 2**31:
        assert values(ints(pa.date32(), [days])) == [date]


@pytest.mark.postgres
@settings(max_examples=100, deadline=None)
@given(
    st.integers(-(2**31) + 1, 2**31 - 1),
    st.integers(-(2**31) + 1, 2**31 - 1),
    st.integers(-((2**63 - 1) // 1000), (2**63 - 1) // 1000),  # nanoseconds fit an int64
)
def test_intervals_as_postgresql_prints_them(
    postgres: PostgresServer, months: int, days: int, micros: int
) -> None:
    """Differential: PostgreSQL's ``IntervalStyle = iso_8601`` is the oracle."""
    import psycopg

    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute("SET IntervalStyle = iso_8601")
        text = f"{months} months {days} days {micros} microseconds"
        row = conn.execute("SELECT CAST(%s AS interval)::text", (text,)).fetchone()
    assert row is not None
    arr = pa.array([mdn(months, days, micros * 1000)], pa.month_day_nano_interval())
    assert values(arr) == [row[0]]


# --------------------------------------------------------------------------- engines


class EngineCase(NamedTuple):
    column: pa.Array
    expected: list[Any]
    #: The Arrow type each engine returns; None: the engine cannot read the column.
    duckdb: pa.DataType
    spark: pa.DataType | None


STRUCT_TYPE = pa.struct([("a", pa.int64()), ("b", pa.string())])
UTC_US = pa.timestamp("us", "UTC")

#: One Parquet table per type (Spark refuses a whole file with one column it cannot read).
ENGINE_CASES: dict[str, EngineCase] = {
    "i8": EngineCase(
        pa.array([-128, 127, None], pa.int8()), [-128, 127, None], pa.int8(), pa.int8()
    ),
    "i16": EngineCase(
        pa.array([-32768, 1, None], pa.int16()), [-32768, 1, None], pa.int16(), pa.int16()
    ),
    "i32": EngineCase(
        pa.array([-(2**31), 1, None], pa.int32()), [-(2**31), 1, None], pa.int32(), pa.int32()
    ),
    "i64": EngineCase(
        pa.array([-(2**63), 2**63 - 1, None]), [-(2**63), 2**63 - 1, None], pa.int64(), pa.int64()
    ),
    # Spark has no unsigned types: each widens to the next signed one, uint64 to decimal
    "u8": EngineCase(pa.array([0, 255, None], pa.uint8()), [0, 255, None], pa.uint8(), pa.int16()),
    "u16": EngineCase(
        pa.array([0, 65535, None], pa.uint16()), [0, 65535, None], pa.uint16(), pa.int32()
    ),
    "u32": EngineCase(
        pa.array([0, 2**32 - 1, None], pa.uint32()), [0, 2**32 - 1, None], pa.uint32(), pa.int64()
    ),
    "u64": EngineCase(
        pa.array([0, 2**64 - 1, None], pa.uint64()),
        [0, 2**64 - 1, None],
        pa.uint64(),
        pa.decimal128(20, 0),
    ),
    "dec": EngineCase(
        decimals(pa.decimal128(38, 10), [-(10**38 - 1), 1, None]),
        [D(f"-{10**38 - 1}E-10"), D("1E-10"), None],
        pa.decimal128(38, 10),
        pa.decimal128(38, 10),
    ),
    "f32": EngineCase(
        pa.array([0.1, float("nan"), None], pa.float32()),
        [D("0.1"), None, None],
        pa.float32(),
        pa.float32(),
    ),
    "f64": EngineCase(
        pa.array([0.1, float("inf"), float("-inf")]),
        [D("0.1"), None, None],
        pa.float64(),
        pa.float64(),
    ),
    "s": EngineCase(
        pa.array(['é"\\\n\u2028\x01', "", None]),
        ['é"\\\n\u2028\x01', "", None],
        pa.string(),
        pa.string(),
    ),
    "b": EngineCase(
        pa.array([b"\x00\xff", b"", None]), ["AP8=", "", None], pa.binary(), pa.binary()
    ),
    "d": EngineCase(
        pa.array([dt.date(1969, 12, 31), dt.date(1, 1, 1), None]),
        ["1969-12-31", "0001-01-01", None],
        pa.date32(),
        pa.date32(),
    ),
    "ts": EngineCase(
        pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, 6), dt.datetime(1900, 1, 1), None]),
        ["2024-01-02T03:04:05.000006", "1900-01-01T00:00:00", None],
        pa.timestamp("us"),
        pa.timestamp("us"),
    ),
    # Parquet keeps the instant, not the zone: both engines answer in their session's UTC
    "tstz": EngineCase(
        pa.array([dt.datetime(2024, 7, 1, 12, tzinfo=UTC), None, None], pa.timestamp("us", BERLIN)),
        ["2024-07-01T12:00:00+00:00", None, None],
        UTC_US,
        UTC_US,
    ),
    "tsns": EngineCase(
        ints(pa.timestamp("ns"), [1_700_000_000_123_456_789, -1, None]),
        ["2023-11-14T22:13:20.123456789", "1969-12-31T23:59:59.999999999", None],
        pa.timestamp("ns"),
        None,  # Spark: Parquet TIMESTAMP(NANOS) is an illegal type
    ),
    "t": EngineCase(
        pa.array([dt.time(10, 0, 0, 500000), dt.time(0), None]),
        ["10:00:00.500000", "00:00:00", None],
        pa.time64("us"),
        None,  # Spark: Parquet TIME is an illegal type
    ),
    "l": EngineCase(
        pa.array([[1, None, 2], [], None]),
        [[1, None, 2], [], None],
        pa.list_(pa.field("l", pa.int64())),
        pa.list_(pa.int64()),
    ),
    "st": EngineCase(
        pa.array([{"a": 1, "b": "x"}, {"a": None, "b": None}, None], STRUCT_TYPE),
        [{"a": 1, "b": "x"}, {"a": None, "b": None}, None],
        STRUCT_TYPE,
        STRUCT_TYPE,
    ),
    "m": EngineCase(
        pa.array([[(1, "one"), (2, None)], [], None], pa.map_(pa.int64(), pa.string())),
        [{"1": "one", "2": None}, {}, None],
        pa.map_(pa.int64(), pa.string()),
        pa.map_(pa.int64(), pa.string()),
    ),
    "ls": EngineCase(
        pa.array([[{"a": 1, "b": "x"}, None], [], None], pa.list_(STRUCT_TYPE)),
        [[{"a": 1, "b": "x"}, None], [], None],
        pa.list_(pa.field("l", STRUCT_TYPE)),
        pa.list_(STRUCT_TYPE),
    ),
}


class Literal(NamedTuple):
    sql: str
    duckdb: list[dict[str, Any]] | None  # None: the query fails on that engine
    spark: list[dict[str, Any]] | None


#: SQL the validator lets through today, and what each engine makes of it.
LITERALS = [
    Literal(
        "SELECT 1 AS x, 2 AS x, 3 AS X, 4 AS x_1",
        [{"x": 1, "x_1": 2, "X_2": 3, "x_1_1": 4}],
        [{"x": 1, "x_1": 2, "X_2": 3, "x_1_1": 4}],
    ),
    Literal("SELECT 10/0 AS x", [{"x": None}], None),  # inf on DuckDB; ANSI error on Spark
    Literal("SELECT 1e300 * 1e300 AS x", [{"x": None}], [{"x": None}]),
    Literal("SELECT CAST('NaN' AS DOUBLE) AS x", [{"x": None}], [{"x": None}]),
    Literal("SELECT CAST(0.1 AS FLOAT) AS f", [{"f": D("0.1")}], [{"f": D("0.1")}]),
    Literal(
        "SELECT CAST(-170141183460469231731687303715884105728 AS HUGEINT) AS h",
        [{"h": HUGEINT_MIN}],
        None,
    ),
    Literal("SELECT CAST(1.5 AS DECIMAL(38, 10)) AS d", [{"d": D("1.5")}], [{"d": D("1.5")}]),
    Literal("SELECT INTERVAL 1 DAY AS i", [{"i": "P1D"}], [{"i": "PT24H"}]),
    Literal("SELECT -INTERVAL 1 DAY AS i", [{"i": "P-1D"}], [{"i": "PT-24H"}]),
    Literal("SELECT INTERVAL 90 MINUTE AS i", [{"i": "PT1H30M"}], [{"i": "PT1H30M"}]),
    Literal("SELECT INTERVAL 1 SECOND * 1.5 AS i", [{"i": "PT1.5S"}], [{"i": "PT1.5S"}]),
    Literal(
        "SELECT CAST('2024-01-01 10:00:00+02' AS TIMESTAMPTZ) AS t",
        [{"t": "2024-01-01T08:00:00+00:00"}],
        [{"t": "2024-01-01T08:00:00+00:00"}],
    ),
    Literal(  # DuckDB's TIMESTAMP is naive; Spark reads the same SQL (as TIMESTAMP_NTZ)
        "SELECT CAST('2024-01-01 10:00:00.5' AS TIMESTAMP) AS t",
        [{"t": "2024-01-01T10:00:00.500000"}],
        [{"t": "2024-01-01T10:00:00.500000"}],
    ),
    Literal("SELECT CAST('2024-01-01' AS DATE) AS d", [{"d": "2024-01-01"}], [{"d": "2024-01-01"}]),
    Literal(
        "SELECT NULL AS n, TRUE AS b, 'é' AS s",
        [{"n": None, "b": True, "s": "é"}],
        [{"n": None, "b": True, "s": "é"}],
    ),
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """A mesh whose admin may read one table per type in domain ``lake``."""
    base = tmp_path_factory.mktemp("output")
    for name, case in ENGINE_CASES.items():
        table = pa.table({"id": [1, 2, 3], "c": case.column})
        write_parquet(base / "lake" / "db" / name / "part-0.parquet", table)
    mesh = Mesh.init(base / "home")
    mesh.domains.create("lake", str(base / "lake"))
    mesh.domains.crawl("lake")
    mesh.domains.sync()
    mesh.access.grant(
        GrantRequest(actions=("SELECT",), principal=ADMIN, database="lake.db"), as_=ADMIN
    )
    yield mesh
    mesh.close()


@pytest.fixture(scope="module", params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine(request: pytest.FixtureRequest) -> str:
    if request.param == "spark":
        from lakemesh.engines.spark import spark_session

        spark_session()  # one JVM for the module, started outside any test's timing
    return str(request.param)


@pytest.mark.parametrize("name", list(ENGINE_CASES))
def test_engine_types(lake: Mesh, engine: str, name: str) -> None:
    case = ENGINE_CASES[name]
    returned = case.duckdb if engine == "duckdb" else case.spark
    sql = f"SELECT c FROM lake.db.{name} ORDER BY id"
    if returned is None:
        with pytest.raises(QueryFailed):
            lake.query(sql, as_=ADMIN, engine=engine)
        return
    result = lake.query(sql, as_=ADMIN, engine=engine)
    assert result.schema.field("c").type == returned
    assert [row["c"] for row in consistent(result)] == case.expected


@pytest.mark.parametrize("case", LITERALS, ids=[c.sql for c in LITERALS])
def test_engine_literals(lake: Mesh, engine: str, case: Literal) -> None:
    expected = case.duckdb if engine == "duckdb" else case.spark
    if expected is None:
        with pytest.raises(QueryFailed):
            lake.query(case.sql, as_=ADMIN, engine=engine)
        return
    assert consistent(lake.query(case.sql, as_=ADMIN, engine=engine)) == expected


def test_duplicate_names_end_to_end(lake: Mesh, engine: str) -> None:
    result = lake.query("SELECT 1 AS x, 2 AS x", as_=ADMIN, engine=engine)
    assert result.column_names == ["x", "x_1"], "Mesh.query names them uniquely already"
    result = result.rename_columns(["x", "x"])  # as an engine returns them
    assert to_json(result) == '[{"x": 1, "x_1": 2}]\n'
    assert to_text_rows(result, 1) == (["x", "x_1"], [["1", "2"]])
    assert to_csv(result) == b'"x","x_1"\n1,2\n'
    assert pq.read_table(io.BytesIO(to_parquet(result))).column_names == ["x", "x_1"]


def test_engine_infinity_in_text(lake: Mesh) -> None:
    result = lake.query("SELECT 10/0 AS x, -10/0 AS y", as_=ADMIN)
    assert to_text_rows(result, 10) == (["x", "y"], [["Infinity", "-Infinity"]])
    assert to_json(result) == '[{"x": null, "y": null}]\n'


# --------------------------------------------------------------------------- streamed


def _streamed(table: pa.Table, size: int) -> dict[str, bytes]:
    """Each format written batch by batch (``size`` rows a batch)."""
    out = {}
    for name, write in (("json", write_json), ("csv", write_csv), ("parquet", stream_parquet)):
        sink = io.BytesIO()
        assert write(table.to_batches(max_chunksize=size), table.schema, sink) == table.num_rows
        out[name] = sink.getvalue()
    return out


def test_streamed_formats_write_what_whole_tables_write() -> None:
    table = pa.table(
        {
            "x": pa.array(range(10), pa.int64()),
            "x_dup": pa.array([f"s{i}" if i % 3 else None for i in range(10)]),
            "l": pa.array([[i, None] for i in range(10)]),
            "d": pa.array([pa.scalar(i * 86400, pa.int64()).as_py() for i in range(10)]).cast(
                pa.timestamp("s")
            ),
        }
    ).rename_columns(["x", "x", "l", "d"])
    for size in (1, 3, 100):
        got = _streamed(table, size)
        assert got["json"].decode() == to_json(table)
        assert got["csv"] == to_csv(table)
        back = pq.read_table(io.BytesIO(got["parquet"]))
        assert back.equals(pq.read_table(io.BytesIO(to_parquet(table))))
    empty = table.slice(0, 0)
    got = _streamed(empty, 5)
    assert got["json"] == b"[]\n" and got["csv"] == to_csv(empty)
    assert pq.read_table(io.BytesIO(got["parquet"])).column_names == ["x", "x_1", "l", "d"]


def test_streamed_parquet_settles_types_on_the_first_batch() -> None:
    far = pa.table({"t": pa.array([2**62, 1], pa.int64()).cast(pa.timestamp("s"))})
    sink = io.BytesIO()
    stream_parquet(far.to_batches(max_chunksize=1), far.schema, sink)  # first batch: too far
    assert pq.read_table(io.BytesIO(sink.getvalue())).schema.field("t").type == pa.large_string()
    late = pa.table({"t": pa.array([1, 2**62], pa.int64()).cast(pa.timestamp("s"))})
    with pytest.raises(pa.ArrowException):  # the file's type is settled: it cannot hold it
        stream_parquet(late.to_batches(max_chunksize=1), late.schema, io.BytesIO())
