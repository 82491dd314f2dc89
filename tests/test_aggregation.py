"""Aggregates the reading instance computes: which queries split, and that a split query
answers exactly what the whole one does."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp

from lakemesh.engines import Source, aggregation
from lakemesh.engines.duckdb import DuckDBEngine
from lakemesh.query import GovernedRelation, Plan

ALIAS = "__lm_rel_0"
TABLE = "d.s.t"
POLICY = (
    'SELECT "id", "region", \'***\' || right("email", 3) AS "email", "amount" '
    'FROM "__lm_source" WHERE "region" <> \'hidden\' AND "__lm_source"."id" > 1'
)


def relation() -> GovernedRelation:
    select = sqlglot.parse_one(POLICY, dialect="duckdb")
    assert isinstance(select, exp.Select)
    return GovernedRelation(ALIAS, TABLE, tuple(select.named_selects), select)


def split(sql: str) -> aggregation.Split | None:
    tree = sqlglot.parse_one(sql.format(t=f'"{ALIAS}"'), dialect="duckdb")
    return aggregation.split(tree, {ALIAS: relation()}, "__lm_aggregate")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT region, count(*) AS n, sum(amount) AS s FROM {t} GROUP BY region",
        "SELECT region, email, min(amount), max(amount), avg(amount) FROM {t} x "
        "GROUP BY region, email ORDER BY region, 2 DESC LIMIT 3 OFFSET 1",
        "SELECT count(DISTINCT email) AS e, region FROM {t} GROUP BY region ORDER BY e",
        'SELECT region, count(*) FROM {t} WHERE "id" > 1 GROUP BY region',  # already applied
    ],
)
def test_splits(sql: str) -> None:
    got = split(sql)
    assert got is not None
    text = got.aggregate.sql("duckdb")
    assert "__lm_source" in text and "ORDER" not in text and "LIMIT" not in text


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT region, amount FROM {t}",  # no aggregate
        "SELECT region, sum(amount + 1) FROM {t} GROUP BY region",  # an expression
        "SELECT lower(region), count(*) FROM {t} GROUP BY 1",
        "SELECT region, count(*) FROM {t} GROUP BY region HAVING count(*) > 1",
        "SELECT region, count(*) FROM {t} WHERE amount > 5 GROUP BY region",  # not applied
        "SELECT region, count(*) FROM {t} GROUP BY ALL",
        "SELECT region, count(*) FROM {t} GROUP BY ROLLUP (region)",
        "SELECT region, sum(amount) FROM {t} GROUP BY region ORDER BY sum(amount)",
        "SELECT region, count(*) FILTER (WHERE id > 3) FROM {t} GROUP BY region",
        "SELECT region, string_agg(email) FROM {t} GROUP BY region",
        "SELECT DISTINCT region, count(*) FROM {t} GROUP BY region",
        "SELECT region, count(*) FROM {t} a JOIN {t} b USING (id) GROUP BY region",
        "SELECT region, (SELECT 1) AS x, count(*) FROM {t} GROUP BY region",
        "WITH c AS (SELECT * FROM {t}) SELECT region, count(*) FROM c GROUP BY region",
        "SELECT region, count(*) FROM {t} AS x(a, region2) GROUP BY region",
        "SELECT x.region, count(*) FROM {t} GROUP BY x.region",  # another name
        "SELECT region, count(*) FROM {t} GROUP BY region LIMIT (SELECT 1)",
    ],
)
def test_stays_whole(sql: str) -> None:
    assert split(sql) is None


@pytest.fixture
def source(tmp_path: Path) -> dict[str, Source]:
    rows = [
        {"id": i, "region": ["eu", "us", "hidden", None][i % 4], "email": f"u{i % 7}@x.org",
         "amount": float(i) if i % 5 else None}
        for i in range(200)
    ]  # fmt: skip
    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return {TABLE: Source("parquet", (str(path),))}


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT region, count(*) AS n, sum(amount) AS s FROM {t} GROUP BY region ORDER BY region",
        "SELECT email, region, count(*), avg(amount), min(amount), max(amount) FROM {t} "
        "GROUP BY email, region ORDER BY 1, 2",
        "SELECT region, count(DISTINCT email) AS e, count(amount) AS c FROM {t} "
        "GROUP BY region ORDER BY e DESC, region LIMIT 2",
    ],
)
def test_a_split_query_answers_what_the_whole_one_does(
    source: dict[str, Source], sql: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = sql.format(t=f'"{ALIAS}"')
    assert split(sql) is not None
    plan = Plan(sqlglot.parse_one(text, dialect="duckdb"), (relation(),), (TABLE,))
    pushed = DuckDBEngine().run(plan, source)
    monkeypatch.setattr(aggregation, "split", lambda *a: None)
    whole = DuckDBEngine().run(plan, source)
    assert pushed.column_names == whole.column_names
    assert pushed.to_pylist() == whole.to_pylist()
    assert "hidden" not in str(pushed.to_pylist())
