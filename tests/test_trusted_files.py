"""A query reads what the catalog trusts: the files the crawler's rules accept, whose schema
fits the catalog's, and nothing else; a table it cannot read fails with a generic error
that names the table, and the audit record says why."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from lakemesh.access.grants import GrantRequest, parse_actions
from lakemesh.mesh import Mesh
from lakemesh.query.governed import QueryFailed
from tests.files import write_parquet

ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]
USER = "ann@sales"
TABLE = "sales.shop.orders"
SELECT_ALL = f"SELECT * FROM {TABLE} ORDER BY order_id"


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[tuple[Mesh, Path]]:
    """Domain ``sales`` with ``shop.orders`` (two good files) not yet crawled; returns
    the mesh and the table's folder."""
    root = tmp_path / "sales"
    orders = root / "shop" / "orders"
    write_parquet(orders / "a.parquet", {"order_id": [1], "amount": [1.5]})
    write_parquet(orders / "b.parquet", {"order_id": [2], "amount": [2.5]})
    mesh = Mesh.init(tmp_path / "home")
    mesh.domains.create("sales", str(root), create=True)
    mesh.access.create_user(USER, "member")
    yield mesh, orders
    mesh.close()


def publish(mesh: Mesh) -> list[str]:
    """Crawl, sync and grant; the crawl's warnings."""
    warnings = mesh.domains.crawl("sales").warnings
    mesh.domains.sync()
    mesh.access.grant(GrantRequest(actions=parse_actions("SELECT"), principal=USER, table=TABLE))
    return warnings


def ids(mesh: Mesh, engine: str = "duckdb") -> list[int]:
    result = mesh.query(SELECT_ALL, as_=USER, engine=engine)
    return result.column("order_id").to_pylist()


def last_query_record(mesh: Mesh) -> tuple[str, dict[str, object]]:
    record = mesh.audit.records(action="query", limit=1)[0]
    return record.outcome, record.details


# --------------------------------------------------------------------------- skipped files


def test_a_file_with_a_broken_footer_is_skipped_as_the_crawler_skips_it(
    lake: tuple[Mesh, Path], engine: str
) -> None:
    mesh, orders = lake
    (orders / "broken.parquet").write_bytes(b"PAR1 not a parquet file")
    warnings = publish(mesh)
    assert any("broken.parquet" in w and "unreadable" in w for w in warnings)
    assert ids(mesh, engine) == [1, 2]
    outcome, details = last_query_record(mesh)
    assert outcome == "allowed"
    assert "broken.parquet" in str(details["skipped_files"])


def test_a_file_whose_schema_does_not_merge_is_not_read(
    lake: tuple[Mesh, Path], engine: str
) -> None:
    mesh, orders = lake
    write_parquet(orders / "c.parquet", {"order_id": [3], "amount": [[1.0, 2.0]]})  # a list
    warnings = publish(mesh)
    assert any("c.parquet" in w and "schema conflict" in w for w in warnings)
    assert mesh.catalog.table(TABLE).schema.column("amount").type == "double"  # type: ignore[union-attr]
    assert ids(mesh, engine) == [1, 2]


def test_a_file_added_after_the_crawl_is_read_when_it_fits_the_catalog(
    lake: tuple[Mesh, Path], engine: str
) -> None:
    mesh, orders = lake
    publish(mesh)
    # fits: a narrower type and a column the catalog does not know yet
    write_parquet(
        orders / "c.parquet",
        pa.table(
            {"order_id": pa.array([3], pa.int32()), "amount": [3.5], "secret": ["unclassified"]}
        ),
    )
    # does not fit: text where the catalog has a number (reading it as one would fail)
    write_parquet(orders / "d.parquet", {"order_id": [4], "amount": ["lots"]})
    (orders / "e.parquet").write_bytes(b"garbage")
    result = mesh.query(SELECT_ALL, as_=USER, engine=engine)
    assert result.column_names == ["order_id", "amount"]  # `secret` waits for a crawl
    assert result.to_pylist() == [
        {"order_id": 1, "amount": 1.5},
        {"order_id": 2, "amount": 2.5},
        {"order_id": 3, "amount": 3.5},
    ]
    skipped = str(last_query_record(mesh)[1]["skipped_files"])
    assert "d.parquet" in skipped and "e.parquet" in skipped and "c.parquet" not in skipped


def test_only_files_the_crawler_would_catalog_are_read(
    lake: tuple[Mesh, Path], tmp_path: Path
) -> None:
    """Each of these was read by the query (or failed it) while the crawler ignored it."""
    mesh, orders = lake
    stray = {"order_id": [666], "amount": [6.66]}
    write_parquet(orders / "_tmp.parquet", stray)  # bookkeeping names
    write_parquet(orders / ".staging.parquet", stray)
    write_parquet(orders / "scratch" / "x.parquet", stray)  # not a key=value folder
    write_parquet(orders / "parquet", stray)  # no extension, only a name like one
    write_parquet(orders / "notes.txt", stray)  # not a data extension
    write_parquet(tmp_path / "outside.parquet", stray)
    os.symlink(tmp_path / "outside.parquet", orders / "link.parquet")  # leaves the root
    publish(mesh)
    assert mesh.catalog.table(TABLE).file_count == 2
    assert ids(mesh) == [1, 2]
    # the table's partition layout decides too: a file in a key=value folder of an
    # unpartitioned table is not the table's
    write_parquet(orders / "day=1" / "y.parquet", stray)
    assert ids(mesh) == [1, 2]


def test_query_and_crawler_accept_the_same_files(lake: tuple[Mesh, Path]) -> None:
    from lakemesh.catalog.files import table_files

    mesh, orders = lake
    for name in ("_x.parquet", ".x.parquet", "x.parq", "X.PQ", "y.csv", "k=v/z.parquet"):
        write_parquet(orders / name, {"order_id": [9], "amount": [9.0]})
    storage = mesh.domains.get("sales").storage()
    listed = [f.path for f in table_files(storage, "shop/orders")]
    assert listed == [
        "shop/orders/X.PQ",
        "shop/orders/a.parquet",
        "shop/orders/b.parquet",
        "shop/orders/k=v/z.parquet",
        "shop/orders/x.parq",
        "shop/orders/y.csv",
    ]


# --------------------------------------------------------------------------- unavailable


def test_a_file_that_fails_at_read_time_names_the_table_and_audits_why(
    lake: tuple[Mesh, Path], engine: str
) -> None:
    mesh, orders = lake
    for f in orders.iterdir():
        f.unlink()
    # valid as far as the crawler samples it (the first MiB), broken after that
    body = "".join(f'{{"order_id": {i}, "amount": 1.5}}\n' for i in range(60_000))
    (orders / "big.json").write_text(body + '{"order_id": \n')
    publish(mesh)
    with pytest.raises(QueryFailed) as info:
        ids(mesh, engine)
    assert str(info.value).startswith(f"table {TABLE} is unavailable (correlation id")
    assert "big.json" not in str(info.value)
    outcome, details = last_query_record(mesh)
    assert outcome == "aborted" and "big.json" in str(details["reason"])


@pytest.mark.parametrize("gone", ["folder", "root"])
def test_a_table_whose_folder_or_root_is_gone_is_unavailable(
    lake: tuple[Mesh, Path], gone: str
) -> None:
    mesh, orders = lake
    publish(mesh)
    shutil.rmtree(orders if gone == "folder" else orders.parent.parent)
    with pytest.raises(QueryFailed) as info:
        ids(mesh)
    message = str(info.value)
    assert message.startswith(f"table {TABLE} is unavailable (correlation id")
    assert str(orders) not in message
    outcome, details = last_query_record(mesh)
    assert outcome == "failed"
    assert details["correlation_id"] in message
    assert ("does not exist" in str(details["reason"])) and details["tables"] == [TABLE]


def test_a_table_with_no_data_files_has_no_rows_and_the_catalog_columns(
    lake: tuple[Mesh, Path], engine: str
) -> None:
    mesh, orders = lake
    publish(mesh)
    for f in orders.iterdir():
        f.unlink()
    result = mesh.query(f"SELECT * FROM {TABLE}", as_=USER, engine=engine)
    assert result.num_rows == 0
    assert [(f.name, str(f.type)) for f in result.schema] == [
        ("order_id", "int64"),
        ("amount", "double"),
    ]
    total = mesh.query(f"SELECT sum(amount) AS s FROM {TABLE}", as_=USER, engine=engine)
    assert total.to_pylist() == [{"s": None}]
