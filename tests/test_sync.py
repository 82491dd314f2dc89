"""Central catalog sync: incremental, full repair, drift, fail-safe, schema history, events.

Runs on SQLite and on the real PostgreSQL server (the ``mesh`` fixture).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import delete, select, update

from lakemesh import events
from lakemesh.catalog.builtin import CATALOG_PATH
from lakemesh.errors import NotFound
from lakemesh.mesh import Mesh
from lakemesh.store import tables as t
from tests.conftest import write_parquet


def orders(root: Path, days: int = 3, table: str = "orders", db: str = "sales") -> None:
    for d in range(days):
        write_parquet(
            root / db / table / f"dt=2024-01-{d + 1:02d}" / "part-0.parquet",
            {"id": [d * 10 + i for i in range(3)], "amount": [1.5, 2.5, 3.5]},
        )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "sales_root"
    orders(r)
    write_parquet(r / "sales" / "customers" / "c.parquet", {"cid": [1, 2], "name": ["a", "b"]})
    return r


@pytest.fixture
def sales(mesh: Mesh, root: Path) -> Mesh:
    mesh.domains.create("sales", str(root), owners=("bob@sales",), create=True)
    mesh.domains.crawl("sales")
    return mesh


def event_types(mesh: Mesh) -> list[str]:
    with mesh.store.read() as conn:
        return [e["type"] for e in reversed(events.recent(conn, 1000))]


def test_initial_sync_copies_tables_schemas_partitions(sales: Mesh) -> None:
    [r] = sales.domains.sync()
    assert (r.status, r.mode, r.tables_added, r.partitions_added) == ("ok", "full", 2, 3)
    detail = sales.catalog.table("sales.sales.orders")
    assert [c.name for c in detail.schema.columns] == ["id", "amount", "dt"]
    assert detail.partition_keys == ["dt"]
    assert detail.partition_count == 3 and detail.row_count == 9
    p = sales.catalog.partition("sales.sales.orders", "dt=2024-01-02")
    assert p is not None and p.row_count == 3 and p.location.endswith("dt=2024-01-02")
    assert sales.catalog.partition("sales.sales.orders", {"dt": "2024-01-03"}) is not None
    assert sales.catalog.partition("sales.sales.orders", "dt=1999-01-01") is None
    assert event_types(sales).count("catalog.table.created") == 2


def test_incremental_sync_applies_only_changes(sales: Mesh, root: Path) -> None:
    sales.domains.sync()
    [r] = sales.domains.sync()
    assert (r.mode, r.tables_added, r.tables_updated, r.partitions_added) == (
        "incremental",
        0,
        0,
        0,
    )
    # add a partition, change one, remove one
    write_parquet(root / "sales/orders/dt=2024-01-09/p.parquet", {"id": [1], "amount": [1.0]})
    write_parquet(root / "sales/orders/dt=2024-01-01/more.parquet", {"id": [7], "amount": [2.0]})
    shutil.rmtree(root / "sales/orders/dt=2024-01-02")
    sales.domains.crawl("sales")
    [r] = sales.domains.sync()
    assert r.mode == "incremental"
    assert (r.tables_updated, r.tables_unchanged) == (1, 0), "customers is not even looked at"
    assert (r.partitions_added, r.partitions_changed, r.partitions_removed) == (1, 1, 1)
    keys = [p.key for p in sales.catalog.partitions("sales.sales.orders")]
    assert keys == ["dt=2024-01-01", "dt=2024-01-03", "dt=2024-01-09"]
    assert sales.catalog.partition("sales.sales.orders", "dt=2024-01-01").file_count == 2


def test_removed_table_is_removed_centrally(sales: Mesh, root: Path) -> None:
    orders(root, table="returns")
    sales.domains.crawl("sales")
    sales.domains.sync()
    shutil.rmtree(root / "sales" / "returns")
    sales.domains.crawl("sales")
    [r] = sales.domains.sync()
    assert r.tables_removed == 1
    with pytest.raises(NotFound):
        sales.catalog.table("sales.sales.returns")
    assert "catalog.table.removed" in event_types(sales)


def test_schema_evolution_keeps_history_and_flags_breaking(sales: Mesh, root: Path) -> None:
    sales.domains.sync()
    # widening + added column: not breaking
    write_parquet(
        root / "sales/customers/c2.parquet",
        {"cid": pa.array([3], pa.int64()), "name": ["c"], "email": ["c@x"]},
    )
    sales.domains.crawl("sales")
    [r] = sales.domains.sync()
    assert r.breaking_changes == []
    # a type change that is not a widening: breaking
    shutil.rmtree(root / "sales/customers")
    write_parquet(root / "sales/customers/c.parquet", {"cid": ["x1"], "name": ["a"]})
    sales.domains.crawl("sales")
    [r] = sales.domains.sync()
    assert r.breaking_changes == ["sales.sales.customers"]
    history = sales.catalog.schema_history("sales.sales.customers")
    assert [v["version"] for v in history] == [1, 2, 3]
    assert [c["kind"] for c in history[1]["changes"]] == ["column_added"]
    assert not history[1]["breaking"] and history[2]["breaking"]
    kinds = {c.kind for c in sales.catalog.schema_diff("sales.sales.customers", 1, 3)}
    assert kinds == {"type_changed"}
    with sales.store.read() as conn:
        alerts = conn.execute(select(t.alerts.c.kind)).scalars().all()
    assert "schema.breaking" in alerts
    assert event_types(sales).count("catalog.schema.changed") == 2


def test_full_repair_reports_and_heals_drift(sales: Mesh) -> None:
    sales.domains.sync()
    with sales.store.write() as conn:  # damage the central copy behind the sync's back
        tid = conn.execute(
            select(t.catalog_tables.c.id).where(
                t.catalog_tables.c.full_name == "sales.sales.orders"
            )
        ).scalar_one()
        conn.execute(
            delete(t.partitions).where(
                t.partitions.c.table_id == tid, t.partitions.c.key == "dt=2024-01-01"
            )
        )
        conn.execute(
            update(t.catalog_tables)
            .where(t.catalog_tables.c.full_name == "sales.sales.customers")
            .values(source_version="x")
        )
    [r] = sales.domains.sync(full=True)
    assert r.status == "ok"
    assert r.drift == {
        "missing": [],
        "stale": ["sales.sales.customers", "sales.sales.orders"],
        "extra": [],
    }
    assert r.partitions_added == 1
    assert sales.catalog.partition("sales.sales.orders", "dt=2024-01-01") is not None
    [r] = sales.domains.sync(full=True)
    assert r.drift == {"missing": [], "stale": [], "extra": []}
    status = {s["domain"]: s for s in sales.domains.status()}["sales"]
    assert status["drift"] == {"missing": 0, "stale": 0, "extra": 0}
    assert status["tables"] == 2 and status["partitions"] == 3


def test_empty_listing_deletes_nothing(sales: Mesh, root: Path) -> None:
    sales.domains.sync()
    for sub in ("orders", "customers"):
        shutil.rmtree(root / "sales" / sub)
    sales.domains.crawl("sales")  # the domain catalog is now empty
    [r] = sales.domains.sync(full=True)
    assert r.status == "refused" and "empty listing" in (r.error or "")
    assert len(sales.catalog.tables("sales")) == 2
    status = sales.domains.status()[0]
    assert status["status"] == "stale" and status["open_alerts"] == 1
    assert "sync.refused" in event_types(sales)
    [r] = sales.domains.sync(full=True)
    assert r.status == "refused"
    [r] = sales.domains.sync(full=True, force=True)
    assert r.status == "ok" and r.tables_removed == 2
    assert sales.domains.status()[0]["open_alerts"] == 0, "a good sync resolves the alert"


def test_incremental_mass_removal_is_refused(sales: Mesh, root: Path) -> None:
    for name in ("a", "b", "c"):
        orders(root, table=name)
    sales.domains.crawl("sales")
    sales.domains.sync()
    for name in ("a", "b", "c"):
        shutil.rmtree(root / "sales" / name)
    sales.domains.crawl("sales")
    [r] = sales.domains.sync()
    assert r.mode == "incremental" and r.status == "refused"
    assert "remove 3 of 5" in (r.error or "")
    assert len(sales.catalog.tables("sales")) == 5
    [r] = sales.domains.sync(force=True)
    assert r.status == "ok" and r.tables_removed == 3


def test_unreachable_domain_changes_nothing(sales: Mesh, root: Path) -> None:
    sales.domains.sync()
    shutil.move(root, root.with_name("moved"))
    [r] = sales.domains.sync(full=True)
    assert r.status == "failed" and "does not exist" in (r.error or "")
    assert len(sales.catalog.tables("sales")) == 2
    status = sales.domains.status()[0]
    assert status["status"] == "failed" and status["last_error"]
    assert "sync.failed" in event_types(sales)
    shutil.move(root.with_name("moved"), root)
    [r] = sales.domains.sync()
    assert r.status == "ok" and sales.domains.status()[0]["status"] == "ok"


def test_corrupt_builtin_catalog_changes_nothing(sales: Mesh, root: Path) -> None:
    sales.domains.sync()
    (root / CATALOG_PATH).write_bytes(b"this is not a sqlite database" * 100)
    for suffix in ("-wal", "-shm"):
        (root / (CATALOG_PATH + suffix)).unlink(missing_ok=True)
    [r] = sales.domains.sync(full=True)
    assert r.status == "failed" and "corrupt" in (r.error or "")
    assert len(sales.catalog.tables("sales")) == 2


def test_never_crawled_domain_syncs_to_nothing(mesh: Mesh, tmp_path: Path) -> None:
    mesh.domains.create("empty", str(tmp_path / "empty"), create=True)
    [r] = mesh.domains.sync()
    assert r.status == "ok" and r.tables_added == 0
    assert any("no catalog yet" in w for w in r.warnings)


def test_interrupted_sync_resumes_idempotently(sales: Mesh, root: Path) -> None:
    """Stopping between tables keeps every applied table whole and re-runs converge."""
    for name in ("a", "b", "c", "d"):
        orders(root, table=name)
    sales.domains.crawl("sales")
    calls = {"n": 0}

    def stop_after_two() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    from lakemesh.metadata.sync import Syncer

    r = Syncer(sales.store, should_stop=stop_after_two).sync(sales.domains.get("sales"))
    assert r.status == "interrupted" and r.tables_added == 2
    assert sales.domains.status()[0]["status"] == "never", "cursor not advanced"
    [r] = sales.domains.sync()
    assert r.status == "ok" and r.tables_added == 4
    [r] = sales.domains.sync(full=True)
    assert r.drift == {"missing": [], "stale": [], "extra": []}
    assert event_types(sales).count("catalog.table.created") == 6, "no duplicate events"


def test_each_change_has_its_event_in_the_same_transaction(sales: Mesh) -> None:
    sales.domains.sync()
    with sales.store.read() as conn:
        created = events.recent(conn, 100, "catalog.table.created")
    assert {e["subject"] for e in created} == {"sales.sales.orders", "sales.sales.customers"}
    assert all(e["domain"] == "sales" for e in created)
    assert created[0]["payload"]["format"] == "parquet"


def test_search_finds_tables_by_name_column_and_description(sales: Mesh) -> None:
    sales.domains.sync()
    assert [h["table"] for h in sales.catalog.search("orders")] == ["sales.sales.orders"]
    hits = sales.catalog.search("amoun")
    assert [h["table"] for h in hits] == ["sales.sales.orders"]
    assert hits[0]["columns"] == ["amount"]
    assert [h["table"] for h in sales.catalog.search("sales customers")] == [
        "sales.sales.customers"
    ]
    [hit] = sales.catalog.search("customers name")
    assert hit["columns"] == ["name"], "the word the table name does not explain"
    for hostile in ['"', "NEAR(", "*", "'; DROP TABLE x; --", "a:* | b", "", "!!!"]:
        sales.catalog.search(hostile)  # never a syntax error
    assert sales.catalog.search("nothing_like_this") == []
