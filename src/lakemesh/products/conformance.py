"""Whether a table conforms to its data contract: every contract column present, each
column's type in the family the contract's logical and physical types allow (by family,
never by width or precision: int32 fits ``integer`` and ``number``, a decimal fits
``number``, any timestamp fits ``timestamp``). Checked when a product is registered
(unknown columns are refused) and at every quality check (a violation is an event).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlglot import exp
from sqlglot.errors import SqlglotError

from lakemesh.products.contracts import (
    Contract,
    ContractColumn,
    ContractViolation,
    named,
    shown,
)


def unknown_columns(contract: Contract, columns: Mapping[str, str]) -> list[str]:
    """The contract's columns the table does not have, in contract order (registering a
    contract that names them is refused: "contract names unknown columns: a, b")."""
    return [c.name for c in contract.columns if c.name not in columns]


def check_schema(contract: Contract, columns: Mapping[str, str]) -> list[ContractViolation]:
    """How the table's columns (name -> Arrow type text) break the contract's schema: a
    contract column that is gone (a breaking change), or a type that does not fit.

    Types are compared by family, never by width or precision. A logicalType fits:
    string <- string, large_string, string_view (and dictionaries of them); integer <-
    signed and unsigned ints; number <- ints, decimals, floats; boolean <- bool; date <-
    date32/date64 and timestamps (a timestamp holds a date: files written from pandas
    keep dates so); timestamp <- timestamps of any unit and zone, not dates; time <-
    time32/time64; object <- struct or map; map <- map; array and vector <- lists. A
    physicalType (any SQL or Arrow spelling, read by sqlglot) fits by the same families,
    a narrower number fitting a wider one: INT <- ints; DECIMAL <- ints, decimals;
    DOUBLE/FLOAT <- any number. A type nobody can read (JSON, UUID, extensions) and an
    all-null column are not judged.
    """
    violations: list[ContractViolation] = []
    for column in contract.columns:
        actual = columns.get(column.name)
        if actual is None:
            violations.append(
                ContractViolation(
                    "missing_column",
                    column.name,
                    None,
                    f"column {named(column.name)} is in the contract but not in the table",
                )
            )
            continue
        problem = type_problem(column, actual)
        if problem is not None:
            violations.append(ContractViolation("type_mismatch", column.name, None, problem))
    return violations


def type_problem(column: ContractColumn, actual: str) -> str | None:
    """Why ``actual`` (Arrow type text) does not fit the column's contract types, or None."""
    family = arrow_family(actual)
    if family is None or family == "null":
        return None
    if column.logical_type is not None:
        fits = _LOGICAL_FITS.get(column.logical_type)
        if fits is not None and family not in fits:
            return (
                f"column {named(column.name)} is {actual} in the table, which does not fit "
                f"the contract's logicalType {column.logical_type}"
            )
    if column.physical_type is not None:
        declared = physical_family(column.physical_type)
        fits = _PHYSICAL_FITS.get(declared) if declared is not None else None
        if fits is not None and family not in fits:
            return (
                f"column {named(column.name)} is {actual} in the table, which does not fit "
                f"the contract's physicalType {shown(column.physical_type)}"
            )
    return None


_NUMBERS = frozenset({"integer", "decimal", "floating"})
_LOGICAL_FITS: dict[str, frozenset[str]] = {
    "string": frozenset({"string"}),
    "integer": frozenset({"integer"}),
    "number": _NUMBERS,
    "boolean": frozenset({"boolean"}),
    "date": frozenset({"date", "timestamp"}),
    "timestamp": frozenset({"timestamp"}),
    "time": frozenset({"time"}),
    "object": frozenset({"object", "map"}),
    "map": frozenset({"map"}),
    "array": frozenset({"array"}),
    "vector": frozenset({"array"}),
}
_PHYSICAL_FITS: dict[str, frozenset[str]] = {
    **{f: frozenset({f}) for f in ("string", "boolean", "time", "binary", "duration")},
    **{f: frozenset({f}) for f in ("array", "object", "map", "timestamp", "integer")},
    "decimal": frozenset({"integer", "decimal"}),
    "floating": _NUMBERS,
    "date": frozenset({"date", "timestamp"}),
}
#: Arrow type names (the text before any bracket or digit) -> family.
_ARROW_HEADS: dict[str, str] = {
    **dict.fromkeys(("string", "large_string", "string_view", "utf8", "large_utf8"), "string"),
    **dict.fromkeys(("int", "uint"), "integer"),
    **dict.fromkeys(("halffloat", "float", "double"), "floating"),
    "decimal": "decimal",
    "bool": "boolean",
    "date": "date",
    "timestamp": "timestamp",
    "time": "time",
    "duration": "duration",
    **dict.fromkeys(("binary", "large_binary", "binary_view", "fixed_size_binary"), "binary"),
    **dict.fromkeys(("list", "large_list", "fixed_size_list", "list_view"), "array"),
    "large_list_view": "array",
    "struct": "object",
    "map": "map",
    "null": "null",
}
_HEAD = re.compile(r"[a-z_]+")
_DICTIONARY = re.compile(r"dictionary<values=([^,>]+)")


def arrow_family(type_text: str) -> str | None:
    """The family of an Arrow type text (``str(pa type)``), or None when unknown."""
    text = type_text.strip().lower()
    dictionary = _DICTIONARY.match(text)
    if dictionary is not None:
        return arrow_family(dictionary[1])
    head = _HEAD.match(text)
    return _ARROW_HEADS.get(head[0]) if head is not None else None


def physical_family(type_text: str) -> str | None:
    """The family of a contract's physicalType: an Arrow name, else any SQL type sqlglot
    reads (``VARCHAR(18)``, ``NUMBER(38,0)``, ``TIMESTAMP WITH TIME ZONE``)."""
    family = arrow_family(type_text)
    if family is not None:
        return family
    try:
        kind = exp.DataType.build(type_text, dialect="duckdb").this
    except (SqlglotError, ValueError):
        return None
    data_type = exp.DataType
    if kind in data_type.TEXT_TYPES:
        return "string"
    if kind in data_type.INTEGER_TYPES:
        return "integer"
    if kind in data_type.FLOAT_TYPES or kind.name == "UDOUBLE":
        return "floating"
    if kind in data_type.REAL_TYPES:
        return "decimal"
    names = {
        "BOOLEAN": "boolean",
        "DATE": "date",
        "DATE32": "date",
        "TIME": "time",
        "TIMETZ": "time",
        "ARRAY": "array",
        "LIST": "array",
        "STRUCT": "object",
        "OBJECT": "object",
        "MAP": "map",
        "BINARY": "binary",
        "VARBINARY": "binary",
        "BLOB": "binary",
        "INTERVAL": "duration",
    }
    if kind.name in names:
        return names[kind.name]
    return "timestamp" if kind in data_type.TEMPORAL_TYPES else None
