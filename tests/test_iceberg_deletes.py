"""Iceberg positional delete files (``tests.iceberg_deletes``): pyiceberg applies them,
and a governed query over the table never returns a deleted row, also when its WHERE
prunes the scan and when the files were written under an older schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table
from pyiceberg.types import StringType

from lakemesh.mesh import Mesh
from tests import govmesh
from tests.iceberg_deletes import add_position_deletes

TABLE = "ice.shop.orders"

#: Every row ever written, in file order: ids 1-5 in the first file (columns id, region,
#: amount), ids 6-10 in the second, written after ``amount`` became ``price`` and ``note``
#: was added.
ALL: list[dict[str, Any]] = [
    {"id": 1, "region": "eu", "price": 10.0, "note": None},
    {"id": 2, "region": "us", "price": 20.0, "note": None},
    {"id": 3, "region": "eu", "price": 30.0, "note": None},
    {"id": 4, "region": "eu", "price": 40.0, "note": None},
    {"id": 5, "region": "us", "price": 50.0, "note": None},
    {"id": 6, "region": "eu", "price": 60.0, "note": "a"},
    {"id": 7, "region": "us", "price": 70.0, "note": "b"},
    {"id": 8, "region": "eu", "price": 80.0, "note": "c"},
    {"id": 9, "region": "eu", "price": 90.0, "note": "d"},
    {"id": 10, "region": "us", "price": 100.0, "note": "e"},
]
#: Positions deleted: 1 and 3 of the first file (ids 2, 4), 0 and 4 of the second (6, 10).
DELETED_IDS = {2, 4, 6, 10}
LIVE = [r for r in ALL if r["id"] not in DELETED_IDS]


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[SqlCatalog]:
    (tmp_path / "ice").mkdir()
    writer = SqlCatalog(
        "default", uri=f"sqlite:///{tmp_path / 'ice.db'}", warehouse=str(tmp_path / "ice")
    )
    try:
        writer.create_namespace("shop")
        yield writer
    finally:
        writer.engine.dispose()


def _orders(catalog: SqlCatalog) -> tuple[Table, list[str]]:
    """The table after both writes and the deletes, and its data files in write order."""
    first = pa.table(
        {
            "id": pa.array([1, 2, 3, 4, 5], pa.int64()),
            "region": ["eu", "us", "eu", "eu", "us"],
            "amount": [10.0, 20.0, 30.0, 40.0, 50.0],
        }
    )
    table = catalog.create_table("shop.orders", schema=first.schema)
    table.append(first)
    (first_file,) = table.inspect.files().column("file_path").to_pylist()
    with table.update_schema() as update:
        update.rename_column("amount", "price")
        update.add_column("note", StringType())
    second = pa.table(
        {
            "id": pa.array([6, 7, 8, 9, 10], pa.int64()),
            "region": ["eu", "us", "eu", "eu", "us"],
            "price": [60.0, 70.0, 80.0, 90.0, 100.0],
            "note": ["a", "b", "c", "d", "e"],
        }
    )
    table.append(second)
    files = table.inspect.files().column("file_path").to_pylist()
    (second_file,) = set(files) - {first_file}
    add_position_deletes(table, {first_file: [1, 3], second_file: [0, 4]})
    return table, [first_file, second_file]


def _sorted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: r["id"])


def test_pyiceberg_reads_the_table_without_the_deleted_rows(catalog: SqlCatalog) -> None:
    table, files = _orders(catalog)
    deletes = table.inspect.delete_files()
    assert deletes.num_rows == 1
    assert deletes.column("content").to_pylist() == [1]  # POSITION_DELETES
    assert deletes.column("record_count").to_pylist() == [4]
    snapshot = table.current_snapshot()
    summary = snapshot.summary if snapshot is not None else None
    assert summary is not None
    assert summary.operation.value == "delete"
    assert summary["total-position-deletes"] == "4"
    assert summary["total-data-files"] == "2"
    assert _sorted(table.scan().to_arrow().to_pylist()) == LIVE
    # Still the same files: merge-on-read, nothing rewritten.
    assert sorted(table.inspect.files().column("file_path").to_pylist()) == sorted(
        [*files, *deletes.column("file_path").to_pylist()]
    )
    # Reloaded from the catalog (the manifests on disk, not the writer's memory).
    again = catalog.load_table("shop.orders")
    assert _sorted(again.scan().to_arrow().to_pylist()) == LIVE
    selective = again.scan(row_filter="id >= 4 and id <= 7").to_arrow().to_pylist()
    assert _sorted(selective) == [r for r in LIVE if 4 <= r["id"] <= 7]


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def test_a_governed_query_never_returns_a_deleted_row(
    gov: Mesh, catalog: SqlCatalog, tmp_path: Path, engine: str
) -> None:
    _orders(catalog)
    gov.domains.create(
        "ice", str(tmp_path / "ice"), catalog=f"iceberg:{catalog.properties['uri']}", create=True
    )
    gov.domains.sync()
    assert gov.catalog.table(TABLE).format == "iceberg"
    gov.access.create_user("steward@ice", "steward")
    grant = govmesh.request
    gov.access.grant(
        grant({"grant": "SELECT", "on": TABLE, "to": "analytics", "grantable": True}),
        as_="steward@ice",
    )
    gov.access.grant(
        grant({"grant": "SELECT", "on": TABLE, "to": "analyst@analytics"}), as_="admin@analytics"
    )
    gov.access.grant(
        grant(
            {
                "grant": "SELECT",
                "on": TABLE,
                "to": "other@analytics",
                "row_filter": "region = 'eu'",
            }
        ),
        as_="admin@analytics",
    )

    def rows(sql: str, user: str = "analyst@analytics") -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = gov.query(sql, as_=user, engine=engine).to_pylist()
        return out

    columns = f"SELECT id, region, price, note FROM {TABLE}"
    assert rows(f"{columns} ORDER BY id") == LIVE
    assert rows(f"SELECT count(*) AS n, sum(price) AS total FROM {TABLE}") == [
        {"n": 6, "total": 10.0 + 30.0 + 50.0 + 70.0 + 80.0 + 90.0}
    ]
    # Selective WHEREs, pushed into pyiceberg's row filter: on the key, on the renamed
    # column (the first file still calls it amount), on the added one (absent there).
    assert rows(f"{columns} WHERE id BETWEEN 2 AND 7 ORDER BY id") == [
        {"id": 3, "region": "eu", "price": 30.0, "note": None},
        {"id": 5, "region": "us", "price": 50.0, "note": None},
        {"id": 7, "region": "us", "price": 70.0, "note": "b"},
    ]
    assert rows(f"SELECT id FROM {TABLE} WHERE price >= 40 ORDER BY id") == [
        {"id": 5},
        {"id": 7},
        {"id": 8},
        {"id": 9},
    ]
    assert rows(f"SELECT id FROM {TABLE} WHERE note IS NULL ORDER BY id") == [
        {"id": 1},
        {"id": 3},
        {"id": 5},
    ]
    assert rows(f"SELECT id FROM {TABLE} WHERE id = 6") == []
    # The policy's row filter and the deletes together.
    assert rows(f"SELECT id, price FROM {TABLE} ORDER BY id", "other@analytics") == [
        {"id": 1, "price": 10.0},
        {"id": 3, "price": 30.0},
        {"id": 8, "price": 80.0},
        {"id": 9, "price": 90.0},
    ]
