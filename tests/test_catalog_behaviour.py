"""The ``DomainCatalog`` contract, run over every backend: builtin, Iceberg and Delta.

Each backend gets a domain storage root holding the same logical tables, written by the
backend's own writer: Parquet files catalogued by the crawler (builtin), pyiceberg's SQL
catalog on SQLite (Iceberg), ``deltalake.write_deltalake`` (Delta). ``sales.orders`` is
partitioned by ``region``; ``sales.customers`` is not. Where a backend legitimately
differs, the test says so and checks each side; the backend-specific details stay in
``test_catalog_iceberg``, ``test_catalog_delta`` and ``test_crawler``.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from lakemesh.catalog import DomainCatalog, Format, TableInfo
from lakemesh.catalog.builtin import CATALOG_PATH, BuiltinCatalog
from lakemesh.catalog.delta import DeltaCatalog
from lakemesh.catalog.iceberg import IcebergCatalog
from lakemesh.errors import CatalogCorrupt, NotFound, PathOutsideRoot
from lakemesh.metadata.crawler import Crawler
from lakemesh.storage.local import LocalStorage

ORDERS = pa.schema([("id", pa.int64()), ("region", pa.string()), ("amount", pa.float64())])
CUSTOMERS = pa.schema([("id", pa.int64()), ("name", pa.string())])
ORDERS_ROWS = pa.table(
    {"id": [1, 2, 3], "region": ["eu", "us", "eu"], "amount": [10.0, 20.0, 5.5]}, ORDERS
)
CUSTOMERS_ROWS = pa.table({"id": [1, 2], "name": ["ana", "bo"]}, CUSTOMERS)
PARTITIONED = {"orders": "region"}  # table -> partition column, for every backend
ORDERS_IDENT, CUSTOMERS_IDENT = ("sales", "orders"), ("sales", "customers")


class Domain(ABC):
    """One backend's domain: a storage root, its catalog, and the backend's own writer."""

    kind: str
    format: Format  # what load_table reports for a table of this backend

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.root = tmp_path / "root"
        (self.root / "sales").mkdir(parents=True)
        self.storage = LocalStorage(str(self.root))
        self._opened: list[DomainCatalog] = []

    def open(self) -> DomainCatalog:
        """A new catalog object: its ``warnings`` and ``unreadable`` start empty."""
        catalog = self._open()
        self._opened.append(catalog)
        return catalog

    def close(self) -> None:
        for catalog in self._opened:
            catalog.close()

    @abstractmethod
    def _open(self) -> DomainCatalog: ...

    @abstractmethod
    def write(self, table: str, rows: pa.Table) -> list[str]:
        """Append rows to ``sales.<table>`` (created on first write); the writer's warnings."""

    @abstractmethod
    def add_column(self, table: str) -> None:
        """Add a string column ``email`` to ``sales.<table>``."""

    @abstractmethod
    def drop(self, table: str) -> None: ...

    @abstractmethod
    def corrupt(self, table: str) -> list[str]:
        """Break the metadata the backend describes ``sales.<table>`` from."""

    @abstractmethod
    def plant_outside(self, table: str) -> list[str]:
        """Make ``sales.<table>`` a table whose data lies outside the storage root."""


class BuiltinDomain(Domain):
    """Hive-style Parquet folders; the crawler is the builtin catalog's writer."""

    kind, format = "builtin", "parquet"

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self._names = (f"part-{i}.parquet" for i in itertools.count())

    def _open(self) -> DomainCatalog:
        return BuiltinCatalog(self.storage)

    def _crawl(self) -> list[str]:
        return Crawler(self.storage, BuiltinCatalog(self.storage)).crawl().warnings

    def _put(self, folder: Path, rows: pa.Table) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(rows, folder / next(self._names))

    def write(self, table: str, rows: pa.Table) -> list[str]:
        key = PARTITIONED.get(table)
        if key is None:
            self._put(self.root / "sales" / table, rows)
        else:  # the partition value lives in the folder name, not in the file
            for value in pc.unique(rows.column(key)).to_pylist():
                part = rows.filter(pc.equal(rows.column(key), value)).drop_columns([key])
                self._put(self.root / "sales" / table / f"{key}={value}", part)
        return self._crawl()

    def add_column(self, table: str) -> None:
        # A crawler only sees a column through a file that has it.
        with_email = CUSTOMERS_ROWS.slice(0, 1).append_column("email", pa.array(["a@x"]))
        self.write(table, with_email)

    def drop(self, table: str) -> None:
        shutil.rmtree(self.root / "sales" / table)
        self._crawl()

    def corrupt(self, table: str) -> list[str]:
        for path in (self.root / "sales" / table).rglob("*.parquet"):
            path.write_bytes(b"PAR1 not parquet any more")
        return self._crawl()

    def plant_outside(self, table: str) -> list[str]:
        outside = self.tmp_path / "outside" / table
        outside.mkdir(parents=True)
        pq.write_table(CUSTOMERS_ROWS, outside / "secret.parquet")
        (self.root / "sales" / table).symlink_to(outside)
        return self._crawl()


class IcebergDomain(Domain):
    """A pyiceberg SQL catalog on SQLite, its warehouse the domain's root."""

    kind, format = "iceberg", "iceberg"

    def __init__(self, tmp_path: Path) -> None:
        from pyiceberg.catalog.sql import SqlCatalog

        super().__init__(tmp_path)
        self.uri = f"sqlite:///{tmp_path / 'iceberg.db'}"
        self.writer = SqlCatalog("default", uri=self.uri, warehouse=str(self.root))
        self.writer.create_namespace("sales")

    def _open(self) -> DomainCatalog:
        return IcebergCatalog(self.storage, self.uri)

    def close(self) -> None:
        super().close()
        self.writer.engine.dispose()

    def _create(self, table: str, schema: pa.Schema, **kwargs: Any) -> Any:
        created = self.writer.create_table(f"sales.{table}", schema=schema, **kwargs)
        key = PARTITIONED.get(table)
        if key is not None:
            with created.update_spec() as spec:
                spec.add_identity(key)
        return self.writer.load_table(f"sales.{table}")

    def write(self, table: str, rows: pa.Table) -> list[str]:
        if self.writer.table_exists(f"sales.{table}"):
            loaded = self.writer.load_table(f"sales.{table}")
        else:
            loaded = self._create(table, rows.schema)
        loaded.append(rows)
        return []

    def add_column(self, table: str) -> None:
        from pyiceberg.types import StringType

        with self.writer.load_table(f"sales.{table}").update_schema() as update:
            update.add_column("email", StringType())

    def drop(self, table: str) -> None:
        self.writer.drop_table(f"sales.{table}")

    def corrupt(self, table: str) -> list[str]:
        location = self.writer.load_table(f"sales.{table}").metadata_location
        Path(location.removeprefix("file://")).write_text("{not json")
        return []

    def plant_outside(self, table: str) -> list[str]:
        outside = self.tmp_path / "outside" / table
        self._create(table, CUSTOMERS, location=str(outside)).append(CUSTOMERS_ROWS)
        return []


class DeltaDomain(Domain):
    """Delta tables at ``<root>/<database>/<table>``, written by deltalake."""

    kind, format = "delta", "delta"

    def _open(self) -> DomainCatalog:
        return DeltaCatalog(self.storage)

    def _path(self, table: str) -> str:
        return str(self.root / "sales" / table)

    def write(self, table: str, rows: pa.Table, **kwargs: Any) -> list[str]:
        from deltalake import write_deltalake

        key = PARTITIONED.get(table)
        partition_by = [key] if key else None
        write_deltalake(self._path(table), rows, mode="append", partition_by=partition_by, **kwargs)
        return []

    def add_column(self, table: str) -> None:
        with_email = CUSTOMERS_ROWS.slice(0, 1).append_column("email", pa.array(["a@x"]))
        self.write(table, with_email, schema_mode="merge")

    def drop(self, table: str) -> None:
        shutil.rmtree(self._path(table))

    def corrupt(self, table: str) -> list[str]:
        log = Path(self._path(table), "_delta_log")
        max(log.glob("*.json")).write_text("{not json")
        return []

    def plant_outside(self, table: str) -> list[str]:
        from deltalake import write_deltalake

        outside = self.tmp_path / "outside" / table
        write_deltalake(str(outside), CUSTOMERS_ROWS)
        (self.root / "sales" / table).symlink_to(outside)
        return []


BACKENDS: dict[str, type[Domain]] = {
    "builtin": BuiltinDomain,
    "iceberg": IcebergDomain,
    "delta": DeltaDomain,
}


@pytest.fixture(params=list(BACKENDS))
def domain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Domain]:
    """A domain with ``sales.orders`` (partitioned) and ``sales.customers``."""
    try:
        made = BACKENDS[request.param](tmp_path)
        made.write("orders", ORDERS_ROWS)
        made.write("customers", CUSTOMERS_ROWS)
    except ImportError as exc:
        pytest.fail(f"the {request.param} backend cannot start: {exc}")
    yield made
    made.close()


@pytest.fixture
def catalog(domain: Domain) -> DomainCatalog:
    return domain.open()


def inside(domain: Domain, location: str) -> str:
    """The location relative to the root, failing if it is not inside it."""
    assert domain.storage.contains(location), f"{location} is outside {domain.storage.uri}"
    return domain.storage.relative(location)


def columns(info: TableInfo) -> dict[str, str]:
    return {c.name: c.type for c in info.table_schema.columns}


# ------------------------------------------------------------------ listing and loading


def test_lists_every_table(catalog: DomainCatalog) -> None:
    catalog.check()
    refs = catalog.list_tables()
    assert sorted(r.ident for r in refs) == [CUSTOMERS_IDENT, ORDERS_IDENT]
    assert all(r.version for r in refs)
    assert catalog.warnings == []
    assert catalog.unreadable == set()


def test_loads_a_table(domain: Domain, catalog: DomainCatalog) -> None:
    marks = {r.ident: r.version for r in catalog.list_tables()}
    orders = catalog.load_table(*ORDERS_IDENT)
    assert (orders.database, orders.name, orders.format) == ("sales", "orders", domain.format)
    assert inside(domain, orders.location) == "sales/orders"
    assert columns(orders) == {"id": "int64", "region": "string", "amount": "double"}
    # Builtin lists a Hive partition column after the files' columns (it comes from the
    # folder names); Iceberg and Delta keep the writer's order.
    builtin = domain.kind == "builtin"
    order = ["id", "amount", "region"] if builtin else ["id", "region", "amount"]
    assert orders.table_schema.names == order
    assert orders.partition_keys == ("region",)
    assert orders.table_schema.partition_keys == ["region"]
    assert (orders.row_count, orders.file_count) == (3, 2)
    assert orders.size_bytes > 0
    assert orders.version == marks[ORDERS_IDENT]  # the listing's mark is the table's

    customers = catalog.load_table(*CUSTOMERS_IDENT)
    assert inside(domain, customers.location) == "sales/customers"
    assert columns(customers) == {"id": "int64", "name": "string"}
    assert customers.partition_keys == ()
    assert customers.table_schema.partition_keys == []
    assert customers.row_count == 2


def test_partitions_and_their_keys(domain: Domain, catalog: DomainCatalog) -> None:
    parts = catalog.partitions(*ORDERS_IDENT)
    assert [p.key for p in parts] == ["region=eu", "region=us"]
    by_key = {p.key: p for p in parts}
    assert [json.loads(p.values) for p in parts] == [{"region": "eu"}, {"region": "us"}]
    assert {k: p.row_count for k, p in by_key.items()} == {"region=eu": 2, "region=us": 1}
    assert {k: p.file_count for k, p in by_key.items()} == {"region=eu": 1, "region=us": 1}
    for p in parts:
        rel = inside(domain, p.location)
        # Iceberg keeps data files under <table>/data/; the others in the table folder.
        assert rel.startswith("sales/orders/") and rel.endswith(p.key), rel
        assert os.path.isdir(p.location)
        assert p.size_bytes > 0
        assert p.modified_at is not None and p.modified_at > 1_600_000_000 * 10**9
    assert list(catalog.partition_rows(*ORDERS_IDENT)) == [tuple(p) for p in parts]
    assert catalog.partitions(*CUSTOMERS_IDENT) == []


# ------------------------------------------------------------------ changes


def test_new_data_is_seen(domain: Domain, catalog: DomainCatalog) -> None:
    before = catalog.load_table(*ORDERS_IDENT)
    first = catalog.changes(None)
    assert sorted(r.ident for r in first.changed) == [CUSTOMERS_IDENT, ORDERS_IDENT]
    quiet = catalog.changes(first.cursor)
    assert (quiet.changed, quiet.removed) == ([], [])

    more = pa.table({"id": [4], "region": ["apac"], "amount": [1.0]}, ORDERS)
    domain.write("orders", more)
    moved = catalog.changes(quiet.cursor)
    assert [r.ident for r in moved.changed] == [ORDERS_IDENT]
    assert moved.removed == []
    if domain.kind == "builtin":
        # The builtin catalog has a change feed of its own: it names the new partition.
        assert [p.key for p in moved.deltas[ORDERS_IDENT].upserts] == ["region=apac"]
    else:
        # Iceberg and Delta report the changed table; the sync diffs its partitions.
        assert moved.deltas == {}
    after = catalog.load_table(*ORDERS_IDENT)
    assert after.version != before.version
    assert after.row_count == 4
    assert [p.key for p in catalog.partitions(*ORDERS_IDENT)] == [
        "region=apac",
        "region=eu",
        "region=us",
    ]
    assert catalog.changes(moved.cursor).changed == []


def test_added_column_is_seen(domain: Domain, catalog: DomainCatalog) -> None:
    cursor = catalog.changes(None).cursor
    before = catalog.load_table(*CUSTOMERS_IDENT)
    domain.add_column("customers")
    after = catalog.load_table(*CUSTOMERS_IDENT)
    assert after.table_schema.names == ["id", "name", "email"]
    assert columns(after)["email"] == "string"
    assert after.version != before.version
    assert [r.ident for r in catalog.changes(cursor).changed] == [CUSTOMERS_IDENT]


def test_new_and_dropped_tables_are_seen(domain: Domain, catalog: DomainCatalog) -> None:
    cursor = catalog.changes(None).cursor
    domain.write("items", CUSTOMERS_ROWS)
    domain.drop("customers")
    changes = catalog.changes(cursor)
    assert [r.ident for r in changes.changed] == [("sales", "items")]
    assert changes.removed == [CUSTOMERS_IDENT]
    assert sorted(r.ident for r in catalog.list_tables()) == [("sales", "items"), ORDERS_IDENT]
    with pytest.raises(NotFound):
        catalog.load_table(*CUSTOMERS_IDENT)


# ------------------------------------------------------------------ unknown and broken


@pytest.mark.parametrize(
    "ident", [("sales", "nope"), ("nodb", "orders"), ("Sales", "orders"), ("sales", "../orders")]
)
def test_an_unknown_table_is_not_found(catalog: DomainCatalog, ident: tuple[str, str]) -> None:
    with pytest.raises(NotFound):
        catalog.load_table(*ident)


def test_partitions_of_an_unknown_table_are_not_found(catalog: DomainCatalog) -> None:
    with pytest.raises(NotFound):
        catalog.partitions("sales", "nope")


def test_a_broken_table_is_unreadable_never_dropped(domain: Domain) -> None:
    cursor = domain.open().changes(None).cursor
    written = domain.corrupt("orders")
    catalog = domain.open()
    changes = catalog.changes(cursor)
    listed = {r.ident for r in catalog.list_tables()}
    assert ORDERS_IDENT in listed | catalog.unreadable, "the broken table was dropped"
    # Iceberg's changes() names a skipped table removed; being unreadable, the sync keeps it.
    assert ORDERS_IDENT not in changes.removed or ORDERS_IDENT in catalog.unreadable
    if domain.kind == "iceberg":
        # Iceberg loads each table to list it: a broken one is skipped, and named.
        assert ORDERS_IDENT in catalog.unreadable
        assert any("sales.orders" in w for w in catalog.warnings)
    elif domain.kind == "delta":
        # Delta lists from the log's file names alone: the table stays listed, and
        # reading it says what is wrong.
        assert ORDERS_IDENT in listed
    else:
        # The crawler is the builtin's reader of files: it says what it could not read
        # and keeps the table's last good description.
        assert any("sales/orders" in w for w in written)
        assert ORDERS_IDENT in listed
    if domain.kind != "builtin":
        for read in (catalog.load_table, catalog.partitions):
            with pytest.raises(CatalogCorrupt):
                read(*ORDERS_IDENT)
    assert catalog.load_table(*CUSTOMERS_IDENT).row_count == 2  # the rest reads on


@pytest.mark.parametrize("domain", ["builtin"], indirect=True)
def test_a_damaged_builtin_row_is_catalog_corrupt(domain: Domain) -> None:
    """Builtin only: it is the one backend with a record of its own per table (Iceberg's
    and Delta's are the metadata files the test above breaks)."""
    with sqlite3.connect(domain.root / CATALOG_PATH) as conn:
        conn.execute("UPDATE tables SET schema = '{not json' WHERE name = 'orders'")
    conn.close()
    catalog = domain.open()
    assert ORDERS_IDENT in {r.ident for r in catalog.list_tables()}
    with pytest.raises(CatalogCorrupt):
        catalog.load_table(*ORDERS_IDENT)


# ------------------------------------------------------------------ the storage root


def test_paths_never_leave_the_root(domain: Domain) -> None:
    """A table whose data lies outside the root (a link out of it, or an Iceberg location
    elsewhere) is never listed nor read; everything that is listed stays inside."""
    written = domain.plant_outside("leak")
    catalog = domain.open()
    refs = catalog.list_tables()
    assert ("sales", "leak") not in {r.ident for r in refs}
    assert any("leak" in w for w in [*written, *catalog.warnings])
    if domain.kind == "builtin":
        # The crawler never catalogued it: to the builtin catalog it does not exist.
        with pytest.raises(NotFound):
            catalog.load_table("sales", "leak")
    else:
        for read in (catalog.load_table, catalog.partitions):
            with pytest.raises(PathOutsideRoot):
                read("sales", "leak")
    for ref in refs:
        info = catalog.load_table(ref.database, ref.name)
        inside(domain, info.location)
        for part in catalog.partitions(ref.database, ref.name):
            inside(domain, part.location)
