"""Messy column names and partition typing in the catalog (issue 9, item 5).

Headers such as ``Entry ID`` or ``größe`` are normalised instead of dropping the table,
the files' spelling is kept as ``source_name`` through crawl, sync and ``show``; Hive
partition columns get one type both engines read (``month=01`` stays a string).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from lakemesh.access.grants import GrantRequest
from lakemesh.catalog import HIVE_NULL
from lakemesh.catalog.builtin import BuiltinCatalog
from lakemesh.mesh import Mesh
from lakemesh.metadata.crawler import Crawler, CrawlReport, partition_type
from lakemesh.schema import Column, Schema, column_names, diff, from_arrow, normal_name
from lakemesh.storage.local import LocalStorage
from lakemesh.typedef import is_object_name
from tests.conftest import Cli, write_jsonl, write_parquet


def crawl(root: Path) -> tuple[CrawlReport, BuiltinCatalog]:
    storage = LocalStorage(str(root))
    catalog = BuiltinCatalog(storage)
    return Crawler(storage, catalog).crawl(), catalog


def spelled(schema: Schema) -> list[tuple[str, str | None]]:
    return [(c.name, c.source_name) for c in schema.columns]


# ------------------------------------------------------------------ the rule


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("Entry ID", "entry_id"),
        ("Order-Date (UTC)", "order_date_utc"),
        ("  total $ ", "total"),
        ("a.b/c", "a_b_c"),
        ("größe", "grosse"),
        ("Straße", "strasse"),
        ("café crème", "cafe_creme"),
        ("Ærø", "aero"),
        ("Łódź", "lodz"),
        ("ＡＢＣ", "abc"),  # full-width letters decompose to ASCII
        ("1st place", "c_1st_place"),
        ("2024", "c_2024"),
        ("_private", "_private"),  # valid already: only lower-cased, as before
        ("OrderID", "orderid"),  # valid once lower-cased: no snake-casing of camelCase
        ("", "column_3"),
        ("%", "column_3"),
        ("名前", "column_3"),  # no ASCII letters: a positional name
        ("価格 (EUR)", "eur"),
    ],
)
def test_normal_name(raw: str, name: str) -> None:
    assert normal_name(raw, 3) == name
    assert is_object_name(name)


def test_long_names_are_cut_and_stay_valid() -> None:
    long = "Ä" * 300
    [name] = column_names([long])
    assert name == "a" * 128
    first, second = column_names([long, "a" * 300])
    assert (first, second) == ("a" * 128, "a" * 126 + "_2")
    assert all(is_object_name(n) for n in (first, second))


def test_collisions_get_deterministic_suffixes() -> None:
    # Turns: exact spellings, then case-only ones, then the others, each in column order.
    raws = ["Entry ID", "entry_id", "Name", "name", "entry id", "Entry_ID", "NAME"]
    assert column_names(raws) == [
        "entry_id_3",
        "entry_id",
        "name_2",
        "name",
        "entry_id_4",
        "entry_id_2",
        "name_3",
    ]
    assert column_names(raws) == column_names(list(raws)), "deterministic"
    # A suffixed name never takes a name a file already spells.
    assert column_names(["a b", "a_b", "a_b_2"]) == ["a_b_3", "a_b", "a_b_2"]
    # Positional names for empty headers are unique too.
    assert column_names(["", "column_1", "%"]) == ["column_1_2", "column_1", "column_3"]


def test_from_arrow_keeps_the_spelling_only_where_it_differs_beyond_case() -> None:
    schema = from_arrow(
        pa.schema([("Entry ID", pa.int64()), ("Region", pa.string()), ("größe", pa.float64())])
    )
    assert spelled(schema) == [("entry_id", "Entry ID"), ("region", None), ("grosse", "größe")]
    assert Schema.from_json(schema.to_json()) == schema
    assert schema.by_source("Entry ID") is schema.columns[0]
    assert schema.by_source("REGION") is schema.columns[1]
    assert schema.by_source("entry_id") is None


def test_fingerprint_covers_source_name_only_when_set() -> None:
    plain = Schema(columns=(Column(name="id", type="int64"), Column(name="dt", type="string")))
    old_formula = [[c.name, c.type, c.nullable, c.partition] for c in plain.columns]
    assert plain.fingerprint() == hashlib.sha256(json.dumps(old_formula).encode()).hexdigest()[:32]
    a = from_arrow(pa.schema([("Entry ID", pa.int64())]))
    b = from_arrow(pa.schema([("entry id", pa.int64())]))
    c = from_arrow(pa.schema([("entry_id", pa.int64())]))
    assert a.names == b.names == c.names == ["entry_id"]
    assert len({a.fingerprint(), b.fingerprint(), c.fingerprint()}) == 3


def test_diff_reports_a_new_spelling_as_safe() -> None:
    a = from_arrow(pa.schema([("Entry ID", pa.int64())]))
    b = from_arrow(pa.schema([("entry id", pa.int64())]))
    c = from_arrow(pa.schema([("entry_id", pa.int64())]))
    [change] = diff(a, b)
    assert (change.kind, change.column, change.old, change.new, change.breaking) == (
        "source_name_changed",
        "entry_id",
        "Entry ID",
        "entry id",
        False,
    )
    [change] = diff(b, c)
    assert (change.kind, change.old, change.new) == ("source_name_changed", "entry id", None)
    assert diff(a, a) == []


# ------------------------------------------------------------------ crawling


HEADER = "Entry ID,größe,Name,name,1st Place,Order-Date (UTC),,%\n"


def test_csv_headers_are_normalised_not_dropped(tmp_path: Path) -> None:
    (tmp_path / "db/entries").mkdir(parents=True)
    (tmp_path / "db/entries/a.csv").write_text(HEADER + "1,2.5,Ann,ann,3,2024-01-31,x,y\n")
    report, cat = crawl(tmp_path)
    assert report.added == ["db.entries"], report.warnings
    assert not report.warnings
    assert spelled(cat.load_table("db", "entries").table_schema) == [
        ("entry_id", "Entry ID"),
        ("grosse", "größe"),
        ("name_2", "Name"),
        ("name", None),
        ("c_1st_place", "1st Place"),
        ("order_date_utc", "Order-Date (UTC)"),
        ("column_7", ""),
        ("column_8", "%"),
    ]


def test_parquet_names_and_case_collisions(tmp_path: Path) -> None:
    data = pa.Table.from_arrays(
        [pa.array([1]), pa.array(["a"]), pa.array(["b"]), pa.array([{"Inner Key": 1}])],
        names=["Customer Name", "NAME", "name", "Nested Thing"],
    )
    write_parquet(tmp_path / "db/people/a.parquet", data)
    report, cat = crawl(tmp_path)
    assert report.added == ["db.people"], report.warnings
    schema = cat.load_table("db", "people").table_schema
    assert spelled(schema) == [
        ("customer_name", "Customer Name"),
        ("name_2", "NAME"),
        ("name", None),
        ("nested_thing", "Nested Thing"),
    ]
    # Struct fields keep their spelling: the engines address them quoted.
    assert schema.columns[3].type == "struct<Inner Key: int64>"


def test_json_keys_are_normalised(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path / "db/events/e.jsonl",
        [{"Event Type": "click", "über": 1, "entry_id": 7, "Entry ID": 8, "9lives": True}],
    )
    report, cat = crawl(tmp_path)
    assert report.added == ["db.events"], report.warnings
    assert spelled(cat.load_table("db", "events").table_schema) == [
        ("event_type", "Event Type"),
        ("uber", "über"),
        ("entry_id", None),
        ("entry_id_2", "Entry ID"),
        ("c_9lives", "9lives"),
    ]


def test_files_spelling_a_column_differently_merge_into_suffixed_names(tmp_path: Path) -> None:
    write_parquet(tmp_path / "db/t/a.parquet", {"Entry ID": [1]})
    write_parquet(tmp_path / "db/t/b.parquet", {"entry id": [2]})
    report, cat = crawl(tmp_path)
    assert report.added == ["db.t"], report.warnings
    assert spelled(cat.load_table("db", "t").table_schema) == [
        ("entry_id", "Entry ID"),
        ("entry_id_2", "entry id"),
    ]


def test_a_messy_column_equal_to_a_partition_key_gives_way(tmp_path: Path) -> None:
    write_parquet(tmp_path / "db/t/order_date=2024-01-31/a.parquet", {"Order Date": [1], "x": [2]})
    report, cat = crawl(tmp_path)
    assert report.added == ["db.t"]
    assert "column 'Order Date' is also a partition key" in "\n".join(report.warnings)
    schema = cat.load_table("db", "t").table_schema
    assert spelled(schema) == [("x", None), ("order_date", None)]
    assert schema.column("order_date").type == "date32[day]"  # type: ignore[union-attr]


def test_recrawl_of_unchanged_messy_table_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "db/entries").mkdir(parents=True)
    (tmp_path / "db/entries/a.csv").write_text(HEADER + "1,2.5,Ann,ann,3,2024-01-31,x,y\n")
    crawl(tmp_path)
    report, _ = crawl(tmp_path)
    assert report.unchanged == ["db.entries"]
    (tmp_path / "db/entries/a.csv").write_text(
        HEADER.replace("Entry ID", "ENTRY-ID") + "1,2.5,Ann,ann,3,2024-01-31,x,y\n"
    )
    report, _ = crawl(tmp_path)
    assert report.updated == ["db.entries"]
    [change] = report.schema_changes["db.entries"]
    assert (change.kind, change.old, change.new) == ("source_name_changed", "Entry ID", "ENTRY-ID")
    assert not report.warnings, "a new spelling is not a breaking change"


# ------------------------------------------------------------------ partition typing


@pytest.mark.parametrize(
    ("values", "arrow_type"),
    [
        (["1", "2", "12"], pa.int64()),
        (["-3", "0", "5"], pa.int64()),
        (["01", "12"], pa.string()),  # one padded value decides for the key
        (["007"], pa.string()),
        (["00"], pa.string()),
        (["-01", "5"], pa.string()),
        (["9223372036854775807"], pa.int64()),
        (["9223372036854775808"], pa.string()),  # beyond int64
        (["2024-01-31", "2024-02-01"], pa.date32()),
        (["2024-13-45"], pa.string()),  # shaped like a date, is not one
        (["20240131"], pa.int64()),
        (["2024-01-31 10:00:00", "2024-01-31T11:30"], pa.timestamp("us")),
        (["2024-01-31 10%3A00%3A00"], pa.timestamp("us")),  # Hive/Spark escape ':'
        (["2024-01-31", "2024-01-31 10:00:00.123456"], pa.timestamp("us")),
        (["2024-01-31T10:00:00Z", "2024-01-31T10:00:00+02:00"], pa.timestamp("us", tz="UTC")),
        (["2024-01-31T10:00:00Z", "2024-01-31T10:00:00"], pa.string()),  # zone and no zone
        (["2024-01-31", "2024-01-31T10:00:00Z"], pa.string()),
        (["2024-01-31 10:00:00.123456789"], pa.string()),  # finer than the catalog keeps
        (["1", "2024-01-31"], pa.string()),
        (["1", "eu"], pa.string()),
        (["1.5"], pa.string()),
        (["true"], pa.string()),
        (["__HIVE_DEFAULT_PARTITION__", "3"], pa.int64()),
        (["__HIVE_DEFAULT_PARTITION__", "01"], pa.string()),
        (["__HIVE_DEFAULT_PARTITION__", "2024-01-31"], pa.date32()),
        (["__HIVE_DEFAULT_PARTITION__"], pa.string()),
        ([], pa.string()),
    ],
)
def test_partition_type(values: list[str], arrow_type: pa.DataType) -> None:
    assert partition_type(values).equals(arrow_type)


def test_crawled_partition_columns_are_typed_from_all_values(tmp_path: Path) -> None:
    for path in (
        "month=01/year=2024/day=2024-01-31/hour=2024-01-31 10%3A00%3A00/shard=1",
        "month=12/year=2025/day=2024-02-01/hour=2024-02-01 11%3A00%3A00/shard=" + HIVE_NULL,
    ):
        write_parquet(tmp_path / "db/t" / path / "a.parquet", {"x": [1]})
    report, cat = crawl(tmp_path)
    assert report.added == ["db.t"], report.warnings
    info = cat.load_table("db", "t")
    assert info.partition_keys == ("month", "year", "day", "hour", "shard")
    assert {c.name: c.type for c in info.table_schema.columns if c.partition} == {
        "month": "string",
        "year": "int64",
        "day": "date32[day]",
        "hour": "timestamp[us]",
        "shard": "int64",
    }
    keys = [p.key for p in cat.partitions("db", "t")]
    assert keys[1].endswith(f"shard={HIVE_NULL}")
    assert json.loads(cat.partitions("db", "t")[1].values)["shard"] is None


def test_a_new_padded_value_retypes_the_key(tmp_path: Path) -> None:
    write_parquet(tmp_path / "db/t/n=1/a.parquet", {"x": [1]})
    _, cat = crawl(tmp_path)
    assert cat.load_table("db", "t").table_schema.column("n").type == "int64"  # type: ignore[union-attr]
    write_parquet(tmp_path / "db/t/n=02/a.parquet", {"x": [1]})
    report, cat = crawl(tmp_path)
    assert cat.load_table("db", "t").table_schema.column("n").type == "string"  # type: ignore[union-attr]
    [change] = report.schema_changes["db.t"]
    assert (change.kind, change.old, change.new, change.breaking) == (
        "type_changed",
        "int64",
        "string",
        True,
    )


# ------------------------------------------------------------------ Delta and Iceberg


def test_delta_names_and_partition_keys_are_normalised(tmp_path: Path) -> None:
    from deltalake import write_deltalake

    from lakemesh.catalog.delta import describe_delta_table

    data = pa.table({"Entry ID": [1, 2], "Région": ["eu", "us"], "x": [1, 2]})
    write_deltalake(str(tmp_path / "db/t"), data, partition_by=["Région"])
    info, parts = describe_delta_table(LocalStorage(str(tmp_path)), "db/t", "db", "t")
    assert spelled(info.table_schema) == [
        ("entry_id", "Entry ID"),
        ("region", "Région"),
        ("x", None),
    ]
    assert info.partition_keys == ("region",)
    assert info.table_schema.partition_keys == ["region"]
    assert sorted(p.key for p in parts) == ["region=eu", "region=us"]
    assert json.loads(parts[0].values) == {"region": "eu"}


def test_iceberg_names_and_partition_keys_are_normalised(tmp_path: Path) -> None:
    from pyiceberg.catalog.sql import SqlCatalog

    from lakemesh.catalog.iceberg import table_info, table_partitions

    root = tmp_path / "ice"
    root.mkdir()
    writer = SqlCatalog("default", uri=f"sqlite:///{tmp_path / 'ice.db'}", warehouse=str(root))
    try:
        writer.create_namespace("sales")
        data = pa.table({"Entry ID": pa.array([1, 2], pa.int64()), "Région": ["eu", "us"]})
        table = writer.create_table("sales.t", schema=data.schema)
        with table.update_spec() as spec:
            spec.add_identity("Région")
        table = writer.load_table("sales.t")
        table.append(data)
        storage = LocalStorage(str(root))
        info = table_info(storage, table, "sales", "t")
        parts = table_partitions(storage, table)
    finally:
        writer.engine.dispose()
    assert spelled(info.table_schema) == [("entry_id", "Entry ID"), ("region", "Région")]
    assert info.partition_keys == ("region",)
    assert info.table_schema.partition_keys == ["region"]
    assert sorted(json.loads(p.values)["region"] for p in parts) == ["eu", "us"]


# ------------------------------------------------------------------ sync and show


def messy_domain(mesh: Mesh, root: Path) -> None:
    (root / "db/entries/month=01").mkdir(parents=True)
    (root / "db/entries/month=12").mkdir(parents=True)
    (root / "db/entries/month=01/a.csv").write_text(HEADER + "1,2.5,Ann,ann,3,2024-01-31,x,y\n")
    (root / "db/entries/month=12/a.csv").write_text(HEADER + "2,3.5,Bob,bob,4,2024-12-01,z,w\n")
    mesh.domains.create("sales", str(root), create=True)
    mesh.domains.crawl("sales")


def test_sync_keeps_source_names(mesh: Mesh, tmp_path: Path) -> None:
    from lakemesh.metadata.central import scan_info

    root = tmp_path / "root"
    messy_domain(mesh, root)
    [r] = mesh.domains.sync()
    assert r.status == "ok" and r.tables_added == 1
    detail = mesh.catalog.table("sales.db.entries")
    assert spelled(detail.schema)[:3] == [
        ("entry_id", "Entry ID"),
        ("grosse", "größe"),
        ("name_2", "Name"),
    ]
    assert detail.schema.column("month").type == "string"  # type: ignore[union-attr]
    with mesh.store.read() as conn:
        info = scan_info(conn, "sales.db.entries")
    assert info.source_names["entry_id"] == "Entry ID" and "name" not in info.source_names
    assert info.column_types["month"] == "string"
    # Re-syncing the same schema is no change; a new spelling is a safe new version.
    [r] = mesh.domains.sync()
    assert mesh.catalog.table("sales.db.entries").schema_version == 1
    for f in root.glob("db/entries/*/a.csv"):
        f.write_text(f.read_text().replace("Entry ID", "entry id", 1))
    mesh.domains.crawl("sales")
    mesh.domains.sync()
    detail = mesh.catalog.table("sales.db.entries")
    assert detail.schema_version == 2
    assert detail.schema.column("entry_id").source_name == "entry id"  # type: ignore[union-attr]
    [change] = mesh.catalog.schema_diff("sales.db.entries", 1, 2)
    assert (change.kind, change.breaking) == ("source_name_changed", False)


def test_show_names_the_files_spelling(cli: Cli, tmp_path: Path) -> None:
    root = tmp_path / "root"
    cli("init")
    mesh = Mesh.open(cli.home)
    try:
        messy_domain(mesh, root)
        mesh.domains.sync()
    finally:
        mesh.close()
    code, out, err = cli("show", "sales.db.entries")
    assert code == 0, err
    assert 'entry_id ("Entry ID")' in out
    assert 'grosse ("größe")' in out
    assert 'column_7 ("")' in out
    assert '"name"' not in out and "name_2" in out
    shown = cli.json("show", "sales.db.entries")
    by_name = {c["name"]: c for c in shown["columns"]}
    assert by_name["entry_id"]["source_name"] == "Entry ID"
    assert by_name["order_date_utc"]["source_name"] == "Order-Date (UTC)"
    assert by_name["name"]["source_name"] is None
    assert by_name["month"]["type"] == "string" and by_name["month"]["partition"]


# ------------------------------------------------------------------ end to end


def test_query_reads_original_names(sqlite_mesh: Mesh, tmp_path: Path) -> None:
    """A query by catalog names reads the files' columns and partition values typed as
    the catalog says (the read side's half of issue 9: engines read by source_name)."""
    root = tmp_path / "root"
    messy_domain(sqlite_mesh, root)
    write_parquet(root / "db/days/day=2024-01-31/a.parquet", {"Amount (EUR)": [1.5], "Größe": [7]})
    sqlite_mesh.domains.crawl("sales")
    sqlite_mesh.domains.sync()
    sqlite_mesh.access.create_user("ann@sales", "member")
    sqlite_mesh.access.grant(
        GrantRequest(actions=("DESCRIBE", "SELECT"), principal="ann@sales", database="sales.db")
    )
    got: list[dict[str, Any]] = sqlite_mesh.query(
        "SELECT amount_eur, grosse, day, day + 1 AS next FROM sales.db.days", as_="ann@sales"
    ).to_pylist()
    assert got == [
        {"amount_eur": 1.5, "grosse": 7, "day": dt.date(2024, 1, 31), "next": dt.date(2024, 2, 1)}
    ]
    got = sqlite_mesh.query(
        "SELECT entry_id, grosse, c_1st_place, order_date_utc, column_7, column_8, month "
        "FROM sales.db.entries ORDER BY entry_id",
        as_="ann@sales",
    ).to_pylist()
    assert got == [
        {"entry_id": 1, "grosse": 2.5, "c_1st_place": 3, "order_date_utc": dt.date(2024, 1, 31),
         "column_7": "x", "column_8": "y", "month": "01"},
        {"entry_id": 2, "grosse": 3.5, "c_1st_place": 4, "order_date_utc": dt.date(2024, 12, 1),
         "column_7": "z", "column_8": "w", "month": "12"},
    ]  # fmt: skip
    # Two headers differing only in case (``Name``, ``name``): each column its own values.
    got = sqlite_mesh.query(
        "SELECT name, name_2 FROM sales.db.entries ORDER BY entry_id", as_="ann@sales"
    ).to_pylist()
    assert got == [{"name": "ann", "name_2": "Ann"}, {"name": "bob", "name_2": "Bob"}]


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def test_a_repeated_header_reads_each_column_its_own_values(
    sqlite_mesh: Mesh, tmp_path: Path, engine: str
) -> None:
    """``name,name`` in a CSV header: the catalog has ``name`` and ``name_2``, both
    spelled ``name`` in the file; each reads its own column, not the first one twice."""
    root = tmp_path / "root"
    folder = root / "db" / "people"
    folder.mkdir(parents=True)
    (folder / "people.csv").write_text("Person ID,name,name\n1,Ann,A\n2,Bob,B\n")
    sqlite_mesh.domains.create("sales", str(root), create=True)
    sqlite_mesh.domains.crawl("sales")
    sqlite_mesh.domains.sync()
    sqlite_mesh.access.create_user("ann@sales", "member")
    sqlite_mesh.access.grant(
        GrantRequest(actions=("SELECT",), principal="ann@sales", table="sales.db.people")
    )
    got = sqlite_mesh.query(
        "SELECT * FROM sales.db.people ORDER BY person_id", as_="ann@sales", engine=engine
    ).to_pylist()
    assert got == [
        {"person_id": 1, "name": "Ann", "name_2": "A"},
        {"person_id": 2, "name": "Bob", "name_2": "B"},
    ]
