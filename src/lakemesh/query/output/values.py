"""The JSON text and the plain text of every value of any Arrow type, one converter per
type, column by column (the rules are in the package docstring)."""

from __future__ import annotations

import base64
import json
import struct
import uuid
from contextlib import suppress
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lakemesh.query.output.arrays import (
    TEXT,
    each,
    filled,
    int_array,
    int_scalar,
    null_scalar,
    patched,
    string_array,
    text_scalar,
)
from lakemesh.query.output.temporal import PER_SECOND, clock, iso_duration, times, timestamps

#: A string that needs JSON escaping: a quote, a backslash or a control character.
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def text_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Each value's plain text, for a column a format cannot store as it is."""
    return pa.chunked_array([plain_text(chunk) for chunk in column.chunks], type=TEXT)


def json_text(arr: pa.Array) -> pa.Array:
    """The JSON text of each value (large_string), null where the value is null."""
    return _render(arr, quote=True)


def plain_text(arr: pa.Array) -> pa.Array:
    """The plain text of each value: JSON text, but a string-like value unquoted."""
    return _render(arr, quote=False)


def _render(arr: pa.Array, *, quote: bool) -> pa.Array:
    t = arr.type
    if len(arr) == 0:
        return string_array([])
    if isinstance(t, pa.BaseExtensionType):
        return _extension(arr, quote=quote)
    if pa.types.is_dictionary(t):
        return _render(arr.dictionary, quote=quote).take(arr.indices)
    if pa.types.is_union(t):
        return _union(arr, quote=quote)
    if pa.types.is_run_end_encoded(t):
        return _render(pc.run_end_decode(arr), quote=quote)
    if pa.types.is_null(t):
        return pa.nulls(len(arr), TEXT)
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return arr.cast(TEXT)
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
        return arr.cast(TEXT)
    if pa.types.is_timestamp(t):
        return timestamps(arr)
    if pa.types.is_date32(t):
        return clock(arr.cast(pa.timestamp("s")), date_only=True)
    if pa.types.is_date64(t):
        return clock(arr.view(pa.timestamp("ms")), date_only=True)
    if pa.types.is_time(t):
        return times(arr)
    if pa.types.is_duration(t):
        nanos = 10**9 // PER_SECOND[t.unit]
        return each(arr, lambda v: iso_duration(0, 0, v * nanos), raw=True)
    if t == pa.month_day_nano_interval():
        return each(arr, lambda v: iso_duration(v.months, v.days, v.nanoseconds))
    # what is left: binary, large_binary, fixed_size_binary, binary_view
    return each(arr.cast(pa.large_binary()), lambda v: base64.b64encode(v).decode())


def _extension(arr: pa.Array, *, quote: bool) -> pa.Array:
    name = arr.type.extension_name
    if name == "arrow.uuid":
        raw = each(arr.storage, lambda v: str(uuid.UUID(bytes=v)))
        return _quoted(raw) if quote else raw
    if name == "arrow.bool8":
        return _render(pc.not_equal(arr.storage, int_scalar(0, arr.storage.type)), quote=quote)
    return _render(arr.storage, quote=quote)


def _union(arr: pa.Array, *, quote: bool) -> pa.Array:
    """The active child's text: children's texts aligned to the union's rows, then chosen
    by type code. (pyarrow's ``type_codes`` and ``offsets`` ignore a slice's offset, so
    both are read from the buffers.)"""
    buffers = arr.buffers()
    codes = pa.Array.from_buffers(pa.int8(), len(arr), [None, buffers[1]], offset=arr.offset)
    child = pc.index_in(codes, value_set=int_array(arr.type.type_codes, pa.int8()))
    texts = []
    for i in range(arr.type.num_fields):
        text = _render(arr.field(i), quote=quote)
        if arr.type.mode == "dense":
            offsets = pa.Array.from_buffers(
                pa.int32(), len(arr), [None, buffers[2]], offset=arr.offset
            )
            chosen = pc.equal(child, int_scalar(i, child.type))
            text = text.take(pc.if_else(chosen, offsets, null_scalar(offsets.type)))
        texts.append(text)
    return pc.choose(child, *texts)


def _floats(arr: pa.Array, *, quote: bool) -> pa.Array:
    """Python's ``repr`` of the shortest text that round-trips at the column's width;
    NaN and infinities are null in JSON and spelled out in plain text."""
    finite = pc.if_else(pc.is_finite(arr), arr, null_scalar(arr.type))
    if pa.types.is_float64(arr.type):
        text = each(finite, repr)
    elif pa.types.is_float32(arr.type):  # Arrow's cast gives float32's shortest digits
        text = each(finite.cast(pa.string()), lambda v: repr(float(v)))
    else:
        text = each(finite, _shortest_half)
    if quote:
        return text
    return patched(text, pc.invert(pc.is_finite(arr)), lambda i: _NON_FINITE[repr(arr[i].as_py())])


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
    text = arr.cast(TEXT)
    width = arr.type.bit_width // 8
    data = arr.buffers()[1]

    def exact(i: int) -> str:
        start = (arr.offset + i) * width
        unscaled = int.from_bytes(data[start : start + width].to_pybytes(), "little", signed=True)
        digits = tuple(int(d) for d in str(abs(unscaled)))
        return str(Decimal((int(unscaled < 0), digits, -arr.type.scale)))

    return patched(text, pc.starts_with(text, "<"), exact)


def _struct(arr: pa.Array) -> pa.Array:
    names = [
        json.dumps(arr.type.field(i).name, ensure_ascii=False) for i in range(arr.type.num_fields)
    ]
    if not names:
        return pc.if_else(arr.is_valid(), text_scalar("{}"), null_scalar(TEXT))
    parts: list[Any] = []
    for i, (name, field) in enumerate(zip(names, arr.flatten(), strict=True)):
        parts += [text_scalar(("{" if i == 0 else ", ") + name + ": "), filled(json_text(field))]
    objects = pc.binary_join_element_wise(*parts, text_scalar("}"), text_scalar(""))
    return pc.if_else(arr.is_valid(), objects, null_scalar(TEXT))


def _list(arr: pa.Array) -> pa.Array:
    offsets, values = _entries(arr)
    return _joined(arr, offsets, filled(json_text(values)), "[", "]")


def _map(arr: pa.Array) -> pa.Array:
    offsets, keys = _entries(arr, arr.keys)
    _, items = _entries(arr, arr.items)
    key_text = _quoted(filled(plain_text(keys)))
    members = pc.binary_join_element_wise(key_text, filled(json_text(items)), text_scalar(": "))
    return _joined(arr, offsets, members, "{", "}")


def _entries(arr: pa.Array, child: pa.Array | None = None) -> tuple[pa.Array, pa.Array]:
    """Offsets from 0 (int64) and the part of the child array that ``arr``'s values use,
    so a slice converts only its own values."""
    t = arr.type
    if pa.types.is_fixed_size_list(t):
        size = t.list_size
        offsets = int_array(range(0, (len(arr) + 1) * size, size), pa.int64())
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
        offsets = pc.cumulative_sum(int_array(lengths, pa.int64()))
        return offsets, arr.values.take(int_array([i for r in spans for i in r], pa.int64()))
    raw = arr.offsets.cast(pa.int64())
    first, last = raw[0].as_py(), raw[-1].as_py()
    values = arr.values if child is None else child
    return pc.subtract(raw, raw[0]), values.slice(first, last - first)


def _joined(arr: pa.Array, offsets: pa.Array, texts: pa.Array, open_: str, close: str) -> pa.Array:
    """Each value's texts between ``offsets``, joined by ``", "`` inside the brackets."""
    inner = pc.binary_join(pa.LargeListArray.from_arrays(offsets, texts), text_scalar(", "))
    wrapped = pc.binary_join_element_wise(
        text_scalar(open_), inner, text_scalar(close), text_scalar("")
    )
    return pc.if_else(arr.is_valid(), wrapped, null_scalar(TEXT))


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
    quoted = pc.binary_join_element_wise(text_scalar('"'), raw, text_scalar('"'), text_scalar(""))
    needs = pc.match_substring_regex(raw, _NEEDS_ESCAPE)
    return patched(quoted, needs, lambda i: json.dumps(raw[i].as_py(), ensure_ascii=False))
