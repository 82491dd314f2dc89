"""A table whose files evolved reads in the catalog's schema, on both engines.

Files written before a column existed read it as NULL, narrower types read as the
catalog's wider type, a column is read by the name its files spell, partition values are
typed as the catalog says (``01`` stays ``01``), JSON structs keep the catalog's field
order, and Iceberg/Delta scans come out in the catalog's schema too (an Iceberg rename
follows field ids). The result's schema is the catalog's schema, always.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from lakemesh.access.grants import GrantRequest, parse_actions
from lakemesh.mesh import Mesh
from tests.files import write_jsonl, write_parquet

ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]
USER = "ann@sales"


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[tuple[Mesh, Path]]:
    """A mesh with one empty domain ``sales`` (root returned) and a member to query."""
    root = tmp_path / "sales"
    root.mkdir()
    mesh = Mesh.init(tmp_path / "home")
    mesh.domains.create("sales", str(root), create=True)
    mesh.access.create_user(USER, "member")
    yield mesh, root
    mesh.close()


def publish(mesh: Mesh, *tables: str) -> None:
    """Crawl and sync ``sales``, and let the member read ``tables`` (``db.table``)."""
    mesh.domains.crawl("sales")
    mesh.domains.sync()
    for table in tables:
        request = GrantRequest(
            actions=parse_actions("SELECT"), principal=USER, table=f"sales.{table}"
        )
        mesh.access.grant(request)


def own_reader(mesh: Mesh, table: str) -> str:
    """A member of ``table``'s own domain, granted SELECT on it."""
    user = f"reader@{table.split('.')[0]}"
    mesh.access.create_user(user, "member")
    mesh.access.grant(GrantRequest(actions=parse_actions("SELECT"), principal=user, table=table))
    return user


def query(mesh: Mesh, sql: str, engine: str) -> pa.Table:
    return mesh.query(sql, as_=USER, engine=engine)


def catalog_types(mesh: Mesh, table: str) -> list[tuple[str, str]]:
    return [(c.name, c.type) for c in mesh.catalog.table(table).schema.columns]


def result_types(result: pa.Table) -> list[tuple[str, str]]:
    return [(f.name, str(f.type)) for f in result.schema]


def rows(result: pa.Table, key: str) -> list[dict[str, Any]]:
    return sorted(result.to_pylist(), key=lambda r: r[key])


# --------------------------------------------------------------------------- Parquet


def test_parquet_files_read_as_the_merged_schema(lake: tuple[Mesh, Path], engine: str) -> None:
    mesh, root = lake
    orders = root / "shop" / "orders"
    write_parquet(
        orders / "month=01" / "a.parquet",
        pa.table(
            {"order_id": pa.array([1, 2], pa.int32()), "amount": pa.array([1.5, 2.5], pa.float32())}
        ),
    )
    write_parquet(
        orders / "month=02" / "b.parquet",
        pa.table({"order_id": pa.array([3], pa.int64()), "amount": [3.25], "discount": [0.5]}),
    )
    publish(mesh, "shop.orders")
    assert catalog_types(mesh, "sales.shop.orders") == [
        ("order_id", "int64"),
        ("amount", "double"),
        ("discount", "double"),
        ("month", "string"),
    ]
    # the defect: a column the first file lacks made every query on the table fail
    ids = query(mesh, "SELECT order_id FROM sales.shop.orders ORDER BY order_id", engine)
    assert ids.column("order_id").to_pylist() == [1, 2, 3]
    everything = query(mesh, "SELECT * FROM sales.shop.orders", engine)
    assert result_types(everything) == catalog_types(mesh, "sales.shop.orders")
    assert rows(everything, "order_id") == [
        {"order_id": 1, "amount": 1.5, "discount": None, "month": "01"},
        {"order_id": 2, "amount": 2.5, "discount": None, "month": "01"},
        {"order_id": 3, "amount": 3.25, "discount": 0.5, "month": "02"},
    ]
    # the new column filters and aggregates like any other
    filtered = query(
        mesh, "SELECT count(*) AS n FROM sales.shop.orders WHERE discount IS NULL", engine
    )
    assert filtered.to_pylist() == [{"n": 2}]


def test_partition_values_read_as_the_catalog_types_them(
    lake: tuple[Mesh, Path], engine: str
) -> None:
    mesh, root = lake
    events = root / "shop" / "events"
    for month, day, n in (("01", "2024-01-31", 1), ("12", "2024-12-01", 2)):
        write_parquet(events / f"month={month}" / f"day={day}" / "e.parquet", {"n": [n]})
    write_parquet(
        events / "month=__HIVE_DEFAULT_PARTITION__" / "day=2024-02-29" / "e.parquet", {"n": [3]}
    )
    publish(mesh, "shop.events")
    assert catalog_types(mesh, "sales.shop.events") == [
        ("n", "int64"),
        ("month", "string"),
        ("day", "date32[day]"),
    ]
    got = query(mesh, "SELECT * FROM sales.shop.events", engine)
    assert result_types(got) == catalog_types(mesh, "sales.shop.events")
    assert rows(got, "n") == [
        {"n": 1, "month": "01", "day": date(2024, 1, 31)},
        {"n": 2, "month": "12", "day": date(2024, 12, 1)},
        {"n": 3, "month": None, "day": date(2024, 2, 29)},
    ]
    padded = query(mesh, "SELECT n FROM sales.shop.events WHERE month = '01'", engine)
    assert padded.to_pylist() == [{"n": 1}]


# --------------------------------------------------------------------------- CSV


def test_csv_files_read_by_their_spelling_as_the_merged_schema(
    lake: tuple[Mesh, Path], engine: str
) -> None:
    mesh, root = lake
    people = root / "crm" / "people"
    people.mkdir(parents=True)
    (people / "a.csv").write_text("Entry ID,name\n1,ann\n")
    (people / "b.csv").write_text("Entry ID,name,age\n2,bob,40\n")
    publish(mesh, "crm.people")
    assert catalog_types(mesh, "sales.crm.people") == [
        ("entry_id", "int64"),
        ("name", "string"),
        ("age", "int64"),
    ]
    got = query(mesh, "SELECT * FROM sales.crm.people", engine)
    assert result_types(got) == catalog_types(mesh, "sales.crm.people")
    assert rows(got, "entry_id") == [
        {"entry_id": 1, "name": "ann", "age": None},
        {"entry_id": 2, "name": "bob", "age": 40},
    ]
    named = query(mesh, "SELECT entry_id FROM sales.crm.people WHERE age = 40", engine)
    assert named.to_pylist() == [{"entry_id": 2}]


# --------------------------------------------------------------------------- JSON lines


def test_json_lines_keep_the_catalog_struct_order_and_types(
    lake: tuple[Mesh, Path], engine: str
) -> None:
    mesh, root = lake
    clicks = root / "web" / "clicks"
    write_jsonl(clicks / "a.json", [{"id": 1, "where": {"zone": 7, "area": "x"}}])
    write_jsonl(clicks / "b.json", [{"id": 2, "where": {"zone": 8, "area": "y"}, "ok": True}])
    publish(mesh, "web.clicks")
    types = catalog_types(mesh, "sales.web.clicks")
    assert types == [
        ("id", "int64"),
        ("where", "struct<zone: int64, area: string>"),
        ("ok", "bool"),
    ]
    got = query(mesh, "SELECT * FROM sales.web.clicks", engine)
    assert result_types(got) == types  # Spark would put the struct's fields a-z
    assert rows(got, "id") == [
        {"id": 1, "where": {"zone": 7, "area": "x"}, "ok": None},
        {"id": 2, "where": {"zone": 8, "area": "y"}, "ok": True},
    ]


def test_json_objects_may_list_struct_fields_in_any_order(
    lake: tuple[Mesh, Path], engine: str
) -> None:
    """Found by hand: a file whose object spelled the struct's fields in another order
    (and added one) was taken for a misfit and silently skipped at query time."""
    mesh, root = lake
    events = root / "web" / "events"
    write_jsonl(events / "a.json", [{"id": 1, "who": {"name": "ann", "age": 30}}])
    write_jsonl(events / "b.json", [{"id": 2, "who": {"age": 5, "name": "cyd", "vip": True}}])
    publish(mesh, "web.events")
    assert catalog_types(mesh, "sales.web.events") == [
        ("id", "int64"),
        ("who", "struct<name: string, age: int64, vip: bool>"),
    ]
    got = query(
        mesh, "SELECT id, who.name AS n, who.age AS a, who.vip AS v FROM sales.web.events", engine
    )
    assert rows(got, "id") == [
        {"id": 1, "n": "ann", "a": 30, "v": None},
        {"id": 2, "n": "cyd", "a": 5, "v": True},
    ]


# --------------------------------------------------------------------------- Iceberg


def test_iceberg_rename_add_and_widen_follow_field_ids(
    lake: tuple[Mesh, Path], tmp_path: Path, engine: str
) -> None:
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.types import LongType, StringType

    mesh, _ = lake
    root = tmp_path / "ice"
    root.mkdir()
    uri = f"sqlite:///{tmp_path / 'ice.db'}"
    writer = SqlCatalog("default", uri=uri, warehouse=str(root))
    first = pa.table({"id": pa.array([1], pa.int32()), "amount": pa.array([1.5], pa.float64())})
    writer.create_namespace("markets")
    trades = writer.create_table("markets.trades", schema=first.schema)
    trades.append(first)
    mesh.domains.create("ice", str(root), catalog=f"iceberg:{uri}", create=True)
    mesh.domains.sync()
    reader = own_reader(mesh, "ice.markets.trades")
    with trades.update_schema() as update:
        update.rename_column("amount", "total")
        update.update_column("id", field_type=LongType())
        update.add_column("venue", field_type=StringType())
    later = pa.table(
        {
            "id": pa.array([2], pa.int64()),
            "total": pa.array([2.5], pa.float64()),
            "venue": pa.array(["x"], pa.string()),
        }
    )
    trades.append(later)
    # until the next sync the catalog still says id int32, and so does the query
    stale = mesh.query("SELECT id FROM ice.markets.trades", as_=reader, engine=engine)
    assert result_types(stale) == [("id", "int32")]
    assert sorted(stale.column("id").to_pylist()) == [1, 2]
    mesh.domains.sync()
    types = catalog_types(mesh, "ice.markets.trades")
    assert [name for name, _ in types] == ["id", "total", "venue"]
    got = mesh.query("SELECT * FROM ice.markets.trades", as_=reader, engine=engine)
    assert result_types(got) == types
    assert rows(got, "id") == [
        {"id": 1, "total": 1.5, "venue": None},  # written as `amount`, int32
        {"id": 2, "total": 2.5, "venue": "x"},
    ]


# --------------------------------------------------------------------------- Delta


def test_delta_added_column_reads_null_in_older_files(
    lake: tuple[Mesh, Path], tmp_path: Path, engine: str
) -> None:
    from deltalake import write_deltalake

    mesh, _ = lake
    root = tmp_path / "delta"
    location = str(root / "fin" / "ledger")
    write_deltalake(location, pa.table({"id": [1], "amount": [1.5]}))
    write_deltalake(
        location,
        pa.table({"id": [2], "amount": [2.5], "note": ["late"]}),
        mode="append",
        schema_mode="merge",
    )
    mesh.domains.create("dl", str(root), catalog="delta", create=True)
    mesh.domains.sync()
    reader = own_reader(mesh, "dl.fin.ledger")
    types = catalog_types(mesh, "dl.fin.ledger")
    assert types == [("id", "int64"), ("amount", "double"), ("note", "string")]
    got = mesh.query("SELECT * FROM dl.fin.ledger", as_=reader, engine=engine)
    assert result_types(got) == types
    assert rows(got, "id") == [
        {"id": 1, "amount": 1.5, "note": None},
        {"id": 2, "amount": 2.5, "note": "late"},
    ]


def test_arrow_scans_are_conformed_to_the_catalog() -> None:
    """What Iceberg/Delta/object-store scans go through: columns found by spelling
    (exactly, else ignoring case), cast (structs by field name), missing ones NULL,
    extra ones dropped."""
    from lakemesh.engines.types import arrow_type, conform

    scanned = pa.table(
        {
            "ID": pa.array([1], pa.int32()),
            "s": pa.array([{"a": 1, "b": "x"}]),
            "secret": ["never"],
        }
    )
    wanted = [
        ("id", "ID", arrow_type("int64")),
        ("s", "s", arrow_type("struct<b: string, a: int64>")),
        ("added", "added", arrow_type("timestamp[us, tz=UTC]")),
    ]
    got = conform(scanned, wanted)
    assert [(f.name, str(f.type)) for f in got.schema] == [
        ("id", "int64"),
        ("s", "struct<b: string, a: int64>"),
        ("added", "timestamp[us, tz=UTC]"),
    ]
    assert got.to_pylist() == [{"id": 1, "s": {"b": "x", "a": 1}, "added": None}]


@pytest.mark.parametrize(
    "text",
    [
        "int64",
        "timestamp[ns, tz=Europe/Paris]",
        "decimal128(10, 2)",
        "list<item: struct<a: int64 not null, b: list<item: string>>>",
        "map<string, list<item: double>>",
        "struct<x: timestamp[us, tz=UTC], y: decimal128(38, 9), z: date32[day]>",
    ],
)
def test_catalog_type_text_round_trips(text: str) -> None:
    from lakemesh.engines.types import arrow_type

    assert str(arrow_type(text)) == text


def test_messy_csv_headers_read_by_their_spelling(lake: tuple[Mesh, Path], engine: str) -> None:
    """Empty headers and names that differ only in case read their own values (DuckDB
    renames them ``column<i>``/``name_1``; Spark refuses ``Name`` beside ``name``)."""
    mesh, root = lake
    people = root / "crm" / "people"
    people.mkdir(parents=True)
    (people / "a.csv").write_text("Entry ID,Name,name,,%\n1,Ann,ann,x,y\n")
    publish(mesh, "crm.people")
    got = query(mesh, "SELECT * FROM sales.crm.people", engine)
    assert result_types(got) == catalog_types(mesh, "sales.crm.people")
    assert got.to_pylist() == [
        {"entry_id": 1, "name_2": "Ann", "name": "ann", "column_4": "x", "column_5": "y"}
    ]
