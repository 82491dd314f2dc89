"""A result as the rows of a terminal table: every value as plain text, NULL spelled
out so that it differs from an empty string."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from lakemesh.query.output.arrays import text_scalar
from lakemesh.query.output.names import with_unique_names
from lakemesh.query.output.values import text_column

#: What a terminal table shows for NULL: unlike an empty cell, it is not an empty string.
NULL_TEXT = "NULL"


def to_text_rows(table: pa.Table, limit: int) -> tuple[list[str], list[list[str]]]:
    """The header and the first ``limit`` rows of a terminal table, as plain text
    (``NULL_TEXT`` for NULL)."""
    # a table without columns does not clamp a slice to its rows
    table = with_unique_names(table.slice(0, max(min(limit, table.num_rows), 0)))
    columns = [
        pc.fill_null(text_column(column), text_scalar(NULL_TEXT)).to_pylist()
        for column in table.columns
    ]
    if not columns:
        return [], [[] for _ in range(table.num_rows)]
    return table.column_names, [list(row) for row in zip(*columns, strict=True)]
