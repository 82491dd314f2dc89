"""Result column names made unique, the way DuckDB names a result's columns."""

from __future__ import annotations

import string
from collections.abc import Sequence

import pyarrow as pa

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


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
