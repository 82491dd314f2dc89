"""The PostgreSQL side of the fixtures: the databases on the run's server, the
bare-psycopg peer (the SQLite peer's schema and rows in PostgreSQL's dialect), checks, and
a row-for-row copy of a mesh's store for fixtures written straight into SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Row, func, select, text

from benchmarks import _fixture as fx
from benchmarks._pgserver import PgServer
from lakemesh.store import Store, insert_new
from lakemesh.store import tables as t

CENTRAL = "central"  #: the timed mesh's store
PEER = "peer"  #: the bare-psycopg peer's database

#: The partitions table of migration 0001 as PostgreSQL holds it (checked against the real
#: store by ``check_peer_ddl``), under the same minimal parent as the SQLite peer's.
PEER_DDL = """
CREATE TABLE catalog_tables (id BIGSERIAL NOT NULL, full_name VARCHAR(320) NOT NULL,
    PRIMARY KEY (id), UNIQUE (full_name));
CREATE TABLE partitions (
    id BIGSERIAL NOT NULL,
    table_id BIGINT NOT NULL,
    "key" TEXT NOT NULL,
    "values" TEXT NOT NULL,
    location TEXT NOT NULL,
    file_count BIGINT NOT NULL,
    size_bytes BIGINT NOT NULL,
    row_count BIGINT,
    modified_at BIGINT,
    PRIMARY KEY (id),
    CONSTRAINT uq_partitions_table_key UNIQUE (table_id, "key"),
    FOREIGN KEY (table_id) REFERENCES catalog_tables (id) ON DELETE CASCADE
)
"""
PEER_INSERT = fx.PEER_INSERT.replace("?", "%s")
_SHAPE = (
    "SELECT column_name, data_type, is_nullable, column_default FROM "
    "information_schema.columns WHERE table_name = 'partitions' ORDER BY ordinal_position",
    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE conrelid = 'partitions'::regclass ORDER BY conname",
    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'partitions' ORDER BY 1",
)


def home(ctx: fx.Context) -> Path:
    """The mesh home whose store is the ``central`` database."""
    return ctx.work / "mesh-postgres"


def fresh_database(pg: PgServer, name: str) -> None:
    pg.drop_database(name)
    pg.create_database(name)


def peer_initial(pg: PgServer, tables: list[tuple[str, list[tuple[object, ...]]]]) -> None:
    """Schema, then one transaction per table with one executemany, like the SQLite peer."""
    with pg.connect(PEER, autocommit=True) as conn:
        conn.execute(PEER_DDL)
        cur = conn.cursor()
        for tid, (full_name, rows) in enumerate(tables, start=1):
            with conn.transaction():
                cur.execute(
                    "INSERT INTO catalog_tables (id, full_name) VALUES (%s, %s)", (tid, full_name)
                )
                cur.executemany(PEER_INSERT, rows)


def check_peer_ddl(pg: PgServer) -> None:
    """Fail loudly if the store's partitions table no longer matches the peer's."""

    def shape(database: str) -> list[list[tuple[Any, ...]]]:
        with pg.connect(database) as conn:
            return [conn.execute(q).fetchall() for q in _SHAPE]

    real, peer = shape(CENTRAL), shape(PEER)
    if real != peer:
        raise RuntimeError(f"PostgreSQL peer DDL is stale: the store has {real}, the peer {peer}")


def expect_count(pg: PgServer, database: str, expected: int, what: str) -> None:
    with pg.connect(database) as conn:
        found = conn.execute("SELECT count(*) FROM partitions").fetchone()
    if found is None or found[0] != expected:
        raise RuntimeError(f"{what}: {found} partitions, expected {expected}")


def analyze(pg: PgServer, database: str) -> None:
    """Planner statistics now, as autovacuum would take them within a minute of a bulk load."""
    with pg.connect(database, autocommit=True) as conn:
        conn.execute("ANALYZE")


def connect_peer(pg: PgServer, database: str) -> psycopg.Connection[Any]:
    """A bare connection whose first statement opens a REPEATABLE READ transaction, as
    ``store.read()`` does on PostgreSQL."""
    conn = pg.connect(database)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    return conn


# --------------------------------------------------------------------------- copies


def copy_store(src: Store, dst: Store, batch: int = 5_000) -> None:
    """Every row of ``src`` into the freshly initialised ``dst``, parents first, in one
    transaction. Rows ``dst`` holds already (its own init's admin user, audit record and
    policy version) are kept, so afterwards every table must count the same on both."""
    tables = t.metadata.sorted_tables
    with src.read() as rc, dst.write() as wc:
        for table in tables:
            rows: Iterator[Row[Any]] = iter(rc.execute(select(table)))
            while chunk := [r._asdict() for r in islice(rows, batch)]:
                insert_new(wc, table, chunk)
            col = table.autoincrement_column
            if col is not None:  # explicit ids leave the sequence behind
                wc.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{col.name}'), "
                        f'max("{col.name}")) FROM "{table.name}"'
                    )
                )
    with src.read() as rc, dst.read() as dc:
        for table in tables:
            count = select(func.count()).select_from(table)
            a, b = rc.execute(count).scalar_one(), dc.execute(count).scalar_one()
            if a != b:
                raise RuntimeError(f"copy of {table.name}: {a} rows in {src.url}, {b} in {dst.url}")
