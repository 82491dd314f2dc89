"""Sync from Iceberg and Delta domain catalogs into the central catalog (both stores)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from pyiceberg.catalog.sql import SqlCatalog

from lakemesh.errors import NotFound
from lakemesh.mesh import Mesh
from tests.pgserver import free_port


def frame(n: int, start: int = 0) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(start, start + n), pa.int64()),
            "region": pa.array([["eu", "us"][i % 2] for i in range(n)], pa.string()),
        }
    )


@pytest.fixture
def iceberg(tmp_path: Path) -> Iterator[tuple[Path, str, SqlCatalog]]:
    root = tmp_path / "ib_root"
    root.mkdir()
    uri = f"sqlite:///{tmp_path / 'iceberg.db'}"
    writer = SqlCatalog("default", uri=uri, warehouse=str(root))
    writer.create_namespace("markets")
    yield root, uri, writer
    writer.engine.dispose()


def test_iceberg_source_sync_incremental_evolution_and_removal(
    mesh: Mesh, iceberg: tuple[Path, str, SqlCatalog]
) -> None:
    root, uri, writer = iceberg
    mesh.domains.create("investment", str(root), catalog=f"iceberg:{uri}", create=True)
    trades = writer.create_table("markets.trades", schema=frame(0).schema)
    trades.append(frame(10))
    writer.create_table("markets.quotes", schema=frame(0).schema).append(frame(3))
    [r] = mesh.domains.sync()
    assert (r.status, r.tables_added) == ("ok", 2)
    detail = mesh.catalog.table("investment.markets.trades")
    assert detail.format == "iceberg" and detail.row_count == 10
    assert [c.type for c in detail.schema.columns] == ["int64", "string"]

    [r] = mesh.domains.sync()
    assert (r.mode, r.tables_updated, r.tables_unchanged) == ("incremental", 0, 0)

    trades.append(frame(5, start=10))
    with trades.update_schema() as update:
        update.add_column("price", _iceberg_double())
    [r] = mesh.domains.sync()
    assert (r.tables_updated, r.breaking_changes) == (1, [])
    detail = mesh.catalog.table("investment.markets.trades")
    assert detail.row_count == 15 and detail.schema.names[-1] == "price"
    assert [v["version"] for v in mesh.catalog.schema_history("investment.markets.trades")] == [
        1,
        2,
    ]

    writer.drop_table("markets.quotes")
    [r] = mesh.domains.sync()
    assert r.tables_removed == 1
    with pytest.raises(NotFound):
        mesh.catalog.table("investment.markets.quotes")


def _iceberg_double():  # type: ignore[no-untyped-def]
    from pyiceberg.types import DoubleType

    return DoubleType()


def test_iceberg_catalog_down_fails_safe(mesh: Mesh, tmp_path: Path) -> None:
    root = tmp_path / "rest_root"
    root.mkdir()
    mesh.domains.create(
        "rest", str(root), catalog=f"iceberg:http://127.0.0.1:{free_port()}", create=True
    )
    [r] = mesh.domains.sync()
    assert r.status == "failed" and "cannot reach iceberg catalog" in (r.error or "")
    status = mesh.domains.status()[0]
    assert status["status"] == "failed" and status["open_alerts"] == 1


def test_delta_source_sync_partitions_evolution_and_unreadable(mesh: Mesh, tmp_path: Path) -> None:
    root = tmp_path / "delta_root"
    path = root / "sales" / "orders"
    write_deltalake(str(path), frame(6), partition_by=["region"])
    write_deltalake(str(root / "sales" / "refunds"), frame(2))
    mesh.domains.create("shop", str(root), catalog="delta", create=True)
    [r] = mesh.domains.sync()
    assert (r.status, r.tables_added, r.partitions_added) == ("ok", 2, 2)
    detail = mesh.catalog.table("shop.sales.orders")
    assert detail.format == "delta" and detail.partition_keys == ["region"]
    assert mesh.catalog.partition("shop.sales.orders", {"region": "eu"}).row_count == 3  # type: ignore[union-attr]

    write_deltalake(
        str(path),
        pa.table({"id": [100], "region": ["apac"], "note": ["n"]}),
        mode="append",
        partition_by=["region"],
        schema_mode="merge",
    )
    [r] = mesh.domains.sync()
    assert (r.mode, r.tables_updated, r.partitions_added) == ("incremental", 1, 1)
    assert mesh.catalog.table("shop.sales.orders").schema.names == ["id", "region", "note"]

    # a table whose log has no commit any more is unreadable, not removed
    shutil.rmtree(root / "sales" / "refunds" / "_delta_log")
    (root / "sales" / "refunds" / "_delta_log").mkdir()
    [r] = mesh.domains.sync(full=True)
    assert r.status == "ok" and r.tables_removed == 0
    assert any("refunds" in w for w in r.warnings)
    assert mesh.catalog.table("shop.sales.refunds").row_count == 2
