"""Full-text search over table names, column names and descriptions.

The index itself lives in the store (``lakemesh.store.fulltext``: FTS5 on SQLite, a
``tsvector`` on PostgreSQL), one document per table. User text never reaches the query
language: it is split into words here, and each word becomes a quoted prefix term.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection

from lakemesh.schema import Schema
from lakemesh.store import fulltext

MAX_TERMS = 16
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def document(name: str, description: str | None, schema: Schema) -> str:
    """Names are split at '_' and '.' so 'credit_amount' is found by 'credit amount'."""
    parts = [name, description or ""]
    for c in schema.columns:
        parts += [c.name, c.description or ""]
    return " ".join(" ".join(_WORD.findall(p.lower())) for p in parts if p)


def terms(query: str) -> list[str]:
    return _WORD.findall(query.lower())[:MAX_TERMS]


def any_word_starts(words: list[str], text: str) -> bool:
    """Whether some word of ``words`` starts a word of ``text``."""
    tokens = set(_WORD.findall(text.lower()))
    return any(tok.startswith(w) for tok in tokens for w in words)


def index_table(
    conn: Connection, table_id: int, name: str, description: str | None, schema: Schema
) -> None:
    fulltext.put(conn, table_id, document(name, description, schema))


def unindex_table(conn: Connection, table_id: int) -> None:
    fulltext.drop(conn, table_id)


def search(conn: Connection, query: str, limit: int | None = 50) -> list[dict[str, Any]]:
    """Tables matching every word of ``query`` (as prefixes), best first; ``limit=None``
    returns every match (the caller filters by visibility before cutting)."""
    words = terms(query)
    if not words:
        return []
    rows = fulltext.match(conn, words, limit)
    return [{"table": r.full_name, "description": r.description, "format": r.format} for r in rows]


def matches(query: str, name: str, description: str | None, schema: Schema) -> bool:
    """Whether every word of ``query`` starts a word of the table's document built from
    ``schema``: the index's rule, re-checked on the part a caller may see (a hit through
    a hidden column must not reveal the column exists)."""
    words = terms(query)
    tokens = document(name, description, schema).split()
    return bool(words) and all(any(t.startswith(w) for t in tokens) for w in words)


def matching_columns(table: str, schema: Schema, query: str) -> list[str]:
    """Columns that explain a hit: those whose name or description hold every query word
    the table's own name does not (as prefixes)."""

    def has(text: str, word: str) -> bool:
        return any(tok.startswith(word) for tok in _WORD.findall(text.lower()))

    words = [w for w in terms(query) if not has(table, w)]
    if not words:
        return []
    return [
        c.name
        for c in schema.columns
        if all(has(f"{c.name} {c.description or ''}", w) for w in words)
    ]
