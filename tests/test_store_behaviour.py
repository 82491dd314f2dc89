"""The metadata store's behaviour, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import insert, inspect, select, text

from lakemesh.errors import InvalidInput, StoreError
from lakemesh.mesh import Mesh
from lakemesh.store import Store
from lakemesh.store import tables as t
from lakemesh.typedef import now


def test_migrated_schema_matches_table_definitions(mesh: Mesh) -> None:
    """The migrations and tables.py describe the same columns."""
    insp = inspect(mesh.store.engine)
    for table in t.metadata.sorted_tables:
        live = {c["name"] for c in insp.get_columns(table.name)}
        assert live == {c.name for c in table.columns}, table.name


def test_store_is_at_head_revision(mesh: Mesh) -> None:
    assert mesh.store.revision() == Store.head()


def test_failed_write_leaves_nothing(mesh: Mesh) -> None:
    def crash_inside_transaction() -> None:
        with mesh.store.write() as conn:
            conn.execute(
                insert(t.alerts).values(severity="error", kind="x", message="m", created_at=now())
            )
            raise RuntimeError("crash inside the transaction")

    with pytest.raises(RuntimeError):
        crash_inside_transaction()
    with mesh.store.read() as conn:
        assert conn.execute(select(t.alerts)).all() == []


def test_timestamps_come_back_aware_utc(mesh: Mesh) -> None:
    stamp = now()
    with mesh.store.write() as conn:
        conn.execute(
            insert(t.alerts).values(severity="info", kind="k", message="m", created_at=stamp)
        )
    with mesh.store.read() as conn:
        got = conn.execute(select(t.alerts.c.created_at)).scalar_one()
    assert got.tzinfo is not None
    assert abs((got - stamp).total_seconds()) < 1e-3


def test_domain_unique_under_concurrent_creates(mesh: Mesh, tmp_path: Path) -> None:
    """Two threads creating the same domain: exactly one wins, the other is refused."""
    results: list[str] = []

    def create(i: int) -> None:
        try:
            mesh.domains.create("sales", str(tmp_path / f"root{i}"), create=True)
            results.append("ok")
        except Exception as exc:  # AlreadyExists or overlap refusal
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert results.count("ok") == 1
    assert len(mesh.domains.all()) == 1


def test_sqlite_settings_are_asserted(tmp_path: Path) -> None:
    m = Mesh.init(tmp_path / "h")
    with m.store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    m.close()


def test_sqlite_write_transactions_take_the_lock_at_begin(tmp_path: Path) -> None:
    m = Mesh.init(tmp_path / "h")
    db = tmp_path / "h" / "lakemesh.db"
    with m.store.write() as conn:
        conn.execute(text("SELECT 1"))
        other = sqlite3.connect(db, timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
    m.close()


def test_sqlite_writers_serialise_instead_of_failing(tmp_path: Path) -> None:
    m = Mesh.init(tmp_path / "h")
    errors: list[Exception] = []

    def writer(i: int) -> None:
        try:
            for j in range(20):
                with m.store.write() as conn:
                    n = conn.execute(select(t.alerts.c.id)).all()
                    time.sleep(0.001)
                    conn.execute(
                        insert(t.alerts).values(
                            severity="info", kind=f"w{i}", message=str(len(n) + j), created_at=now()
                        )
                    )
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    with m.store.read() as conn:
        assert len(conn.execute(select(t.alerts)).all()) == 80
    m.close()


def test_store_at_wrong_revision_refuses_to_open(tmp_path: Path) -> None:
    m = Mesh.init(tmp_path / "h")
    with m.store.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    m.close()
    with pytest.raises(StoreError, match="revision"):
        Mesh.open(tmp_path / "h")


def test_unsupported_and_memory_urls_are_refused() -> None:
    with pytest.raises(InvalidInput):
        Store("mysql://x/y")
    with pytest.raises(InvalidInput):
        Store("sqlite:///:memory:")
    with pytest.raises(InvalidInput):
        Store("not a url")


@pytest.mark.postgres
def test_unreachable_postgres_is_a_clear_error(tmp_path: Path) -> None:
    from tests.pgserver import free_port

    with pytest.raises(StoreError, match="cannot"):
        Mesh.init(tmp_path / "h", f"postgresql://nobody@127.0.0.1:{free_port()}/x")
    assert not (tmp_path / "h").exists(), "a failed init leaves no home behind"
