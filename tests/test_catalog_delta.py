"""DeltaCatalog and describe_delta_table against real tables written by deltalake."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from lakemesh.catalog import HIVE_NULL, open_catalog
from lakemesh.catalog.delta import DeltaCatalog, describe_delta_table, log_version
from lakemesh.errors import BackendUnavailable, CatalogCorrupt, NotFound, PathOutsideRoot
from lakemesh.storage import Entry
from lakemesh.storage.local import LocalStorage


def rows(n: int, regions: list[str | None]) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "region": pa.array([regions[i % len(regions)] for i in range(n)], pa.string()),
            "day": [dt.date(2024, 1, 1)] * n,
        }
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    (path / "sales").mkdir(parents=True)
    return path


@pytest.fixture
def catalog(root: Path) -> DeltaCatalog:
    cat = open_catalog("delta", None, LocalStorage(str(root)))
    assert isinstance(cat, DeltaCatalog)
    return cat


def write(root: Path, table: str, data: pa.Table, **kwargs: Any) -> str:
    path = str(root / "sales" / table)
    write_deltalake(path, data, **kwargs)
    return path


# ------------------------------------------------------------------ reading


def test_list_and_load(root: Path, catalog: DeltaCatalog) -> None:
    write(
        root,
        "orders",
        rows(6, ["eu", "us", None]),
        partition_by=["region"],
        description="all orders",
        configuration={"delta.appendOnly": "true"},
    )
    write(root, "orders", rows(2, ["eu"]), mode="append")

    catalog.check()
    assert catalog.list_tables() == [("sales", "orders", "1")]
    info = catalog.load_table("sales", "orders")
    assert info.format == "delta"
    assert info.location == str(root / "sales" / "orders")
    assert info.version == "1"
    assert info.partition_keys == ("region",)
    assert info.description == "all orders"
    assert info.properties == {"delta.appendOnly": "true"}
    assert (info.row_count, info.file_count) == (8, 4)
    assert info.size_bytes > 0
    cols = {c.name: c for c in info.table_schema.columns}
    assert (cols["id"].type, cols["region"].type, cols["day"].type) == (
        "int64",
        "string",
        "date32[day]",
    )
    assert info.table_schema.partition_keys == ["region"]


def test_partitions(root: Path, catalog: DeltaCatalog) -> None:
    write(root, "orders", rows(6, ["eu", "us", None]), partition_by=["region", "day"])
    write(root, "orders", rows(2, ["eu"]), mode="append")
    parts = {p.key: p for p in catalog.partitions("sales", "orders")}
    assert set(parts) == {
        "region=eu/day=2024-01-01",
        "region=us/day=2024-01-01",
        f"region={HIVE_NULL}/day=2024-01-01",
    }
    eu = parts["region=eu/day=2024-01-01"]
    assert eu.values == '{"region":"eu","day":"2024-01-01"}'
    assert (eu.file_count, eu.row_count) == (2, 4)
    assert eu.modified_at is not None
    assert eu.modified_at > 1_600_000_000 * 10**9
    assert json.loads(parts[f"region={HIVE_NULL}/day=2024-01-01"].values)["region"] is None
    assert all(os.path.isdir(p.location) for p in parts.values())

    write(root, "flat", rows(2, ["eu"]))
    assert catalog.partitions("sales", "flat") == []


def test_partition_location_keeps_writer_escaping(root: Path, catalog: DeltaCatalog) -> None:
    data = pa.table(
        {
            "x": [1, 2],
            "ts": pa.array([dt.datetime(2024, 1, 1, 12, 30), None], pa.timestamp("us", tz="UTC")),
        }
    )
    write(root, "events", data, partition_by=["ts"])
    parts = catalog.partitions("sales", "events")
    assert [p.key for p in parts] == ["ts=2024-01-01 12:30:00.000000", f"ts={HIVE_NULL}"]
    assert all(os.path.isdir(p.location) for p in parts)


def test_changes(root: Path, catalog: DeltaCatalog) -> None:
    write(root, "orders", rows(3, ["eu"]))
    first = catalog.changes(None)
    assert [r.name for r in first.changed] == ["orders"]

    quiet = catalog.changes(first.cursor)
    assert quiet.changed == []
    assert quiet.removed == []

    write(root, "orders", rows(3, ["us"]), mode="append")
    write(root, "items", rows(1, ["eu"]))
    moved = catalog.changes(quiet.cursor)
    assert sorted((r.name, r.version) for r in moved.changed) == [("items", "0"), ("orders", "1")]

    shutil.rmtree(root / "sales" / "items")
    gone = catalog.changes(moved.cursor)
    assert gone.changed == []
    assert gone.removed == [("sales", "items")]
    assert catalog.changes(gone.cursor).changed == []


def test_schema_evolution(root: Path, catalog: DeltaCatalog) -> None:
    write(root, "orders", rows(2, ["eu"]))
    wider = rows(1, ["us"]).append_column("amount", pa.array([1.5]))
    write(root, "orders", wider, mode="append", schema_mode="merge")
    info = catalog.load_table("sales", "orders")
    assert info.table_schema.names == ["id", "region", "day", "amount"]
    assert info.table_schema.column("amount").type == "double"  # type: ignore[union-attr]
    assert info.version == "1"


def test_version_mark_counts_checkpoints(root: Path, catalog: DeltaCatalog) -> None:
    path = write(root, "orders", rows(1, ["eu"]))
    for _ in range(2):
        write(root, "orders", rows(1, ["eu"]), mode="append")
    DeltaTable(path).create_checkpoint()
    for name in os.listdir(os.path.join(path, "_delta_log")):
        if name.endswith(".json"):
            os.remove(os.path.join(path, "_delta_log", name))  # only the checkpoint is left
    assert catalog.list_tables()[0].version == "2"
    assert catalog.load_table("sales", "orders").version == "2"

    def entry(name: str) -> Entry:
        return Entry(name, name, False, 0, 0)

    names = [
        "00000000000000000003.json",
        "00000000000000000005.checkpoint.parquet",
        "00000000000000000001.00000000000000000009.compacted.json",
        "_last_checkpoint",
        "00000000000000000007.crc",
    ]
    assert log_version([entry(n) for n in names]) == 5
    assert log_version([entry("_last_checkpoint")]) is None


def test_missing_table(catalog: DeltaCatalog) -> None:
    with pytest.raises(NotFound):
        catalog.load_table("sales", "nope")
    with pytest.raises(NotFound):
        catalog.partitions("Sales", "nope")


# ------------------------------------------------------------------ skipped tables


def test_skips_with_warnings(root: Path, catalog: DeltaCatalog, tmp_path: Path) -> None:
    write(root, "good", rows(1, ["eu"]))
    write(root, "BadName", rows(1, ["eu"]))
    (root / "sales" / "plain").mkdir()
    (root / "sales" / "_hidden").mkdir()
    (root / "sales" / "nolog" / "_delta_log").mkdir(parents=True)
    outside = tmp_path / "outside"
    write_deltalake(str(outside), rows(1, ["eu"]))
    (root / "sales" / "linked").symlink_to(outside)
    (root / "sales" / "loglink").mkdir()
    (root / "sales" / "loglink" / "_delta_log").symlink_to(outside / "_delta_log")
    assert [r.name for r in catalog.list_tables()] == ["good"]
    text = "\n".join(catalog.warnings)
    assert "BadName" in text
    assert "sales/plain: not a Delta table" in text
    assert "sales.nolog: _delta_log holds no commit" in text
    # seen but unreadable: the sync never takes these for removed
    assert catalog.unreadable == {("sales", "nolog"), ("sales", "loglink")}
    assert "sales/linked: link leads outside" in text
    assert "sales.loglink: location" in text
    with pytest.raises(PathOutsideRoot):
        catalog.load_table("sales", "loglink")
    assert "_hidden" not in text


def test_corrupt_log(root: Path, catalog: DeltaCatalog) -> None:
    path = write(root, "orders", rows(2, ["eu"]))
    write(root, "orders", rows(2, ["eu"]), mode="append")
    write(root, "fine", rows(1, ["eu"]))
    Path(path, "_delta_log", "00000000000000000001.json").write_text("{not json")
    refs = catalog.list_tables()  # listing stays cheap: it does not parse the log
    assert [r.name for r in refs] == ["fine", "orders"]
    with pytest.raises(CatalogCorrupt, match="unreadable Delta log") as err:
        catalog.load_table("sales", "orders")
    assert "\n" not in str(err.value)
    with pytest.raises(CatalogCorrupt):
        catalog.partitions("sales", "orders")
    assert catalog.load_table("sales", "fine").row_count == 1


def test_check_missing_root(tmp_path: Path) -> None:
    cat = DeltaCatalog(LocalStorage(str(tmp_path / "gone")))
    with pytest.raises(BackendUnavailable, match="does not exist"):
        cat.check()
    with pytest.raises(BackendUnavailable):
        cat.list_tables()


# ------------------------------------------------------------------ crawler folders


def test_describe_folder(root: Path) -> None:
    write(root, "orders", rows(4, ["eu", "us"]), partition_by=["region"])
    info, parts = describe_delta_table(LocalStorage(str(root)), "sales/orders", "db", "t")
    assert (info.database, info.name, info.format, info.version) == ("db", "t", "delta", "0")
    assert info.row_count == 4
    assert {p.key: p.row_count for p in parts} == {"region=eu": 2, "region=us": 2}


def test_describe_corrupt_folder(root: Path) -> None:
    path = write(root, "orders", rows(1, ["eu"]))
    Path(path, "_delta_log", "00000000000000000000.json").write_text("{not json")
    with pytest.raises(CatalogCorrupt):
        describe_delta_table(LocalStorage(str(root)), "sales/orders", "sales", "orders")


def test_crawler_uses_describe(root: Path) -> None:
    from lakemesh.catalog.builtin import BuiltinCatalog
    from lakemesh.metadata.crawler import crawl_domain

    write(root, "orders", rows(4, ["eu", "us"]), partition_by=["region"])
    path = write(root, "broken", rows(1, ["eu"]))
    Path(path, "_delta_log", "00000000000000000000.json").write_text("{not json")
    storage = LocalStorage(str(root))
    builtin = BuiltinCatalog(storage)
    report = crawl_domain(storage, builtin)
    assert report.added == ["sales.orders"]
    assert any("sales.broken" in w for w in report.warnings)
    assert builtin.load_table("sales", "orders").format == "delta"
    assert [p.key for p in builtin.partitions("sales", "orders")] == ["region=eu", "region=us"]
