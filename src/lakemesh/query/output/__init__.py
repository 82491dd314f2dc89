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

from lakemesh.query.output.formats import (
    to_csv,
    to_json,
    to_parquet,
    write_csv,
    write_json,
    write_parquet,
)
from lakemesh.query.output.names import unique_names, with_unique_names
from lakemesh.query.output.terminal import NULL_TEXT, to_text_rows

__all__ = [
    "NULL_TEXT",
    "to_csv",
    "to_json",
    "to_parquet",
    "to_text_rows",
    "unique_names",
    "with_unique_names",
    "write_csv",
    "write_json",
    "write_parquet",
]
