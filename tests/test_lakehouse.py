"""Iceberg and Delta tables read lazily by the engines: the right rows after schema
changes and deletes, pruning from the policy's filter and pushed predicates, only the
columns the query reads, and the fallbacks (deltalake's own reader, whole tables)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from lakemesh.engines import Source, SourceColumn
from lakemesh.engines.duckdb import DuckDBEngine
from lakemesh.query import GovernedRelation, Plan
from lakemesh.query.lakehouse import DeltaScan, IcebergScan, iceberg_filter
from lakemesh.query.sources import read_whole
from lakemesh.storage.local import LocalStorage

TABLE = "lake.db.t"
ALIAS = "__lm_rel_0"


def relation(where: str | None, columns: tuple[str, ...]) -> GovernedRelation:
    cols = ", ".join(f'"{c}"' for c in columns)
    text = f'SELECT {cols} FROM "__lm_source"' + (f" WHERE {where}" if where else "")
    select = sqlglot.parse_one(text, dialect="duckdb")
    assert isinstance(select, exp.Select)
    return GovernedRelation(ALIAS, TABLE, columns, select)


def run(
    sql: str,
    rel: GovernedRelation,
    source: Source,
    reads: tuple[str, ...] | None = None,
    engine: str = "duckdb",
) -> Any:
    plan = Plan(
        sqlglot.parse_one(sql, dialect="duckdb"),
        (rel,),
        (TABLE,),
        {ALIAS: reads} if reads else {},
    )
    if engine == "spark":
        from lakemesh.engines.spark import SparkEngine

        return SparkEngine().run(plan, {TABLE: source}).to_pylist()
    return DuckDBEngine().run(plan, {TABLE: source}).to_pylist()


# ----------------------------------------------------------------------------- Iceberg


@pytest.fixture
def iceberg(tmp_path: Path) -> Iterator[Any]:
    """``id, region, amount`` written twice (ids 1-3, then 4-6), then ``amount`` renamed
    ``total`` and ``note`` added, then ids 7-9 written: three files."""
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.types import StringType

    catalog = SqlCatalog("default", uri=f"sqlite:///{tmp_path / 'c.db'}", warehouse=str(tmp_path))
    try:
        catalog.create_namespace("db")
        first = pa.table(
            {
                "id": pa.array([1, 2, 3], pa.int64()),
                "region": ["eu", "us", "zz"],
                "amount": pa.array([10, 20, 30], pa.int64()),
            }
        )
        table = catalog.create_table("db.t", schema=first.schema)
        table.append(first)
        table.append(first.set_column(0, "id", pa.array([4, 5, 6], pa.int64())))
        with table.update_schema() as update:
            update.rename_column("amount", "total")
            update.add_column("note", StringType())
        table = catalog.load_table("db.t")
        third = pa.table(
            {
                "id": pa.array([7, 8, 9], pa.int64()),
                "region": ["eu", "zz", "us"],
                "total": pa.array([70, 80, 90], pa.int64()),
                "note": ["a", None, "c"],
            }
        )
        table.append(third.cast(table.schema().as_arrow()))
        yield catalog.load_table("db.t")
    finally:
        catalog.engine.dispose()


ICE_COLUMNS = (
    SourceColumn("id", "int64", "id"),
    SourceColumn("region", "string", "region"),
    SourceColumn("total", "int64", "total"),
    SourceColumn("note", "string", "note"),
)


def _ice(table: Any, planned: bool) -> IcebergScan:
    """Read by DuckDB from the planned files, or by pyiceberg's own reader."""
    root = Path(table.location().removeprefix("file://")).parent.parent
    return IcebergScan(table, LocalStorage(str(root)) if planned else None)


@pytest.mark.parametrize("planned", [True, False], ids=["files", "reader"])
def test_iceberg_after_renames_and_additions(iceberg: Any, planned: bool) -> None:
    source = Source(format="lakehouse", lakehouse=_ice(iceberg, planned), columns=ICE_COLUMNS)
    rel = relation("\"region\" <> 'zz'", ("id", "region", "total", "note"))
    got = run(f"SELECT * FROM {ALIAS} ORDER BY id", rel, source)
    assert got == [
        {"id": 1, "region": "eu", "total": 10, "note": None},
        {"id": 2, "region": "us", "total": 20, "note": None},
        {"id": 4, "region": "eu", "total": 10, "note": None},
        {"id": 5, "region": "us", "total": 20, "note": None},
        {"id": 7, "region": "eu", "total": 70, "note": "a"},
        {"id": 9, "region": "us", "total": 90, "note": "c"},
    ]


@pytest.mark.parametrize("planned", [True, False], ids=["files", "reader"])
def test_iceberg_prunes_files_and_reads_only_what_the_query_uses(
    iceberg: Any, planned: bool
) -> None:
    scan = _ice(iceberg, planned)
    source = Source(format="lakehouse", lakehouse=scan, columns=ICE_COLUMNS)
    # the policy's filter and a pushed predicate on id: only the third file can match
    rel = relation('"region" <> \'zz\' AND "id" >= 7', ("id", "region", "total", "note"))
    got = run(f"SELECT sum(total) AS s FROM {ALIAS}", rel, source, reads=("total",))
    assert got == [{"s": 160}]
    assert scan.files_planned == 1
    sql = DuckDBEngine().relation_sql(
        Plan(exp.select("1"), (rel,), (TABLE,), {ALIAS: ("total",)}), {TABLE: source}
    )[ALIAS]
    if planned:  # DuckDB reads the one data file left, and prunes columns itself
        assert sql.count(".parquet'") == 1
    else:  # neither read nor cast: pyiceberg's reader never selects it
        assert '"note"' not in sql


def test_iceberg_filter_is_never_narrower_than_the_sql() -> None:
    from pyiceberg import expressions as ice

    fields = {
        "id": pa.field("id", pa.int64()),
        "name": pa.field("Name", pa.string()),
        "x": pa.field("x", pa.float64()),
    }

    def tr(where: str) -> Any:
        return iceberg_filter(sqlglot.parse_one(where, dialect="duckdb"), fields)

    assert tr("id = 3") == ice.EqualTo("id", 3)
    assert tr("3 < id") == ice.GreaterThan("id", 3)
    assert tr("name IN ('a', 'b') AND id IS NOT NULL") == ice.And(
        ice.In("Name", ["a", "b"]), ice.NotNull("id")
    )
    assert tr("id BETWEEN 2 AND 5") == ice.And(
        ice.GreaterThanOrEqual("id", 2), ice.LessThanOrEqual("id", 5)
    )
    assert tr("x >= 1.5 OR id IS NULL") == ice.Or(
        ice.GreaterThanOrEqual("x", 1.5), ice.IsNull("id")
    )
    # anything not said exactly admits every row
    for where in (
        "id = '3'",  # a literal of another kind
        "NOT id = 3",
        "id = 3 OR lower(name) = 'a'",
        "id + 1 = 3",
        "other = 1",
        "id IN (SELECT 1)",
        "id BETWEEN 2 AND '5'",
        "id NOT BETWEEN 2 AND 5",
    ):
        assert tr(where) == ice.AlwaysTrue(), where
    assert iceberg_filter(None, fields) == ice.AlwaysTrue()


def test_iceberg_whole_for_engines_that_need_it(iceberg: Any) -> None:
    source = Source(format="lakehouse", lakehouse=IcebergScan(iceberg), columns=ICE_COLUMNS)
    whole = read_whole(TABLE, source)
    assert whole.format == "arrow" and whole.arrow is not None
    assert whole.arrow.num_rows == 9 and whole.arrow.column_names == [c.name for c in ICE_COLUMNS]


# ----------------------------------------------------------------------------- Delta


@pytest.fixture
def delta(tmp_path: Path) -> Path:
    """Partitioned by region; a second write adds column ``note``."""
    from deltalake import write_deltalake

    path = tmp_path / "root" / "db" / "t"
    first = pa.table({"id": [1, 2, 3], "region": ["eu", "us", "zz"]})
    write_deltalake(str(path), first, partition_by=["region"])
    second = pa.table({"id": [4, 5], "region": ["eu", "zz"], "note": ["x", None]})
    write_deltalake(str(path), second, mode="append", schema_mode="merge")
    return path


DELTA_COLUMNS = (
    SourceColumn("id", "int64", "id"),
    SourceColumn("region", "string", "region", partition=True),
    SourceColumn("note", "string", "note"),
)
DELTA_VISIBLE = [
    {"id": 1, "region": "eu", "note": None},
    {"id": 2, "region": "us", "note": None},
    {"id": 4, "region": "eu", "note": "x"},
]


def _delta_source(path: Path) -> tuple[DeltaScan, Source]:
    from deltalake import DeltaTable

    storage = LocalStorage(str(path.parent.parent))
    scan = DeltaScan(DeltaTable(str(path)), storage, str(path))
    return scan, Source(format="lakehouse", lakehouse=scan, columns=DELTA_COLUMNS)


def test_delta_as_a_lazy_dataset(delta: Path) -> None:
    scan, source = _delta_source(delta)
    assert scan.as_dataset
    rel = relation("\"region\" <> 'zz'", ("id", "region", "note"))
    assert run(f"SELECT * FROM {ALIAS} ORDER BY id", rel, source) == DELTA_VISIBLE
    assert run(f"SELECT count(*) AS n FROM {ALIAS}", rel, source, reads=("id",)) == [{"n": 3}]


def test_delta_with_deletion_vectors_reads_through_deltalake(delta: Path) -> None:
    """A table whose protocol needs deletion vectors cannot be a pyarrow dataset: it is
    read by deltalake's own reader, streamed, with the same answer."""
    from deltalake import DeltaTable
    from deltalake.table import TableFeatures

    DeltaTable(str(delta)).alter.add_feature(
        TableFeatures.DeletionVectors, allow_protocol_versions_increase=True
    )
    scan, source = _delta_source(delta)
    assert not scan.as_dataset
    rel = relation("\"region\" <> 'zz'", ("id", "region", "note"))
    assert run(f"SELECT * FROM {ALIAS} ORDER BY id", rel, source) == DELTA_VISIBLE
    assert run(f"SELECT max(id) AS m FROM {ALIAS}", rel, source, reads=("id",)) == [{"m": 4}]
    assert read_whole(TABLE, source).arrow is not None


# ----------------------------------------------------------------------------- Spark


def _not_whole(scan: Any) -> None:
    """Fail the test if the scan is read whole (Spark must read the planned files)."""

    def whole() -> pa.Table:
        raise AssertionError("the table was read whole on the driver")

    scan.read = whole


@pytest.mark.spark
@pytest.mark.parametrize("planned", [True, False], ids=["files", "whole"])
def test_spark_reads_iceberg_from_its_planned_files(iceberg: Any, planned: bool) -> None:
    """Spark reads the data files pyiceberg plans (columns by field id across the rename
    and the addition; pruned by the policy's filter and the pushed predicates); a table
    it cannot plan (here: not on a local disk) is read whole, with the same answer."""
    scan = _ice(iceberg, planned)
    if planned:
        _not_whole(scan)
    source = Source(format="lakehouse", lakehouse=scan, columns=ICE_COLUMNS)
    rel = relation("\"region\" <> 'zz'", ("id", "region", "total", "note"))
    got = run(f"SELECT * FROM {ALIAS} ORDER BY id", rel, source, engine="spark")
    assert got == run(f"SELECT * FROM {ALIAS} ORDER BY id", rel, source)
    assert [r["id"] for r in got] == [1, 2, 4, 5, 7, 9]
    pruned = relation('"region" <> \'zz\' AND "id" >= 7', ("id", "region", "total", "note"))
    total = run(f"SELECT sum(total) AS s FROM {ALIAS}", pruned, source, engine="spark")
    assert total == [{"s": 160}]
    if planned:
        assert scan.files_planned == 1


@pytest.mark.spark
def test_spark_applies_iceberg_deletes_in_oddly_named_folders(tmp_path: Path) -> None:
    """Positional deletes are matched to the rows by the file Spark read them from, in
    the spelling Spark gives that file: spaces, ``%``, ``#``, ``+`` and non-ASCII in the
    folder and file names."""
    from pyiceberg.catalog.sql import SqlCatalog

    from tests.iceberg_deletes import add_position_deletes

    warehouse = tmp_path / "a b%20c#d+é"
    warehouse.mkdir()
    catalog = SqlCatalog("default", uri=f"sqlite:///{tmp_path / 'c.db'}", warehouse=str(warehouse))
    try:
        catalog.create_namespace("db")
        rows = pa.table({"id": pa.array(range(10), pa.int64()), "region": ["eu"] * 10})
        table = catalog.create_table("db.t", schema=rows.schema)
        table.append(rows.slice(0, 5))
        table.append(rows.slice(5, 5))
        files = sorted(table.inspect.files().column("file_path").to_pylist())
        add_position_deletes(table, {files[0]: [0, 4], files[1]: [2]})
        table = catalog.load_table("db.t")
        scan = IcebergScan(table, LocalStorage(str(warehouse)))
        _not_whole(scan)
        columns = (SourceColumn("id", "int64", "id"), SourceColumn("region", "string", "region"))
        source = Source(format="lakehouse", lakehouse=scan, columns=columns)
        rel = relation(None, ("id", "region"))
        got = run(f"SELECT id FROM {ALIAS} ORDER BY id", rel, source, engine="spark")
        assert got == run(f"SELECT id FROM {ALIAS} ORDER BY id", rel, source)
        assert len(got) == 7
    finally:
        catalog.engine.dispose()


@pytest.mark.spark
def test_spark_reads_delta_partitions_from_the_folders(delta: Path) -> None:
    scan, source = _delta_source(delta)
    _not_whole(scan)
    rel = relation("\"region\" <> 'zz'", ("id", "region", "note"))
    got = run(f"SELECT * FROM {ALIAS} ORDER BY id", rel, source, engine="spark")
    assert got == DELTA_VISIBLE
    counted = run(f"SELECT count(*) AS n FROM {ALIAS}", rel, source, engine="spark")
    assert counted == [{"n": 3}]


@pytest.mark.spark
def test_spark_reads_delta_with_deletion_vectors_whole(delta: Path) -> None:
    """Neither engine applies deletion vectors to files: deltalake's reader does, and
    Spark gets its answer whole."""
    from deltalake import DeltaTable
    from deltalake.table import TableFeatures

    DeltaTable(str(delta)).alter.add_feature(
        TableFeatures.DeletionVectors, allow_protocol_versions_increase=True
    )
    _, source = _delta_source(delta)
    rel = relation("\"region\" <> 'zz'", ("id", "region", "note"))
    assert run(f"SELECT * FROM {ALIAS} ORDER BY id", rel, source, engine="spark") == DELTA_VISIBLE


@pytest.mark.spark
def test_spark_reads_escaped_delta_partition_values_as_duckdb_does(tmp_path: Path) -> None:
    """Partition values that Delta escapes in folder names (``/``, ``:``, ``%``, space,
    non-ASCII as UTF-8 bytes) and the null partition read the same on both engines."""
    from deltalake import write_deltalake

    path = tmp_path / "root" / "db" / "t"
    regions = ["a b/c:d%", None, "é=x", "plain", "+1"]
    write_deltalake(
        str(path), pa.table({"id": [1, 2, 3, 4, 5], "region": regions}), partition_by=["region"]
    )
    scan, source = _delta_source(path)
    _not_whole(scan)
    rel = relation(None, ("id", "region", "note"))
    sql = f"SELECT id, region FROM {ALIAS} ORDER BY id"
    expected = [{"id": i, "region": r} for i, r in enumerate(regions, start=1)]
    assert run(sql, rel, source) == expected
    assert run(sql, rel, source, engine="spark") == expected


def test_delta_tables_are_reused_only_while_their_log_is_unchanged(tmp_path: Path) -> None:
    """A loaded Delta table serves later queries until its log gains a commit, and a table
    deleted and written again at the same place (its versions start over) is loaded
    anew."""
    import shutil

    from deltalake import write_deltalake

    from lakemesh.query.lakehouse import DeltaTables

    path = tmp_path / "root" / "db" / "t"
    storage = LocalStorage(str(tmp_path / "root"))
    write_deltalake(str(path), pa.table({"id": [1, 2]}))
    tables = DeltaTables()
    first = tables.get(storage, str(path))
    assert tables.get(storage, str(path)) is first
    write_deltalake(str(path), pa.table({"id": [3]}), mode="append")
    second = tables.get(storage, str(path))
    assert second is not first and second.version() == 1
    assert sorted(second.to_pyarrow_table().column("id").to_pylist()) == [1, 2, 3]
    assert first.version() == 0  # the older one is never changed under its readers
    shutil.rmtree(path)
    write_deltalake(str(path), pa.table({"id": [7]}))
    write_deltalake(str(path), pa.table({"id": [8]}), mode="append")  # version 1 again
    again = tables.get(storage, str(path))
    assert sorted(again.to_pyarrow_table().column("id").to_pylist()) == [7, 8]


def test_iceberg_plans_are_kept_per_snapshot_and_filter(iceberg: Any, tmp_path: Path) -> None:
    """The same filter on the same snapshot is planned once; another filter, or a new
    snapshot of the table, is planned anew."""
    from pyiceberg.catalog.sql import SqlCatalog

    where = sqlglot.parse_one('"id" >= 7', dialect="duckdb")
    first = _ice(iceberg, True).plan(where)
    assert first is not None and _ice(iceberg, True).plan(where) is first
    other = _ice(iceberg, True).plan(sqlglot.parse_one('"id" <= 2', dialect="duckdb"))
    assert other is not first
    catalog = SqlCatalog("default", uri=f"sqlite:///{tmp_path / 'c.db'}", warehouse=str(tmp_path))
    try:
        table = catalog.load_table("db.t")
        more = pa.table(
            {
                "id": pa.array([10], pa.int64()),
                "region": ["eu"],
                "total": pa.array([100], pa.int64()),
                "note": ["n"],
            }
        )
        table.append(more.cast(table.schema().as_arrow()))
        later = catalog.load_table("db.t")
    finally:
        catalog.engine.dispose()
    scan = _ice(later, True)
    again = scan.plan(where)
    assert again is not first and scan.files_planned == 2
    source = Source(format="lakehouse", lakehouse=scan, columns=ICE_COLUMNS)
    rel = relation('"id" >= 7', ("id", "region", "total", "note"))
    assert [r["id"] for r in run(f"SELECT id FROM {ALIAS} ORDER BY id", rel, source)] == [
        7,
        8,
        9,
        10,
    ]
