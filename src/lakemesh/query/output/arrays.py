"""Arrow arrays and scalars built from buffers, and the per-value path beside the
vectorized one: the building blocks every output converter shares.

Arrays and scalars are built from buffers, never with ``pa.array``/``pa.scalar`` or a
Python value handed to a compute function: each of those asks whether the value is a
pandas object, which imports pandas (a fifth of a second of every CLI query).
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TEXT = pa.large_string()
FALSE = pa.Array.from_buffers(pa.bool_(), 1, [None, pa.py_buffer(b"\x00")])[0]


def string_array(values: Sequence[str | None]) -> pa.Array:
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
    return pa.Array.from_buffers(TEXT, len(values), buffers, null_count=nulls)


def int_array(values: Iterable[int], type_: pa.DataType) -> pa.Array:
    """An array of ``values`` of the signed integer type ``type_``."""
    width = type_.bit_width // 8
    data = b"".join(v.to_bytes(width, "little", signed=True) for v in values)
    return pa.Array.from_buffers(type_, len(data) // width, [None, pa.py_buffer(data)])


def int_scalar(value: int, type_: pa.DataType) -> pa.Scalar:
    return int_array([value], type_)[0]


def text_scalar(value: str) -> pa.Scalar:
    return string_array([value])[0]


def null_scalar(type_: pa.DataType) -> pa.Scalar:
    return pa.nulls(1, type_)[0]


def patched(text: pa.Array, where: pa.Array, render: Callable[[int], str]) -> pa.Array:
    """``text`` with the values at the true positions of ``where`` rendered by ``render``
    (given the position): the per-value path for what the vectorized one cannot do."""
    if not pc.any(where).as_py():
        return text
    mask = pc.fill_null(where, FALSE)
    positions = pc.indices_nonzero(mask).to_pylist()
    return pc.replace_with_mask(text, mask, string_array([render(i) for i in positions]))


def each(arr: pa.Array, render: Callable[[Any], str], *, raw: bool = False) -> pa.Array:
    """``render`` applied in Python to every non-null value (``raw``: to the integers
    under a temporal type, whose Python objects would round or need pandas)."""
    values = (arr.view(pa.int64()) if raw else arr).to_pylist()
    return string_array([None if v is None else render(v) for v in values])


def filled(texts: pa.Array) -> pa.Array:
    return pc.fill_null(texts, text_scalar("null"))


def as_list(texts: pa.Array) -> pa.Array:
    return pa.LargeListArray.from_arrays(int_array([0, len(texts)], pa.int64()), texts)
