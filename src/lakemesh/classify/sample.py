"""A column's sample, bounded and deduplicated once, for every recogniser to read.

Recognisers see distinct values with their counts (a column of 1,000 rows often has
far fewer), as text: strings trimmed, integers written out in decimal. Cells over
``MAX_CELL`` bytes are long text: they count as sampled but no recogniser looks inside
them, so a 10 MB cell costs one length lookup. Dates and timestamps are kept as days.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import pyarrow as pa
import pyarrow.compute as pc

MAX_ROWS = 10_000  #: rows looked at per column, whatever the caller passes
MAX_CELL = 256  #: bytes of a cell a recogniser may look at; longer cells are long text
CAP = 100  #: distinct candidates a Python-level validator checks per recogniser
PROBE = 25  #: candidates checked before giving up on a column that matches none

TEXT = "text"
INTEGER = "integer"
TEMPORAL = "temporal"
OTHER = "other"  #: floats, booleans, decimals with a scale, times: nothing to recognise

_BINARY = ("binary", "large_binary", "fixed_size_binary", "binary_view")
_NESTED = (
    "struct", "list", "large_list", "fixed_size_list", "list_view", "large_list_view", "map",
    "dense_union", "sparse_union", "union", "extension",
)  # fmt: skip


_NUMBERISH = r"^[A-Za-z+]{0,6}[0-9][0-9A-Za-z+ .\-/]{3,48}$"


def skip_reason(type_text: str) -> str | None:
    """Why a column of this Arrow type is not classified at all (None: it is)."""
    text = type_text.strip().lower()
    if text.startswith(_BINARY):
        return "binary column"
    if text.startswith(_NESTED):
        return "nested column"
    return None


@dataclass(frozen=True)
class Tally:
    """Values a check accepted (weighted by their counts) out of those it could see."""

    matched: int
    estimated: bool = False  #: some candidates were not checked; ``matched`` extrapolates


@dataclass(eq=False)
class Sample:
    kind: str
    total: int  #: non-null, non-blank values in the sample (long text included)
    long: int = 0  #: values over MAX_CELL bytes
    distinct: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    counts: pa.Array = field(default_factory=lambda: pa.array([], pa.int64()))
    days: pa.Array | None = None  #: TEMPORAL: the non-null values as date32

    @classmethod
    def of(cls, values: pa.Array | pa.ChunkedArray, type_text: str) -> Sample | str:
        """The sample of a column, or why it cannot be classified."""
        reason = skip_reason(type_text)
        arr = _one_array(values)
        if reason is None and arr is not None:
            reason = skip_reason(str(arr.type))
        if reason is not None:
            return reason
        if arr is None or arr.null_count == len(arr) or pa.types.is_null(arr.type):
            return "no non-null values in the sample"
        arr = pc.drop_null(arr)
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        t = arr.type
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            return cls._text(arr.cast(pa.string()) if not pa.types.is_string(t) else arr)
        if pa.types.is_integer(t) or (pa.types.is_decimal(t) and t.scale == 0):
            text = pc.cast(arr, pa.string())
            return cls._counted(INTEGER, text, len(text), 0)
        if pa.types.is_date(t) or pa.types.is_timestamp(t):
            days = pc.cast(arr, pa.date32())
            return cls(TEMPORAL, len(days), days=days)
        return cls(OTHER, len(arr))

    @classmethod
    def _text(cls, arr: pa.Array) -> Sample:
        lengths = pc.binary_length(arr)
        long = 0
        if len(arr) and (pc.max(lengths).as_py() or 0) > MAX_CELL:
            long_mask = pc.greater(lengths, MAX_CELL)
            long = pc.sum(long_mask).as_py() or 0
            arr = arr.filter(pc.invert(long_mask))
        trimmed = pc.utf8_trim_whitespace(arr)
        if len(trimmed) and (pc.min(pc.binary_length(trimmed)).as_py() or 0) == 0:
            trimmed = trimmed.filter(pc.greater(pc.binary_length(trimmed), 0))
        return cls._counted(TEXT, trimmed, len(trimmed) + long, long)

    @classmethod
    def _counted(cls, kind: str, arr: pa.Array, total: int, long: int) -> Sample:
        vc = pc.value_counts(arr)
        return cls(kind, total, long, vc.field("values"), vc.field("counts"))

    # ------------------------------------------------------------------ views

    @cached_property
    def values(self) -> list[str]:
        """The distinct values, in first-seen order."""
        return list(self.distinct.to_pylist())

    @cached_property
    def weights(self) -> list[int]:
        return list(self.counts.to_pylist())

    @cached_property
    def numberish(self) -> float:
        """Share of the sampled values that could be a written number (IBAN, card,
        national or account number): up to six letters, then a digit, then digits,
        letters and separators. Recognisers of numbers skip a column without them."""
        if self.kind == INTEGER:
            return 1.0
        return self.weight(self.match(_NUMBERISH)) / self.total if self.total else 0.0

    @cached_property
    def compact(self) -> pa.Array:
        """Distinct values without spaces, dots, dashes and slashes, upper-cased: how
        IBANs, card and national numbers are written in many ways."""
        if self.kind == INTEGER:
            return self.distinct
        return pc.utf8_upper(pc.replace_substring_regex(self.distinct, r"[\s.\-/]+", ""))

    @cached_property
    def compact_values(self) -> list[str]:
        return list(self.compact.to_pylist())

    @property
    def distinct_count(self) -> int:
        return len(self.distinct)

    def weight(self, mask: pa.Array) -> int:
        """How many sampled values a boolean mask over the distinct values selects."""
        return int(pc.sum(pc.filter(self.counts, mask)).as_py() or 0)

    def match(self, regex: str, *, compact: bool = False) -> pa.Array:
        """A mask over the distinct values: which match an RE2 regex (linear time)."""
        return pc.match_substring_regex(self.compact if compact else self.distinct, regex)

    def contains(self, text: str) -> pa.Array:
        """A mask over the distinct values: which contain ``text``."""
        return pc.match_substring(self.distinct, text)

    def tally(
        self,
        check: Callable[[str], bool],
        where: pa.Array | None = None,
        *,
        compact: bool = False,
        cap: int = CAP,
        values: Sequence[str] | None = None,
    ) -> Tally:
        """Weighted count of the distinct values ``check`` accepts, among those ``where``
        selects. At most ``cap`` candidates are checked; if after ``PROBE`` of them none
        passed, the rest are not checked either. Unchecked candidates count in the same
        proportion as the checked ones."""
        source = values if values is not None else self.compact_values if compact else self.values
        selected = where.to_pylist() if where is not None else None
        matched = checked = seen = remaining = 0
        for i, (value, count) in enumerate(zip(source, self.weights, strict=True)):
            if selected is not None and not selected[i]:
                continue
            if seen >= cap or (seen >= PROBE and matched == 0):
                remaining += count
                continue
            seen += 1
            checked += count
            if safe(check, value):
                matched += count
        if remaining and checked:
            return Tally(matched + round(remaining * matched / checked), estimated=True)
        return Tally(matched)


def safe(check: Callable[[str], bool], value: str) -> bool:
    """A validator that raises on odd input (a library's bug) rejects that value."""
    try:
        return bool(check(value))
    except Exception:
        return False


def _one_array(values: pa.Array | pa.ChunkedArray) -> pa.Array | None:
    """The first MAX_ROWS values as one array (None for a column without chunks)."""
    values = values.slice(0, MAX_ROWS)
    if isinstance(values, pa.ChunkedArray):
        if values.num_chunks == 0:
            return None
        return values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
    return values
