"""IcebergCatalog and describe_iceberg_table against a real pyiceberg SQL catalog (SQLite)."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table

from lakemesh.catalog import HIVE_NULL, open_catalog, parse_catalog_spec
from lakemesh.catalog.iceberg import IcebergCatalog, describe_iceberg_table
from lakemesh.errors import (
    BackendUnavailable,
    CatalogCorrupt,
    InvalidInput,
    NotFound,
    PathOutsideRoot,
)
from lakemesh.storage.local import LocalStorage

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("region", pa.string()),
        pa.field("ts", pa.timestamp("us")),
    ]
)


def rows(n: int, regions: list[str | None]) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "region": [regions[i % len(regions)] for i in range(n)],
            "ts": [dt.datetime(2024, 1, 1)] * n,
        },
        schema=SCHEMA,
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "catalog.db"


@pytest.fixture
def writer(root: Path, db_path: Path) -> Iterator[SqlCatalog]:
    """The domain's own pyiceberg catalog, as the domain's tools would use it."""
    cat = SqlCatalog("default", uri=f"sqlite:///{db_path}", warehouse=str(root))
    cat.create_namespace("sales")
    yield cat
    cat.engine.dispose()


@pytest.fixture
def catalog(root: Path, db_path: Path, writer: SqlCatalog) -> Iterator[IcebergCatalog]:
    cat = IcebergCatalog(LocalStorage(str(root)), f"sqlite:///{db_path}")
    yield cat
    cat.close()


def orders(writer: SqlCatalog, name: str = "orders", **kwargs: Any) -> Table:
    table = writer.create_table(f"sales.{name}", schema=SCHEMA, **kwargs)
    with table.update_spec() as spec:
        spec.add_identity("region")
    return writer.load_table(f"sales.{name}")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------ reading


def test_list_and_load(writer: SqlCatalog, catalog: IcebergCatalog) -> None:
    table = orders(writer, properties={"comment": "all orders", "owner": "sales"})
    table.append(rows(6, ["eu", "us", None]))
    table = writer.load_table("sales.orders")

    catalog.check()
    refs = catalog.list_tables()
    assert [(r.database, r.name) for r in refs] == [("sales", "orders")]
    assert refs[0].version == table.metadata_location

    info = catalog.load_table("sales", "orders")
    assert info.format == "iceberg"
    assert info.location == catalog.storage.location("sales/orders")
    assert info.partition_keys == ("region",)
    assert info.description == "all orders"
    assert info.properties["owner"] == "sales"
    assert info.version == table.metadata_location
    assert (info.row_count, info.file_count) == (6, 3)
    assert info.size_bytes > 0
    cols = {c.name: c for c in info.table_schema.columns}
    assert cols["id"].type == "int64"
    assert not cols["id"].nullable
    # pyiceberg reads Iceberg strings as large_string; the catalog spells it canonically
    assert cols["region"].type == "string"
    assert cols["ts"].type == "timestamp[us]"
    assert info.table_schema.partition_keys == ["region"]


def test_empty_table_and_open_catalog(writer: SqlCatalog, root: Path, db_path: Path) -> None:
    writer.create_table("sales.empty", schema=SCHEMA)
    kind, uri = parse_catalog_spec(f"iceberg:sqlite:///{db_path}")
    assert uri is not None
    cat = open_catalog(kind, uri, LocalStorage(str(root)))
    assert isinstance(cat, IcebergCatalog)
    try:
        info = cat.load_table("sales", "empty")
        assert (info.row_count, info.file_count, info.partition_keys) == (0, 0, ())
        assert cat.partitions("sales", "empty") == []
    finally:
        cat.close()


def test_partitions(writer: SqlCatalog, catalog: IcebergCatalog) -> None:
    orders(writer).append(rows(6, ["eu", "us", None]))
    parts = {p.key: p for p in catalog.partitions("sales", "orders")}
    assert set(parts) == {"region=eu", "region=us", f"region={HIVE_NULL}"}
    eu = parts["region=eu"]
    assert json.loads(eu.values) == {"region": "eu"}
    assert eu.values == '{"region":"eu"}'
    assert (eu.file_count, eu.row_count) == (1, 2)
    assert eu.size_bytes > 0
    assert eu.modified_at is not None
    assert eu.modified_at > 1_600_000_000 * 10**9  # nanoseconds
    assert os.path.isdir(eu.location)
    null = parts[f"region={HIVE_NULL}"]
    assert json.loads(null.values) == {"region": None}
    assert os.path.isdir(null.location)  # Iceberg names the folder region=null

    writer.create_table("sales.flat", schema=SCHEMA).append(rows(2, ["eu"]))
    assert catalog.partitions("sales", "flat") == []


def test_changes(writer: SqlCatalog, catalog: IcebergCatalog) -> None:
    orders(writer).append(rows(3, ["eu"]))
    first = catalog.changes(None)
    assert [r.name for r in first.changed] == ["orders"]
    assert first.removed == []

    quiet = catalog.changes(first.cursor)
    assert quiet.changed == []
    assert quiet.removed == []

    writer.load_table("sales.orders").append(rows(3, ["us"]))
    writer.create_table("sales.items", schema=SCHEMA)
    moved = catalog.changes(quiet.cursor)
    assert sorted(r.name for r in moved.changed) == ["items", "orders"]

    writer.drop_table("sales.items")
    gone = catalog.changes(moved.cursor)
    assert gone.changed == []
    assert gone.removed == [("sales", "items")]
    assert catalog.changes(gone.cursor).changed == []


def test_schema_evolution(writer: SqlCatalog, catalog: IcebergCatalog) -> None:
    from pyiceberg.types import DoubleType

    orders(writer).append(rows(2, ["eu"]))
    before = catalog.load_table("sales", "orders")
    with writer.load_table("sales.orders").update_schema() as update:
        update.add_column("Amount", DoubleType(), doc="order total")
    after = catalog.load_table("sales", "orders")
    assert after.table_schema.names == ["id", "region", "ts", "amount"]
    assert after.table_schema.column("amount").type == "double"  # type: ignore[union-attr]
    assert after.version != before.version


def test_missing_table(catalog: IcebergCatalog) -> None:
    with pytest.raises(NotFound):
        catalog.load_table("sales", "nope")
    with pytest.raises(NotFound):
        catalog.partitions("nodb", "nope")
    with pytest.raises(NotFound):
        catalog.load_table("Sales", "orders")


# ------------------------------------------------------------------ skipped tables


def test_invalid_names_and_nested_namespaces(writer: SqlCatalog, catalog: IcebergCatalog) -> None:
    writer.create_namespace("Upper")
    writer.create_namespace(("sales", "eu"))
    writer.create_table(("sales", "eu", "deep"), schema=SCHEMA)
    writer.create_table("sales.BadName", schema=SCHEMA)
    writer.create_table("sales.good", schema=SCHEMA)
    assert [r.name for r in catalog.list_tables()] == ["good"]
    text = "\n".join(catalog.warnings)
    assert "Upper" in text
    assert "sales.eu" in text
    assert "BadName" in text


def test_location_outside_root_is_skipped(
    writer: SqlCatalog, catalog: IcebergCatalog, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere" / "orders"
    writer.create_table("sales.foreign", schema=SCHEMA, location=str(outside))
    writer.create_table("sales.local", schema=SCHEMA)
    assert [r.name for r in catalog.list_tables()] == ["local"]
    assert any("sales.foreign" in w and "outside" in w for w in catalog.warnings)
    with pytest.raises(PathOutsideRoot):
        catalog.load_table("sales", "foreign")
    with pytest.raises(PathOutsideRoot):
        catalog.partitions("sales", "foreign")


def test_table_cannot_swap_the_file_io(writer: SqlCatalog, catalog: IcebergCatalog) -> None:
    writer.create_table(
        "sales.sneaky",
        schema=SCHEMA,
        properties={"py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO"},
    )
    assert catalog.list_tables() == []
    assert any("py-io-impl" in w for w in catalog.warnings)
    with pytest.raises(PathOutsideRoot):
        catalog.load_table("sales", "sneaky")


# ------------------------------------------------------------------ unreachable catalogs


def test_rest_catalog_down(root: Path) -> None:
    cat = IcebergCatalog(LocalStorage(str(root)), f"http://127.0.0.1:{closed_port()}")
    for call in (cat.check, cat.list_tables):
        with pytest.raises(BackendUnavailable, match="cannot reach iceberg catalog") as err:
            call()
        assert "\n" not in str(err.value)


def test_sql_catalog_corrupt_file(root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a sqlite database" * 100)
    cat = IcebergCatalog(LocalStorage(str(root)), f"sqlite:///{bad}")
    with pytest.raises((BackendUnavailable, CatalogCorrupt)) as err:
        cat.check()
    assert "\n" not in str(err.value)
    cat.close()


def test_sql_catalog_missing_file_is_not_created(root: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    cat = IcebergCatalog(LocalStorage(str(root)), f"sqlite:///{missing}")
    with pytest.raises(BackendUnavailable, match="does not exist"):
        cat.list_tables()
    assert not missing.exists()


def test_invalid_uri(root: Path) -> None:
    with pytest.raises(InvalidInput):
        IcebergCatalog(LocalStorage(str(root)), "not a url").check()


def test_password_is_not_shown(root: Path) -> None:
    cat = IcebergCatalog(LocalStorage(str(root)), "postgresql://u:secret@127.0.0.1:1/x")
    assert "secret" not in cat.label


# ------------------------------------------------------------------ crawler folders


def test_describe_folder(writer: SqlCatalog, root: Path) -> None:
    orders(writer).append(rows(4, ["eu", "us"]))
    writer.load_table("sales.orders").append(rows(2, ["eu"]))
    info, parts = describe_iceberg_table(LocalStorage(str(root)), "sales/orders", "db", "t")
    assert (info.database, info.name, info.format) == ("db", "t", "iceberg")
    assert info.version == writer.load_table("sales.orders").metadata_location
    assert info.row_count == 6
    assert {p.key: p.row_count for p in parts} == {"region=eu": 4, "region=us": 2}
    assert {p.key: p.file_count for p in parts} == {"region=eu": 2, "region=us": 1}


def test_describe_corrupt_folder(writer: SqlCatalog, root: Path) -> None:
    orders(writer)
    storage = LocalStorage(str(root))
    meta = root / "sales" / "orders" / "metadata"
    (meta / "99999-broken.metadata.json").write_text("{not json")
    with pytest.raises(CatalogCorrupt):
        describe_iceberg_table(storage, "sales/orders", "sales", "orders")
    (meta / "99999-broken.metadata.json").write_text(json.dumps({"format-version": 2}))
    with pytest.raises(CatalogCorrupt):
        describe_iceberg_table(storage, "sales/orders", "sales", "orders")
    (root / "sales" / "hollow" / "metadata").mkdir(parents=True)
    with pytest.raises(CatalogCorrupt, match="no"):
        describe_iceberg_table(storage, "sales/hollow", "sales", "hollow")


def test_crawler_uses_describe(writer: SqlCatalog, root: Path) -> None:
    from lakemesh.catalog.builtin import BuiltinCatalog
    from lakemesh.metadata.crawler import crawl_domain

    orders(writer).append(rows(4, ["eu", "us"]))
    storage = LocalStorage(str(root))
    builtin = BuiltinCatalog(storage)
    report = crawl_domain(storage, builtin)
    assert report.added == ["sales.orders"]
    assert report.warnings == []
    assert builtin.load_table("sales", "orders").format == "iceberg"
    assert [p.key for p in builtin.partitions("sales", "orders")] == ["region=eu", "region=us"]
