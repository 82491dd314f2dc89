"""Governed queries end to end: gate, planner, sandboxed DuckDB, audit, CLI formats."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lakemesh import keys
from lakemesh.access.masks import apply_mask, parse_mask
from lakemesh.mesh import Mesh
from lakemesh.query.governed import QueryFailed
from tests import govmesh
from tests.conftest import Cli


def grant(mesh: Mesh, as_: str, **kw: object) -> str:
    return mesh.access.grant(govmesh.request(kw), as_=as_)["id"]


def test_policy_is_inside_every_table_reference(gov: Mesh) -> None:
    grant(
        gov,
        "steward@cb",
        grant="SELECT",
        on="cb.sales.orders",
        to="member@cb",
        row_filter="region = 'eu'",
    )
    gov.access.mask(column="cb.sales.orders.email", spec="hash", as_="steward@cb")
    rows = gov.query(
        "SELECT id, region, email FROM cb.sales.orders ORDER BY id", as_="member@cb"
    ).to_pylist()
    key = keys.mask_hash_key(gov.home)
    hashed = apply_mask(parse_mask("hash"), "a@x", hash_key=key)
    # one 'eu' row in each of the two date partitions; e-mails come back hashed
    assert rows == [{"id": 1, "region": "eu", "email": hashed}] * 2
    # the hidden 'us' rows and raw e-mails reach nothing the consumer receives
    assert gov.query(
        "SELECT count(*) AS n FROM cb.sales.orders WHERE region = 'us'", as_="member@cb"
    ).to_pylist() == [{"n": 0}]
    assert gov.query(
        "SELECT count(*) AS n FROM cb.sales.orders WHERE email = 'a@x'", as_="member@cb"
    ).to_pylist() == [{"n": 0}]


def test_refusals_are_generic_and_audited(gov: Mesh) -> None:
    grant(
        gov, "steward@cb", grant="SELECT", on="cb.sales.orders", to="member@cb", columns="id,region"
    )
    for sql in (
        "SELECT email FROM cb.sales.orders",
        "SELECT * FROM cb.sales.customers",
        "SELECT * FROM read_parquet('/etc/passwd')",
        "SELECT 1; SELECT 2",
        "SELECT * FROM ib.wealth.holdings",
    ):
        with pytest.raises(QueryFailed) as info:
            gov.query(sql, as_="member@cb")
        message = str(info.value)
        # the query's own words may come back ("column email does not exist or you may
        # not read it"), never what the policy hides
        assert "correlation id" in message and message.startswith("query refused")
        record = gov.audit.records(action="query", limit=1)[0]
        assert record.outcome == "denied"
        assert record.details["correlation_id"] in message and record.details["reason"]
    assert gov.query("SELECT * FROM cb.sales.orders", as_="member@cb").column_names == [
        "id",
        "region",
    ]


def test_revocation_and_expiry_are_checked_at_query_start(gov: Mesh) -> None:
    gid = grant(gov, "steward@cb", grant="SELECT", on="cb.sales.orders", to="member@cb")
    assert gov.query("SELECT count(*) AS n FROM cb.sales.orders", as_="member@cb").num_rows == 1
    gov.access.revoke(gid, as_="steward@cb")
    with pytest.raises(QueryFailed):
        gov.query("SELECT count(*) AS n FROM cb.sales.orders", as_="member@cb")


def test_cross_domain_join_under_two_policies(gov: Mesh) -> None:
    for table in ("cb.sales.customers", "ib.wealth.holdings"):
        owner = "steward@cb" if table.startswith("cb") else "steward@ib"
        grant(gov, owner, grant="SELECT", on=table, to="analytics", grantable=True)
        grant(gov, "admin@analytics", grant="SELECT", on=table, to="analyst@analytics")
    rows = gov.query(
        "SELECT c.name, h.asset_class FROM cb.sales.customers c "
        "JOIN ib.wealth.holdings h ON h.customer_id = c.customer_id",
        as_="analyst@analytics",
    )
    assert rows.to_pylist() == [{"name": "a", "asset_class": "bonds"}]
    frame = rows.to_pandas()  # the Python API's results are Arrow, and pandas from there
    assert list(frame.columns) == ["name", "asset_class"] and frame.iloc[0]["name"] == "a"


def test_cli_query_formats(cli: Cli, tmp_path: Path, gov_template: Path) -> None:
    import shutil

    home = tmp_path / "h"
    shutil.copytree(gov_template, home)
    cli.home = home
    assert (
        cli(
            "grant", "SELECT", "--on", "cb.sales.orders", "--to", "member@cb", "--as", "steward@cb"
        )[0]
        == 0
    )
    q = "SELECT id, region FROM cb.sales.orders ORDER BY id, region"
    code, out, _ = cli("query", q, "--as", "member@cb", "--format", "json")
    assert code == 0 and json.loads(out)[0] == {"id": 1, "region": "eu"}
    code, out, _ = cli("query", q, "--as", "member@cb", "--format", "csv")
    assert code == 0 and out.splitlines()[0] == '"id","region"'
    target = tmp_path / "r.parquet"
    code, _, _ = cli(
        "query", q, "--as", "member@cb", "--format", "parquet", "--output", str(target)
    )
    assert code == 0 and pq.read_table(target).num_rows == 4
    # a query that fails while its result is written leaves the old file, and no other
    target.write_bytes(b"old")
    bad = "SELECT CAST(region || 'x' AS INT) AS n FROM cb.sales.orders"
    code, out, err = cli("query", bad, "--as", "member@cb", "--output", str(target))
    assert code == 1 and err.count("\n") == 1 and "correlation id" in err and not out
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [home, target]
    code, out, _ = cli("query", bad, "--as", "member@cb", "--format", "json")
    assert code == 1 and not out  # nothing half printed either
    code, _, err = cli("query", "SELECT * FROM cb.sales.customers", "--as", "member@cb")
    assert code == 1 and err.count("\n") == 1 and "correlation id" in err
    assert cli("query", q, "--as", "member@cb", "--format", "xml")[0] == 1
    code, _, err = cli("query", q, "--as", "member@cb", "--engine", "oracle")
    assert code == 1 and err.count("\n") == 1 and "unknown query engine 'oracle'" in err


def test_a_streamed_result_stops_at_its_limits_and_is_audited(gov: Mesh) -> None:
    """Read batch by batch, the result is held to the same limits, and a failure while
    reading is audited as ``aborted`` like one before the first row."""
    from lakemesh.engines import Limits
    from lakemesh.errors import QueryError

    grant(gov, "steward@cb", grant="SELECT", on="cb.sales.orders", to="member@cb")
    sql = "SELECT id FROM cb.sales.orders"
    with gov.query_stream(sql, as_="member@cb") as result:
        assert result.schema.names == ["id"]
        assert sum(b.num_rows for b in result) == 4
    limits = Limits(max_rows=2)
    with (
        pytest.raises(QueryError, match="more than 2 rows") as info,
        gov.query_stream(sql, as_="member@cb", limits=limits) as result,
    ):
        list(result)
    correlation = str(info.value).rsplit(" ", 1)[-1].rstrip(")")
    outcomes = [
        r.outcome
        for r in gov.audit.records(action="query")
        if r.details.get("correlation_id") == correlation
    ]
    assert sorted(outcomes) == ["aborted", "allowed"]


def test_delta_files_leading_out_of_the_root_are_refused(sqlite_mesh: Mesh, tmp_path: Path) -> None:
    """A data file of a Delta table that is a link out of the root is never read."""
    import json as _json
    import os

    import pyarrow as pa
    from deltalake import write_deltalake

    from lakemesh.errors import PathOutsideRoot
    from lakemesh.query.sources import table_source

    root = tmp_path / "root"
    write_deltalake(str(root / "db" / "t"), pa.table({"x": [1]}))
    secret = tmp_path / "outside.parquet"
    pq.write_table(pa.table({"x": [666]}), secret)
    os.symlink(secret, root / "db" / "t" / "evil.parquet")
    add = {
        "add": {
            "path": "evil.parquet",
            "size": secret.stat().st_size,
            "partitionValues": {},
            "modificationTime": 1,
            "dataChange": True,
        }
    }
    (root / "db" / "t" / "_delta_log" / "00000000000000000001.json").write_text(
        _json.dumps({"commitInfo": {"timestamp": 1}}) + "\n" + _json.dumps(add) + "\n"
    )
    sqlite_mesh.domains.create("lake", str(root), catalog="delta", create=True)
    with pytest.raises(PathOutsideRoot):
        table_source(
            sqlite_mesh.domains.get("lake"), "lake.db.t", "delta", str(root / "db" / "t"), []
        )


def _share(mesh: Mesh, table: str, steward: str, row_filter: str) -> None:
    """``table`` shared with analytics under ``row_filter``, delegated to the analyst."""
    mesh.access.create_user(steward, "steward")
    mesh.access.mask(column=f"{table}.region", spec="redact", as_=steward)
    grant(
        mesh,
        steward,
        grant="SELECT",
        on=table,
        to="analytics",
        row_filter=row_filter,
        grantable=True,
    )
    grant(mesh, "admin@analytics", grant="SELECT", on=table, to="analyst@analytics")


def test_iceberg_tables_are_queried_under_their_policy(gov: Mesh, tmp_path: Path) -> None:
    """An Iceberg table, through the domain's own Iceberg catalog and as a crawled folder,
    is read through the root-confined FileIO and governed like any other."""
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog

    rows = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "region": pa.array(["eu", "us", "eu"], pa.string()),
        }
    )
    root = tmp_path / "ice"
    root.mkdir()
    uri = f"sqlite:///{tmp_path / 'ice.db'}"
    writer = SqlCatalog("default", uri=uri, warehouse=str(root))
    try:
        writer.create_namespace("markets")
        writer.create_table("markets.trades", schema=rows.schema).append(rows)
        gov.domains.create("ice", str(root), catalog=f"iceberg:{uri}", create=True)
        gov.domains.sync()
        table = "ice.markets.trades"
        assert gov.catalog.table(table).format == "iceberg"
        _share(gov, table, "steward@ice", "id < 3")
        got = gov.query(
            f"SELECT id, region FROM {table} ORDER BY id", as_="analyst@analytics"
        ).to_pylist()
        assert got == [{"id": 1, "region": "****"}, {"id": 2, "region": "****"}]

        # An Iceberg folder inside a builtin-catalog domain, found by the crawler.
        lake = tmp_path / "lake"
        writer.create_table(
            "markets.quotes", schema=rows.schema, location=str(lake / "markets" / "quotes")
        ).append(rows)
        gov.domains.create("lake", str(lake), create=True)
        gov.domains.crawl("lake")
        gov.domains.sync()
        quotes = "lake.markets.quotes"
        assert gov.catalog.table(quotes).format == "iceberg"
        _share(gov, quotes, "steward@lake", "region = 'eu'")
        got = gov.query(
            f"SELECT q.id, t.id AS t_id FROM {quotes} q LEFT JOIN {table} t ON t.id = q.id "
            "ORDER BY q.id",
            as_="analyst@analytics",
        ).to_pylist()
        assert got == [{"id": 1, "t_id": 1}, {"id": 3, "t_id": None}]
    finally:
        writer.engine.dispose()
