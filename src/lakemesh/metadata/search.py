"""Full-text search over table names, column names and descriptions.

SQLite uses an FTS5 table, PostgreSQL a ``tsvector`` column with a GIN index; both hold
one document per table. User text never reaches the query language: it is split into
words, and each word becomes a quoted prefix term.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, text

from lakemesh.schema import Schema

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


def index_table(
    conn: Connection, table_id: int, name: str, description: str | None, schema: Schema
) -> None:
    body = document(name, description, schema)
    if conn.dialect.name == "sqlite":
        conn.execute(text("DELETE FROM search_fts WHERE rowid = :id"), {"id": table_id})
        conn.execute(
            text("INSERT INTO search_fts (rowid, body) VALUES (:id, :body)"),
            {"id": table_id, "body": body},
        )
    else:
        conn.execute(
            text(
                "INSERT INTO search_docs (table_id, body) VALUES (:id, :body) "
                "ON CONFLICT (table_id) DO UPDATE SET body = excluded.body"
            ),
            {"id": table_id, "body": body},
        )


def unindex_table(conn: Connection, table_id: int) -> None:
    if conn.dialect.name == "sqlite":
        conn.execute(text("DELETE FROM search_fts WHERE rowid = :id"), {"id": table_id})
    # PostgreSQL: search_docs rows go with the table (ON DELETE CASCADE).


def search(conn: Connection, query: str, limit: int | None = 50) -> list[dict[str, Any]]:
    """Tables matching every word of ``query`` (as prefixes), best first; ``limit=None``
    returns every match (the caller filters by visibility before cutting)."""
    words = terms(query)
    if not words:
        return []
    if conn.dialect.name == "sqlite":
        match = " AND ".join(f'"{w}"*' for w in words)  # words are [^\W_]+: no quotes inside
        sql = text(
            "SELECT t.full_name, t.description, t.format, bm25(search_fts) AS score "
            "FROM search_fts JOIN catalog_tables t ON t.id = search_fts.rowid "
            "WHERE search_fts MATCH :q ORDER BY score, t.full_name LIMIT :n"
        )
    else:
        match = " & ".join(f"{w}:*" for w in words)
        sql = text(
            "SELECT t.full_name, t.description, t.format, "
            "-ts_rank(s.tsv, to_tsquery('simple', :q)) AS score "
            "FROM search_docs s JOIN catalog_tables t ON t.id = s.table_id "
            "WHERE s.tsv @@ to_tsquery('simple', :q) ORDER BY score, t.full_name LIMIT :n"
        )
    unlimited = -1 if conn.dialect.name == "sqlite" else None  # LIMIT -1 / LIMIT NULL
    rows = conn.execute(sql, {"q": match, "n": unlimited if limit is None else limit})
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
