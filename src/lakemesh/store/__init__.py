"""The metadata store: SQLite (embedded default) or PostgreSQL, behind one small API.

Callers never touch an engine. They take a transaction:

* ``store.write()``: a write transaction. On SQLite it starts with ``BEGIN IMMEDIATE`` so
  two writers serialise at the start instead of one failing at commit; durability is
  WAL with ``synchronous=FULL``. Both are asserted when the store opens.
* ``store.read()``: a read transaction (a consistent snapshot on both backends).

The schema is owned by Alembic; a store at the wrong revision refuses to open.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.exc import SQLAlchemyError as _SAError

from lakemesh.errors import InvalidInput, MissingExtra, StoreError, first_line

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)
_WRITE = "lakemesh_write"
#: The revision of the newest migration in ``migrations/versions``.
HEAD_REVISION = "0006"

#: Errors a caller may see from the database layer, re-exported so modules above the
#: store never import SQLAlchemy just to catch them.
SQLAlchemyError = _SAError


def normalise_url(url: str) -> str:
    """Accept ``sqlite:///path`` and ``postgresql://...``; pick our drivers."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidInput(f"invalid database URL {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise InvalidInput("the SQLite store needs a file path (sqlite:///path/to/db)")
        return parsed.set(drivername="sqlite+pysqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise InvalidInput(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")


class Store:
    """A connection pool to the metadata store plus the transaction discipline above."""

    def __init__(self, url: str, *, check: bool = True) -> None:
        self.url = normalise_url(url)
        self.engine = self._make_engine(self.url)
        self.dialect: str = self.engine.dialect.name
        if check:
            self.check()

    # ------------------------------------------------------------------ engines

    @staticmethod
    def _make_engine(url: str) -> Engine:
        if url.startswith("postgresql"):
            try:
                import psycopg  # noqa: F401
            except ImportError as exc:
                raise MissingExtra("psycopg", "postgres") from exc
            return create_engine(url, pool_pre_ping=True)
        path = make_url(url).database
        assert path is not None
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            for pragma in SQLITE_PRAGMAS:
                dbapi_conn.execute(pragma)

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get(_WRITE, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: committed on success, rolled back on any exception."""
        with self._connect() as conn:
            conn = conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction that sees one snapshot throughout (PostgreSQL would default
        to READ COMMITTED, where two queries of one read can disagree)."""
        with self._connect() as conn:
            if self.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        try:
            conn = self.engine.connect()
        except OperationalError as exc:
            raise StoreError(f"cannot reach the metadata store: {_first_line(exc)}") from exc
        with conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ schema

    def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent)."""
        from alembic import command

        try:
            with self.engine.begin() as conn:
                cfg = _alembic_config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except OperationalError as exc:
            raise StoreError(f"cannot migrate the metadata store: {_first_line(exc)}") from exc

    def revision(self) -> str | None:
        """The store's schema revision, read from Alembic's version table directly:
        importing Alembic costs a tenth of a second on every command."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    @staticmethod
    def head() -> str:
        """The newest migration (kept equal to Alembic's head by a test)."""
        return HEAD_REVISION

    def check(self) -> None:
        """Refuse to run on a store whose durability settings or revision are wrong."""
        try:
            if self.dialect == "sqlite":
                self._check_sqlite()
            revision = self.revision()
        except OperationalError as exc:
            raise StoreError(f"cannot open the metadata store: {_first_line(exc)}") from exc
        if revision != self.head():
            raise StoreError(
                f"metadata store is at revision {revision or 'none'}, expected {self.head()}: "
                "run 'lakemesh init' on a new home or 'lakemesh migrate' on this one"
            )

    def _check_sqlite(self) -> None:
        with self.engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        if mode != "wal" or sync != 2:
            raise StoreError(f"SQLite store must run WAL/synchronous=FULL, got {mode}/{sync}")
        # A write transaction must hold the write lock from its first statement.
        path = make_url(self.url).database
        with self.write():
            probe = sqlite3.connect(str(path), timeout=0, isolation_level=None)
            try:
                probe.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                pass
            else:
                probe.execute("ROLLBACK")
                raise StoreError("SQLite write transactions do not start with BEGIN IMMEDIATE")
            finally:
                probe.close()


def insert_new(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> int:
    """Insert ``rows``, skipping any that a unique constraint says exist already; returns
    how many were inserted. For consumers that must be idempotent (an event delivered
    twice changes nothing)."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(table).on_conflict_do_nothing()
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table).on_conflict_do_nothing()
    key = next(iter(table.primary_key.columns))
    # Counted from RETURNING: a driver's rowcount after a bulk insert is not reliable
    # (psycopg reports none).
    return len(conn.execute(stmt.returning(key), rows).all())


def driver_cursor(conn: Connection, sql: str) -> tuple[Any, str]:
    """The transaction's own DBAPI cursor, and ``sql`` (written with ``?`` placeholders)
    in the driver's placeholder style (psycopg wants ``%s``). For the few bulk paths
    where SQLAlchemy's per-row work would dominate; rows come back as plain tuples."""
    driver_sql = sql if conn.dialect.paramstyle == "qmark" else sql.replace("?", "%s")
    return conn.connection.cursor(), driver_sql


def copy_rows(conn: Connection, table: str, columns: str, rows: Iterable[Sequence[Any]]) -> bool:
    """``rows`` into ``table`` (``columns`` as SQL) with ``COPY`` where the store has it
    (PostgreSQL: one statement for all rows instead of one per row); False, and nothing
    done, where it has not (the caller inserts them its own way). ``table`` and
    ``columns`` are the caller's constants, never input."""
    if conn.dialect.name != "postgresql":
        return False
    cur = conn.connection.cursor()
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    return True


def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("lakemesh.store") / "migrations"))
    return cfg


def _first_line(exc: BaseException) -> str:
    """A driver error's own first line (SQLAlchemy wraps it in ``orig``)."""
    return first_line(getattr(exc, "orig", None) or exc)
