"""A governed result, written out faithfully: JSON, CSV, Parquet and terminal text (SPEC 3).

Every value is rendered column by column (one converter per Arrow type, vectorized with
``pyarrow.compute`` where that is exact, per value in Python where it is not) and rows
are assembled by Arrow, so a million-row result never becomes Python row objects, and
nanosecond timestamps never become pandas ones. The JSON rules:

* integers of any width and decimals (DuckDB HUGEINT/UHUGEINT arrive as decimal128(38,0))
  are exact JSON numbers, decimals from their digits (``1.50``, ``1.23E+4``), never
  through float; floats are the shortest text that round-trips at the column's own width
  (float32 ``0.1`` is ``0.1``), in Python's spelling (``1.0``, ``1e-07``); NaN and
  infinities are ``null``, JSON has no spelling for them;
* booleans, nulls and strings as JSON has them (non-ASCII stays unescaped);
* dates ``YYYY-MM-DD``; timestamps ``YYYY-MM-DDTHH:MM:SS[.fraction]`` where the fraction
  has exactly the unit's digits (3, 6 or 9) and is left out when it is zero; zoned
  timestamps are shown in their column's zone with a ``+HH:MM`` offset (``+HH:MM:SS``
  for the odd historical offset with seconds, e.g. local mean time before 1893, since
  dropping them would move the instant). Years outside 1..9999 get ISO 8601's sign
  (``+10000-01-01``, ``-0001-12-31``, astronomical years) and, when zoned, are shown in
  UTC; a zone the time-zone database does not know is shown in UTC too. Past 2037,
  Arrow's zone data has no more DST rules: a summer instant then shows standard time (the
  instant is still exact). Times of day ``HH:MM:SS[.fraction]`` by the same fraction
  rule;
* binary values as standard base64; ``arrow.uuid`` as the canonical UUID text;
  ``arrow.bool8`` as booleans; other extension types (DuckDB BIGNUM is ``arrow.opaque``
  over binary) by their storage type;
* durations and intervals as ISO 8601 durations in PostgreSQL's ``iso_8601``
  IntervalStyle: months make years and months, days stay days, the rest makes hours,
  minutes and seconds (each truncated toward zero, so each component carries its own
  sign: ``P1Y2M3DT4H5M6.5S``, ``P-1D``, ``PT-1.5S``; zero is ``PT0S``). Arrow durations
  are exact elapsed time, so they have only a time part (a Spark day is ``PT24H``,
  DuckDB's ``INTERVAL 1 DAY`` is ``P1D``). Month and day-time intervals cannot reach
  this module: pyarrow has no array class for them;
* lists are arrays and structs objects (field names as given, even when repeated);
  maps are objects keyed by each key's plain text (below: strings as they are, ``1`` as
  ``"1"``; repeated keys stay repeated members); dictionaries (DuckDB ENUM) their values;
  unions the active child's value; the null type ``null``.

Plain text (terminal tables, CSV cells, and Parquet columns of types Parquet cannot
store) is the JSON text without the quotes of a top-level string-like value, nested
values being their JSON text; there, NaN and infinities are ``NaN``, ``Infinity`` and
``-Infinity`` (as Java, pandas and DuckDB read them back) and a terminal shows NULL as
``NULL_TEXT``. Output column names are first made unique the way DuckDB does it.
"""

from __future__ import annotations

import base64
import functools
import io
import itertools
import json
import string
import struct
import uuid
from array import array
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: What a terminal table shows for NULL: unlike an empty cell, it is not an empty string.
NULL_TEXT = "NULL"

_TEXT = pa.large_string()
_PER_SECOND = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}
_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}
_DAY_SECONDS = 86_400
#: Timestamps from 0001-01-02 up to 9999-12-31 (days since the epoch) are formatted by
#: Arrow; far outside, its text is a placeholder, and zones need a day's margin.
_FIRST_DAY, _END_DAY = -719_161, 2_932_896
_INT64 = (-(2**63), 2**63 - 1)
#: A string that needs JSON escaping: a quote, a backslash or a control character.
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


# --------------------------------------------------------------------------- public API


def unique_names(names: Sequence[str]) -> list[str]:
    """Duplicate column names made unique exactly as DuckDB's result naming does
    (``QueryResult::DeduplicateColumns``; case-insensitive for ASCII letters only, like
    DuckDB), so a result is named the same whichever engine ran it: ``x, x, X, x_1``
    become ``x, x_1, X_2, x_1_1``."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        key = name.translate(_ASCII_LOWER)
        if key not in seen:
            seen[key] = 1
            out.append(name)
            continue
        candidate = f"{name}_{seen[key]}"
        while candidate.translate(_ASCII_LOWER) in seen:
            seen[key] += 1
            candidate = f"{name}_{seen[key]}"
        seen[candidate.translate(_ASCII_LOWER)] = 1
        out.append(candidate)
    return out


def with_unique_names(table: pa.Table) -> pa.Table:
    """``table`` with unique column names (the same object when they already are): a
    JSON object, a CSV header or a Parquet schema would otherwise lose a column."""
    names = unique_names(table.column_names)
    return table if names == table.column_names else table.rename_columns(names)


def to_json(table: pa.Table) -> str:
    """A JSON array of row objects, then a newline; spaced like ``json.dumps``."""
    table = with_unique_names(table)
    keys = [json.dumps(name, ensure_ascii=False) + ": " for name in table.column_names]
    batches = [_json_rows(batch, keys) for batch in table.to_batches() if batch.num_rows]
    return "[" + ", ".join(batches) + "]\n"


def to_csv(table: pa.Table) -> bytes:
    """CSV with a header. Integers, booleans, strings, decimals and all-finite
    floats are written by pyarrow (so numbers stay unquoted); every other column as its
    plain text (pyarrow fails on nested values, writes binary raw, NaN as ``nan`` and
    timestamps with a space). NULL is an empty cell, an empty string a quoted one (so a
    row of one NULL is an empty line, which some readers skip)."""
    table = with_unique_names(table)
    columns = [column if _csv_native(column) else _text_column(column) for column in table.columns]
    import pyarrow.csv as pacsv  # here: most results are never written as CSV

    sink = io.BytesIO()
    pacsv.write_csv(pa.table(columns, names=table.column_names), sink)
    return sink.getvalue()


def to_parquet(table: pa.Table) -> bytes:
    """Parquet; a column whose type Parquet cannot store becomes its plain text. Durations
    count as such: pyarrow would store a bare int64 whose unit only Arrow readers see. So
    does a column with a value Parquet cannot hold (seconds far beyond the milliseconds
    pyarrow converts them to)."""
    table = with_unique_names(table)
    columns = [
        column if _parquet_stores(column.type) else _text_column(column) for column in table.columns
    ]
    try:
        return _parquet_bytes(pa.table(columns, names=table.column_names))
    except (pa.ArrowException, OSError):
        columns = [column if _parquet_holds(column) else _text_column(column) for column in columns]
        return _parquet_bytes(pa.table(columns, names=table.column_names))


def to_text_rows(table: pa.Table, limit: int) -> tuple[list[str], list[list[str]]]:
    """The header and the first ``limit`` rows of a terminal table, as plain text
    (``NULL_TEXT`` for NULL)."""
    # a table without columns does not clamp a slice to its rows
    table = with_unique_names(table.slice(0, max(min(limit, table.num_rows), 0)))
    columns = [
        pc.fill_null(_text_column(column), _text(NULL_TEXT)).to_pylist() for column in table.columns
    ]
    if not columns:
        return [], [[] for _ in range(table.num_rows)]
    return table.column_names, [list(row) for row in zip(*columns, strict=True)]


# --------------------------------------------------------------------------- formats


def _json_rows(batch: pa.RecordBatch, keys: list[str]) -> str:
    """The rows of one batch as JSON objects joined by ``", "``, assembled by Arrow."""
    if not keys:
        return ", ".join(["{}"] * batch.num_rows)
    parts: list[Any] = []
    for i, (key, column) in enumerate(zip(keys, batch.columns, strict=True)):
        parts += [_text(("{" if i == 0 else ", ") + key), _filled(_json(column))]
    rows = pc.binary_join_element_wise(*parts, _text("}"), _text(""))
    return str(pc.binary_join(_as_list(rows), _text(", "))[0].as_py())


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


def _text_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pa.chunked_array([_plain(chunk) for chunk in column.chunks], type=_TEXT)


# --------------------------------------------------------------------------- values


def _json(arr: pa.Array) -> pa.Array:
    """The JSON text of each value (large_string), null where the value is null."""
    return _render(arr, quote=True)


def _plain(arr: pa.Array) -> pa.Array:
    """The plain text of each value: JSON text, but a string-like value unquoted."""
    return _render(arr, quote=False)


def _render(arr: pa.Array, *, quote: bool) -> pa.Array:
    t = arr.type
    if len(arr) == 0:
        return _strings([])
    if isinstance(t, pa.BaseExtensionType):
        return _extension(arr, quote=quote)
    if pa.types.is_dictionary(t):
        return _render(arr.dictionary, quote=quote).take(arr.indices)
    if pa.types.is_union(t):
        return _union(arr, quote=quote)
    if pa.types.is_run_end_encoded(t):
        return _render(pc.run_end_decode(arr), quote=quote)
    if pa.types.is_null(t):
        return pa.nulls(len(arr), _TEXT)
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return arr.cast(_TEXT)
    if pa.types.is_floating(t):
        return _floats(arr, quote=quote)
    if pa.types.is_decimal(t):
        return _decimals(arr)
    if pa.types.is_struct(t):
        return _struct(arr)
    if pa.types.is_map(t):
        return _map(arr)
    if _is_list(t):
        return _list(arr)
    raw = _string_like(arr)
    return _quoted(raw) if quote else raw


def _string_like(arr: pa.Array) -> pa.Array:
    """The unquoted text of a value JSON shows as a string."""
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return arr.cast(_TEXT)
    if pa.types.is_timestamp(t):
        return _timestamps(arr)
    if pa.types.is_date32(t):
        return _clock(arr.cast(pa.timestamp("s")), date_only=True)
    if pa.types.is_date64(t):
        return _clock(arr.view(pa.timestamp("ms")), date_only=True)
    if pa.types.is_time(t):
        return _times(arr)
    if pa.types.is_duration(t):
        nanos = 10**9 // _PER_SECOND[t.unit]
        return _each(arr, lambda v: _iso_duration(0, 0, v * nanos), raw=True)
    if t == pa.month_day_nano_interval():
        return _each(arr, lambda v: _iso_duration(v.months, v.days, v.nanoseconds))
    # what is left: binary, large_binary, fixed_size_binary, binary_view
    return _each(arr.cast(pa.large_binary()), lambda v: base64.b64encode(v).decode())


def _extension(arr: pa.Array, *, quote: bool) -> pa.Array:
    name = arr.type.extension_name
    if name == "arrow.uuid":
        raw = _each(arr.storage, lambda v: str(uuid.UUID(bytes=v)))
        return _quoted(raw) if quote else raw
    if name == "arrow.bool8":
        return _render(pc.not_equal(arr.storage, _scalar(0, arr.storage.type)), quote=quote)
    return _render(arr.storage, quote=quote)


def _union(arr: pa.Array, *, quote: bool) -> pa.Array:
    """The active child's text: children's texts aligned to the union's rows, then chosen
    by type code. (pyarrow's ``type_codes`` and ``offsets`` ignore a slice's offset, so
    both are read from the buffers.)"""
    buffers = arr.buffers()
    codes = pa.Array.from_buffers(pa.int8(), len(arr), [None, buffers[1]], offset=arr.offset)
    child = pc.index_in(codes, value_set=_ints(arr.type.type_codes, pa.int8()))
    texts = []
    for i in range(arr.type.num_fields):
        text = _render(arr.field(i), quote=quote)
        if arr.type.mode == "dense":
            offsets = pa.Array.from_buffers(
                pa.int32(), len(arr), [None, buffers[2]], offset=arr.offset
            )
            chosen = pc.equal(child, _scalar(i, child.type))
            text = text.take(pc.if_else(chosen, offsets, _null(offsets.type)))
        texts.append(text)
    return pc.choose(child, *texts)


def _floats(arr: pa.Array, *, quote: bool) -> pa.Array:
    """Python's ``repr`` of the shortest text that round-trips at the column's width;
    NaN and infinities are null in JSON and spelled out in plain text."""
    finite = pc.if_else(pc.is_finite(arr), arr, _null(arr.type))
    if pa.types.is_float64(arr.type):
        text = _each(finite, repr)
    elif pa.types.is_float32(arr.type):  # Arrow's cast gives float32's shortest digits
        text = _each(finite.cast(pa.string()), lambda v: repr(float(v)))
    else:
        text = _each(finite, _shortest_half)
    if quote:
        return text
    return _patched(text, pc.invert(pc.is_finite(arr)), lambda i: _NON_FINITE[repr(arr[i].as_py())])


def _shortest_half(value: float) -> str:
    """The shortest text that reads back as the same float16 (pyarrow has no such cast)."""
    half = struct.pack("<e", value)
    for digits in range(1, 17):
        text = f"{value:.{digits}g}"
        with suppress(OverflowError):  # rounded past float16's largest value
            if struct.pack("<e", float(text)) == half:
                return repr(float(text))
    return repr(value)


def _decimals(arr: pa.Array) -> pa.Array:
    """Arrow's exact decimal text; it prints a placeholder for scales it cannot format
    (beyond the width's precision), which are rebuilt from the unscaled integer."""
    text = arr.cast(_TEXT)
    width = arr.type.bit_width // 8
    data = arr.buffers()[1]

    def exact(i: int) -> str:
        start = (arr.offset + i) * width
        unscaled = int.from_bytes(data[start : start + width].to_pybytes(), "little", signed=True)
        digits = tuple(int(d) for d in str(abs(unscaled)))
        return str(Decimal((int(unscaled < 0), digits, -arr.type.scale)))

    return _patched(text, pc.starts_with(text, "<"), exact)


def _struct(arr: pa.Array) -> pa.Array:
    names = [
        json.dumps(arr.type.field(i).name, ensure_ascii=False) for i in range(arr.type.num_fields)
    ]
    if not names:
        return pc.if_else(arr.is_valid(), _text("{}"), _null(_TEXT))
    parts: list[Any] = []
    for i, (name, field) in enumerate(zip(names, arr.flatten(), strict=True)):
        parts += [_text(("{" if i == 0 else ", ") + name + ": "), _filled(_json(field))]
    objects = pc.binary_join_element_wise(*parts, _text("}"), _text(""))
    return pc.if_else(arr.is_valid(), objects, _null(_TEXT))


def _list(arr: pa.Array) -> pa.Array:
    offsets, values = _entries(arr)
    return _joined(arr, offsets, _filled(_json(values)), "[", "]")


def _map(arr: pa.Array) -> pa.Array:
    offsets, keys = _entries(arr, arr.keys)
    _, items = _entries(arr, arr.items)
    key_text = _quoted(_filled(_plain(keys)))
    members = pc.binary_join_element_wise(key_text, _filled(_json(items)), _text(": "))
    return _joined(arr, offsets, members, "{", "}")


def _entries(arr: pa.Array, child: pa.Array | None = None) -> tuple[pa.Array, pa.Array]:
    """Offsets from 0 (int64) and the part of the child array that ``arr``'s values use,
    so a slice converts only its own values."""
    t = arr.type
    if pa.types.is_fixed_size_list(t):
        size = t.list_size
        offsets = _ints(range(0, (len(arr) + 1) * size, size), pa.int64())
        return offsets, arr.values.slice(arr.offset * size, len(arr) * size)
    if pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        # pyarrow 26's list_view -> list cast drops values, so gather them here
        starts, sizes = arr.offsets.to_pylist(), arr.sizes.to_pylist()
        valid = arr.is_valid().to_pylist()
        spans = [
            range(s, s + n) if ok else range(0)
            for s, n, ok in zip(starts, sizes, valid, strict=True)
        ]
        lengths = [0, *(len(r) for r in spans)]
        offsets = pc.cumulative_sum(_ints(lengths, pa.int64()))
        return offsets, arr.values.take(_ints([i for r in spans for i in r], pa.int64()))
    raw = arr.offsets.cast(pa.int64())
    first, last = raw[0].as_py(), raw[-1].as_py()
    values = arr.values if child is None else child
    return pc.subtract(raw, raw[0]), values.slice(first, last - first)


def _joined(arr: pa.Array, offsets: pa.Array, texts: pa.Array, open_: str, close: str) -> pa.Array:
    """Each value's texts between ``offsets``, joined by ``", "`` inside the brackets."""
    inner = pc.binary_join(pa.LargeListArray.from_arrays(offsets, texts), _text(", "))
    wrapped = pc.binary_join_element_wise(_text(open_), inner, _text(close), _text(""))
    return pc.if_else(arr.is_valid(), wrapped, _null(_TEXT))


def _timestamps(arr: pa.Array) -> pa.Array:
    t = arr.type
    naive = arr.view(pa.timestamp(t.unit))
    if t.tz is None:
        return _clock(naive)
    per_second = _PER_SECOND[t.unit]
    utc = arr.view(pa.int64())
    inside = _in_range(utc, per_second)
    try:
        local = pc.local_timestamp(pc.if_else(inside, arr, _null(arr.type)))
    except pa.ArrowInvalid:  # a zone the database does not know: show the instant in UTC
        return pc.binary_join_element_wise(_clock(naive), _text("+00:00"), _text(""))
    seconds = pc.divide(pc.subtract(local.view(pa.int64()), utc), _scalar(per_second, pa.int64()))
    offsets = pc.unique(seconds)
    offset_text = _strings([_offset(s) for s in offsets.to_pylist()])
    zoned = pc.binary_join_element_wise(
        _clock(local),
        offset_text.take(pc.index_in(seconds, value_set=offsets)),
        _text(""),
    )
    outside = pc.invert(inside)
    return _patched(zoned, outside, lambda i: _civil(utc[i].as_py(), t.unit) + "+00:00")


def _offset(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def _clock(naive: pa.Array, *, date_only: bool = False) -> pa.Array:
    """Naive timestamps as Arrow's cast prints them (``YYYY-MM-DD HH:MM:SS`` and every
    fraction digit of the unit: the space becomes ``T``, an all-zero fraction is cut),
    forty times faster than ``pc.strftime``; by ``_civil`` outside its range."""
    unit = naive.type.unit
    ints = naive.view(pa.int64())
    inside = _in_range(ints, _PER_SECOND[unit])
    text = pc.if_else(inside, naive, _null(naive.type)).cast(_TEXT)
    if date_only:
        text = pc.utf8_slice_codeunits(text, 0, 10)
    else:
        text = pc.binary_replace_slice(text, 10, 11, "T")
        if _DIGITS[unit]:
            text = pc.replace_substring_regex(text, r"\.0+$", "")
    return _patched(text, pc.invert(inside), lambda i: _civil(ints[i].as_py(), unit, date_only))


def _in_range(ints: pa.Array, per_second: int) -> pa.Array:
    """Whether each instant lies in the days Arrow's formatting handles (see
    ``_FIRST_DAY``)."""
    first, end = (
        _scalar(min(max(day * _DAY_SECONDS * per_second, _INT64[0]), _INT64[1]), pa.int64())
        for day in (_FIRST_DAY, _END_DAY)
    )
    return pc.and_(pc.greater_equal(ints, first), pc.less(ints, end))


def _civil(value: int, unit: str, date_only: bool = False) -> str:
    """ISO text of a timestamp in any year of the proleptic Gregorian calendar (Howard
    Hinnant's days-to-civil algorithm), where Arrow's formatting cannot go."""
    seconds, fraction = divmod(value, _PER_SECOND[unit])
    days, clock = divmod(seconds, _DAY_SECONDS)
    z = days + 719_468
    era, doe = divmod(z, 146_097)
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (month <= 2)
    sign = "-" if year < 0 else "+" if year > 9999 else ""
    date = f"{sign}{abs(year):04d}-{month:02d}-{day:02d}"
    if date_only:
        return date
    hours, rest = divmod(clock, 3600)
    text = f"{date}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return text + (f".{fraction:0{_DIGITS[unit]}d}" if fraction else "")


def _times(arr: pa.Array) -> pa.Array:
    """Arrow's time text with all-zero fractions cut; values outside one day (invalid
    Arrow data, but possible) as signed hours beyond 23."""
    unit = arr.type.unit
    ints = arr.view(pa.int32() if arr.type.bit_width == 32 else pa.int64())
    per_day = _DAY_SECONDS * _PER_SECOND[unit]
    inside = pc.and_(
        pc.greater_equal(ints, _scalar(0, ints.type)), pc.less(ints, _scalar(per_day, ints.type))
    )
    text = pc.if_else(inside, arr, _null(arr.type)).cast(_TEXT)
    if _DIGITS[unit]:
        text = pc.replace_substring_regex(text, r"\.0+$", "")

    def signed(i: int) -> str:
        value = ints[i].as_py()
        seconds, fraction = divmod(abs(value), _PER_SECOND[unit])
        hours, rest = divmod(seconds, 3600)
        clock = f"{'-' if value < 0 else ''}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
        return clock + (f".{fraction:0{_DIGITS[unit]}d}" if fraction else "")

    return _patched(text, pc.invert(inside), signed)


def _iso_duration(months: int, days: int, nanos: int) -> str:
    """ISO 8601 duration in PostgreSQL's ``iso_8601`` style (each component signed)."""
    years, months = _truncated(months, 12)
    hours, nanos = _truncated(nanos, 3600 * 10**9)
    minutes, nanos = _truncated(nanos, 60 * 10**9)
    date = "".join(f"{v}{u}" for v, u in ((years, "Y"), (months, "M"), (days, "D")) if v)
    time = "".join(f"{v}{u}" for v, u in ((hours, "H"), (minutes, "M")) if v)
    if nanos:
        whole, fraction = divmod(abs(nanos), 10**9)
        decimals = f".{fraction:09d}".rstrip("0") if fraction else ""
        time += f"{'-' if nanos < 0 else ''}{whole}{decimals}S"
    if not date and not time:
        return "PT0S"
    return f"P{date}" + (f"T{time}" if time else "")


def _truncated(value: int, divisor: int) -> tuple[int, int]:
    """``divmod`` rounding toward zero, as C (and so PostgreSQL) divides."""
    quotient = abs(value) // divisor * (-1 if value < 0 else 1)
    return quotient, value - quotient * divisor


# --------------------------------------------------------------------------- helpers


def _is_list(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or pa.types.is_list_view(t)
        or pa.types.is_large_list_view(t)
    )


def _quoted(raw: pa.Array) -> pa.Array:
    """JSON strings: quotes around the text, and ``json.dumps`` for the few values with a
    character to escape."""
    quoted = pc.binary_join_element_wise(_text('"'), raw, _text('"'), _text(""))
    needs = pc.match_substring_regex(raw, _NEEDS_ESCAPE)
    return _patched(quoted, needs, lambda i: json.dumps(raw[i].as_py(), ensure_ascii=False))


def _patched(text: pa.Array, where: pa.Array, render: Callable[[int], str]) -> pa.Array:
    """``text`` with the values at the true positions of ``where`` rendered by ``render``
    (given the position): the per-value path for what the vectorized one cannot do."""
    if not pc.any(where).as_py():
        return text
    mask = pc.fill_null(where, _FALSE)
    positions = pc.indices_nonzero(mask).to_pylist()
    return pc.replace_with_mask(text, mask, _strings([render(i) for i in positions]))


def _each(arr: pa.Array, render: Callable[[Any], str], *, raw: bool = False) -> pa.Array:
    """``render`` applied in Python to every non-null value (``raw``: to the integers
    under a temporal type, whose Python objects would round or need pandas)."""
    values = (arr.view(pa.int64()) if raw else arr).to_pylist()
    return _strings([None if v is None else render(v) for v in values])


def _filled(texts: pa.Array) -> pa.Array:
    return pc.fill_null(texts, _text("null"))


def _as_list(texts: pa.Array) -> pa.Array:
    return pa.LargeListArray.from_arrays(_ints([0, len(texts)], pa.int64()), texts)


# Arrays and scalars are built from buffers, never with ``pa.array``/``pa.scalar`` or a
# Python value handed to a compute function: each of those asks whether the value is a
# pandas object, which imports pandas (a fifth of a second of every CLI query).


def _strings(values: Sequence[str | None]) -> pa.Array:
    """A large_string array of ``values``."""
    encoded = [b"" if v is None else v.encode() for v in values]
    offsets = array("q", [0])
    offsets.extend(itertools.accumulate(map(len, encoded)))
    nulls = sum(v is None for v in values)
    validity = None
    if nulls:
        bits = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
        validity = pa.py_buffer(np.packbits(bits, bitorder="little").tobytes())
    buffers = [validity, pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(_TEXT, len(values), buffers, null_count=nulls)


def _ints(values: Iterable[int], type_: pa.DataType) -> pa.Array:
    """An array of ``values`` of the signed integer type ``type_``."""
    width = type_.bit_width // 8
    data = b"".join(v.to_bytes(width, "little", signed=True) for v in values)
    return pa.Array.from_buffers(type_, len(data) // width, [None, pa.py_buffer(data)])


def _scalar(value: int, type_: pa.DataType) -> pa.Scalar:
    return _ints([value], type_)[0]


def _text(value: str) -> pa.Scalar:
    return _strings([value])[0]


def _null(type_: pa.DataType) -> pa.Scalar:
    return pa.nulls(1, type_)[0]


_FALSE = pa.Array.from_buffers(pa.bool_(), 1, [None, pa.py_buffer(b"\x00")])[0]
