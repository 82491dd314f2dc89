"""Dates, times, timestamps and durations as ISO 8601 text (the rules are in the
package docstring): vectorized by Arrow inside the years it formats, by hand outside."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from lakemesh.query.output.arrays import (
    TEXT,
    int_scalar,
    null_scalar,
    patched,
    string_array,
    text_scalar,
)

PER_SECOND = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}
_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}
_DAY_SECONDS = 86_400
#: Timestamps from 0001-01-02 up to 9999-12-31 (days since the epoch) are formatted by
#: Arrow; far outside, its text is a placeholder, and zones need a day's margin.
_FIRST_DAY, _END_DAY = -719_161, 2_932_896
_INT64 = (-(2**63), 2**63 - 1)


def timestamps(arr: pa.Array) -> pa.Array:
    t = arr.type
    naive = arr.view(pa.timestamp(t.unit))
    if t.tz is None:
        return clock(naive)
    per_second = PER_SECOND[t.unit]
    utc = arr.view(pa.int64())
    inside = _in_range(utc, per_second)
    try:
        local = pc.local_timestamp(pc.if_else(inside, arr, null_scalar(arr.type)))
    except pa.ArrowInvalid:  # a zone the database does not know: show the instant in UTC
        return pc.binary_join_element_wise(clock(naive), text_scalar("+00:00"), text_scalar(""))
    seconds = pc.divide(
        pc.subtract(local.view(pa.int64()), utc), int_scalar(per_second, pa.int64())
    )
    offsets = pc.unique(seconds)
    offset_text = string_array([_offset(s) for s in offsets.to_pylist()])
    zoned = pc.binary_join_element_wise(
        clock(local),
        offset_text.take(pc.index_in(seconds, value_set=offsets)),
        text_scalar(""),
    )
    outside = pc.invert(inside)
    return patched(zoned, outside, lambda i: _civil(utc[i].as_py(), t.unit) + "+00:00")


def _offset(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def clock(naive: pa.Array, *, date_only: bool = False) -> pa.Array:
    """Naive timestamps as Arrow's cast prints them (``YYYY-MM-DD HH:MM:SS`` and every
    fraction digit of the unit: the space becomes ``T``, an all-zero fraction is cut),
    forty times faster than ``pc.strftime``; by ``_civil`` outside its range."""
    unit = naive.type.unit
    ints = naive.view(pa.int64())
    inside = _in_range(ints, PER_SECOND[unit])
    text = pc.if_else(inside, naive, null_scalar(naive.type)).cast(TEXT)
    if date_only:
        text = pc.utf8_slice_codeunits(text, 0, 10)
    else:
        text = pc.binary_replace_slice(text, 10, 11, "T")
        if _DIGITS[unit]:
            text = pc.replace_substring_regex(text, r"\.0+$", "")
    return patched(text, pc.invert(inside), lambda i: _civil(ints[i].as_py(), unit, date_only))


def _in_range(ints: pa.Array, per_second: int) -> pa.Array:
    """Whether each instant lies in the days Arrow's formatting handles (see
    ``_FIRST_DAY``)."""
    first, end = (
        int_scalar(min(max(day * _DAY_SECONDS * per_second, _INT64[0]), _INT64[1]), pa.int64())
        for day in (_FIRST_DAY, _END_DAY)
    )
    return pc.and_(pc.greater_equal(ints, first), pc.less(ints, end))


def _civil(value: int, unit: str, date_only: bool = False) -> str:
    """ISO text of a timestamp in any year of the proleptic Gregorian calendar (Howard
    Hinnant's days-to-civil algorithm), where Arrow's formatting cannot go."""
    seconds, fraction = divmod(value, PER_SECOND[unit])
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


def times(arr: pa.Array) -> pa.Array:
    """Arrow's time text with all-zero fractions cut; values outside one day (invalid
    Arrow data, but possible) as signed hours beyond 23."""
    unit = arr.type.unit
    ints = arr.view(pa.int32() if arr.type.bit_width == 32 else pa.int64())
    per_day = _DAY_SECONDS * PER_SECOND[unit]
    inside = pc.and_(
        pc.greater_equal(ints, int_scalar(0, ints.type)),
        pc.less(ints, int_scalar(per_day, ints.type)),
    )
    text = pc.if_else(inside, arr, null_scalar(arr.type)).cast(TEXT)
    if _DIGITS[unit]:
        text = pc.replace_substring_regex(text, r"\.0+$", "")

    def signed(i: int) -> str:
        value = ints[i].as_py()
        seconds, fraction = divmod(abs(value), PER_SECOND[unit])
        hours, rest = divmod(seconds, 3600)
        clock = f"{'-' if value < 0 else ''}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
        return clock + (f".{fraction:0{_DIGITS[unit]}d}" if fraction else "")

    return patched(text, pc.invert(inside), signed)


def iso_duration(months: int, days: int, nanos: int) -> str:
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
