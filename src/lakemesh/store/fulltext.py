"""The full-text index of the central catalog, in each store's own engine.

SQLite keeps an FTS5 table (``search_fts``, ranked by bm25), PostgreSQL a ``tsvector``
column with a GIN index (``search_docs``, ranked by ``ts_rank``); both hold one document
per table, built by ``lakemesh.metadata.search``. The callers hand in words already
split from the user's text (``[^\\W_]+``: no quotes or operators), so no user text
reaches either query language; each word becomes a quoted prefix term here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text


def put(conn: Connection, table_id: int, body: str) -> None:
    """Index (or re-index) one table's document."""
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


def drop(conn: Connection, table_id: int) -> None:
    """Forget a table's document (on PostgreSQL its row goes with the table: ON DELETE
    CASCADE)."""
    if conn.dialect.name == "sqlite":
        conn.execute(text("DELETE FROM search_fts WHERE rowid = :id"), {"id": table_id})


def match(conn: Connection, words: list[str], limit: int | None) -> list[Any]:
    """Rows (full_name, description, format) of tables whose document has every word as
    a prefix, best first; every match when ``limit`` is None."""
    if conn.dialect.name == "sqlite":
        query = " AND ".join(f'"{w}"*' for w in words)
        sql = text(
            "SELECT t.full_name, t.description, t.format, bm25(search_fts) AS score "
            "FROM search_fts JOIN catalog_tables t ON t.id = search_fts.rowid "
            "WHERE search_fts MATCH :q ORDER BY score, t.full_name LIMIT :n"
        )
        unlimited: int | None = -1  # LIMIT -1
    else:
        query = " & ".join(f"{w}:*" for w in words)
        sql = text(
            "SELECT t.full_name, t.description, t.format, "
            "-ts_rank(s.tsv, to_tsquery('simple', :q)) AS score "
            "FROM search_docs s JOIN catalog_tables t ON t.id = s.table_id "
            "WHERE s.tsv @@ to_tsquery('simple', :q) ORDER BY score, t.full_name LIMIT :n"
        )
        unlimited = None  # LIMIT NULL
    return list(conn.execute(sql, {"q": query, "n": unlimited if limit is None else limit}))
