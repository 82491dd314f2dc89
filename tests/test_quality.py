"""Quality metrics measured on real DuckDB data: completeness, every library metric, sql
rules and their placeholders, freshness, failures kept to their own metric."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import yaml

from lakemesh.products.contracts import Contract, parse_contract
from lakemesh.products.quality import Metric, measure, metric_queries, violations

TABLE = "bank.credit.profile"
NOW = datetime(2024, 5, 4, 9, 0, tzinfo=UTC)
CREDIT = (Path(__file__).parent / "fixtures" / "contracts" / "credit_profile.odcs.yaml").read_text()


class Engine:
    """``run_sql`` over one DuckDB connection, remembering what it was asked and how
    many rows each answer had."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.queries: list[str] = []
        self.rows: list[int] = []

    def __call__(self, sql: str) -> pa.Table:
        self.queries.append(sql)
        result = self.con.sql(sql).to_arrow_table()
        self.rows.append(result.num_rows)
        return result

    def load(self, data: dict[str, list[Any]] | pa.Table) -> dict[str, str]:
        """Replace the table with ``data``; its columns as name -> Arrow type text."""
        table = data if isinstance(data, pa.Table) else pa.table(data)
        self.con.register("staging", table)
        self.con.execute("CREATE OR REPLACE TABLE bank.credit.profile AS SELECT * FROM staging")
        self.con.unregister("staging")
        return {f.name: str(f.type) for f in table.schema}


@pytest.fixture
def engine() -> Iterator[Engine]:
    con = duckdb.connect()
    con.execute("ATTACH ':memory:' AS bank")
    con.execute("CREATE SCHEMA bank.credit")
    yield Engine(con)
    con.close()


def contract(
    properties: list[dict[str, Any]],
    quality: list[dict[str, Any]] | None = None,
    sla: list[dict[str, Any]] | None = None,
) -> Contract:
    obj: dict[str, Any] = {"name": "profile", "properties": properties}
    if quality:
        obj["quality"] = quality
    data: dict[str, Any] = {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": "profile",
        "version": "1.0.0",
        "schema": [obj],
    }
    if sla:
        data["slaProperties"] = sla
    return parse_contract(yaml.safe_dump(data, sort_keys=False), "test contract")


def run(engine: Engine, c: Contract, columns: dict[str, str], **kw: Any) -> list[Metric]:
    kw.setdefault("updated_at", None)
    kw.setdefault("now", NOW)
    return measure(c, TABLE, columns, engine, **kw)


def by(metrics: list[Metric], kind: str) -> dict[str | None, Metric]:
    return {(m.rule or m.column): m for m in metrics if m.kind == kind}


# --------------------------------------------------------------------------- completeness


def test_completeness_of_every_contract_column(engine: Engine) -> None:
    columns = engine.load(
        {
            "customer_id": ["c1", "c2", "c3", "c4"],
            "email": ["a@x.de", None, None, "d@x.de"],
            "age": [30, None, 41, 52],
        }
    )
    c = contract(
        [
            {"name": "customer_id", "required": True},
            {"name": "email"},
            {"name": "age", "logicalType": "integer", "required": True},
        ]
    )
    metrics = run(engine, c, columns)
    assert metrics[0] == Metric("row_count", None, None, 4.0, "rows", None, "4 rows")
    completeness = by(metrics, "completeness")
    assert completeness["customer_id"] == Metric(
        "completeness", "customer_id", None, 1.0, "ratio", True, "4 of 4 rows have customer_id"
    )
    assert completeness["email"].value == 0.5
    assert completeness["email"].passed is None  # not required: nothing to judge
    assert completeness["email"].detail == "2 of 4 rows have email"
    assert completeness["age"].value == 0.75
    assert completeness["age"].passed is False
    assert completeness["age"].detail == "3 of 4 rows have age, which the contract requires"
    assert [v.column for v in violations(metrics)] == ["age"]
    assert len(engine.queries) == 1  # one aggregate for all of it


def test_an_empty_table_has_no_completeness_ratio(engine: Engine) -> None:
    columns = engine.load(pa.table({"id": pa.array([], pa.string())}))
    c = contract(
        [{"name": "id", "required": True}],
        quality=[{"metric": "rowCount", "mustBeGreaterThan": 0}],
    )
    metrics = run(engine, c, columns)
    assert metrics[0].value == 0.0
    assert by(metrics, "completeness")["id"] == Metric(
        "completeness", "id", None, None, "ratio", None, "the table has no rows"
    )
    row_count = by(metrics, "validity")["table.rowCount"]
    assert (row_count.value, row_count.passed) == (0.0, False)
    assert row_count.detail == "the table has 0 rows, must be greater than 0"


def test_a_column_missing_from_the_table_gets_no_metric(engine: Engine) -> None:
    columns = engine.load({"id": ["a", "b"]})
    c = contract(
        [
            {"name": "id"},
            {"name": "gone", "quality": [{"metric": "nullValues", "mustBe": 0}]},
            {
                "name": "gone_too",
                "quality": [
                    {"type": "sql", "query": "SELECT count(*) FROM {object} WHERE {property} > 0"}
                ],
            },
        ],
        quality=[
            {"metric": "duplicateValues", "arguments": {"properties": ["id", "gone"]}, "mustBe": 0}
        ],
    )
    metrics = run(engine, c, columns)
    assert {(m.kind, m.column, m.rule) for m in metrics} == {
        ("row_count", None, None),
        ("completeness", "id", None),
    }


# --------------------------------------------------------------------------- library rules

LIBRARY_CASES = [
    # (values, Arrow type, rule, measured value, passed)
    ([1, 2, 3], pa.int64(), {"metric": "nullValues", "mustBe": 0}, 0.0, True),
    ([1, None, 3], pa.int64(), {"metric": "nullValues", "mustBe": 0}, 1.0, False),
    (
        [1, None, None, None],
        pa.int64(),
        {"metric": "nullValues", "mustBeLessThan": 50, "unit": "percent"},
        75.0,
        False,
    ),
    (
        [1, None, 3, 4],
        pa.int64(),
        {"metric": "nullValues", "mustBeLessThan": 50, "unit": "percent"},
        25.0,
        True,
    ),
    (["a", "", None, "b"], pa.string(), {"metric": "missingValues", "mustBe": 0}, 2.0, False),
    (
        ["a", "n/a", "N/A", None],
        pa.string(),
        {"metric": "missingValues", "arguments": {"missingValues": ["n/a", None]}, "mustBe": 2},
        2.0,
        True,
    ),
    (
        [0, -1, 5, None],
        pa.int32(),
        {"metric": "missingValues", "arguments": {"missingValues": [-1, None]}, "mustBe": 0},
        2.0,
        False,
    ),
    (
        [1.5, -1.0, 2.0],
        pa.float64(),
        {"metric": "missingValues", "arguments": {"missingValues": [-1]}, "mustBeLessThan": 2},
        1.0,
        True,
    ),
    (
        ["kg", "lb", "kg", None],
        pa.string(),
        {"metric": "invalidValues", "arguments": {"validValues": ["kg", "pounds"]}, "mustBe": 0},
        1.0,
        False,
    ),
    (
        [0, 1, 1, 0],
        pa.int8(),
        {"metric": "invalidValues", "arguments": {"validValues": [0, 1]}, "mustBe": 0},
        0.0,
        True,
    ),
    (
        ["DE89370400440532013000", "xx", None],
        pa.large_string(),
        {
            "metric": "invalidValues",
            "arguments": {"pattern": "^[A-Z]{2}[0-9]{2}[A-Z0-9]{4,30}$"},
            "mustBe": 0,
        },
        1.0,
        False,
    ),
    (
        [123, 45, 6789],
        pa.int64(),
        {"metric": "invalidValues", "arguments": {"pattern": "^[0-9]{3}$"}, "mustBe": 0},
        2.0,
        False,
    ),
    (
        ["kg", "KG", "lb", "lb"],
        pa.string(),
        {
            "metric": "invalidValues",
            "arguments": {"validValues": ["kg", "KG", "lb"], "pattern": "^[a-z]+$"},
            "unit": "percent",
            "mustBeLessOrEqualTo": 25,
        },
        25.0,
        True,
    ),
    (
        [True, False, None],
        pa.bool_(),
        {"metric": "invalidValues", "arguments": {"validValues": [True]}, "mustBe": 0},
        1.0,
        False,
    ),
    (
        ["2024-01-01", "2024-01-02"],
        pa.string(),
        {"metric": "invalidValues", "arguments": {"validValues": ["2024-01-01"]}},
        1.0,
        None,  # no threshold: measured, never judged
    ),
    (
        ["a", "a", "a", "b", None, None],
        pa.string(),
        {"metric": "duplicateValues", "mustBe": 0},
        2.0,
        False,
    ),
    (
        ["a", "b", "c", None, None],
        pa.string(),
        {"metric": "duplicateValues", "mustBe": 0},
        0.0,
        True,
    ),
    (
        [1, 1, 2, 3],
        pa.int64(),
        {"metric": "duplicateValues", "mustBeLessThan": 10, "unit": "percent"},
        25.0,
        False,
    ),
]


@pytest.mark.parametrize(("values", "arrow_type", "rule", "value", "passed"), LIBRARY_CASES)
def test_library_rules(
    engine: Engine,
    values: list[Any],
    arrow_type: pa.DataType,
    rule: dict[str, Any],
    value: float,
    passed: bool | None,
) -> None:
    columns = engine.load(pa.table({"v": pa.array(values, arrow_type)}))
    c = contract([{"name": "v", "quality": [rule]}])
    metric = by(run(engine, c, columns), "validity")[c.rules[0].id]
    assert (metric.value, metric.passed) == (value, passed)
    assert metric.unit == rule.get("unit", "rows")
    assert metric.column == "v"


def test_library_details_read_as_sentences(engine: Engine) -> None:
    columns = engine.load({"email": ["a", None, None], "id": ["x", "x", "y"]})
    c = contract(
        [
            {"name": "email", "quality": [{"metric": "nullValues", "mustBe": 0}]},
            {"name": "id", "unique": True},
        ],
        quality=[{"metric": "rowCount", "mustBeBetween": [1, 10]}],
    )
    details = {m.rule: m.detail for m in run(engine, c, columns) if m.kind == "validity"}
    assert details == {
        "email.nullValues": "email has 2 null values, must be 0",
        "table.rowCount": "the table has 3 rows, must be between 1 and 10",
        "id.unique": "id has 1 duplicate value, must be 0",
    }


def test_table_level_duplicates_over_a_combination(engine: Engine) -> None:
    columns = engine.load(
        {
            "customer_id": ["c1", "c1", "c1", "c2", None, None],
            "booked_at": [1, 1, 2, 1, None, None],
        }
    )
    rule = {
        "name": "one_booking",
        "metric": "duplicateValues",
        "arguments": {"properties": ["customer_id", "booked_at"]},
        "mustBe": 0,
    }
    c = contract([{"name": "customer_id"}, {"name": "booked_at"}], quality=[rule])
    metric = by(run(engine, c, columns), "validity")["one_booking"]
    assert (metric.value, metric.passed) == (2.0, False)
    assert metric.detail == "customer_id, booked_at repeat in 2 rows, must be 0"


@pytest.mark.parametrize(
    ("threshold", "passed"),
    [
        ({"mustBeBetween": [2, 4]}, True),
        ({"mustBeBetween": [3, 4]}, False),  # exclusive, as ODCS defines it
        ({"mustNotBeBetween": [0, 2]}, True),
        ({"mustBeGreaterOrEqualTo": 3}, True),
        ({"mustBeGreaterThan": 0, "mustBeLessThan": 3}, False),  # every operator must hold
    ],
)
def test_row_count_thresholds(engine: Engine, threshold: dict[str, Any], passed: bool) -> None:
    columns = engine.load({"id": [1, 2, 3]})
    c = contract([{"name": "id"}], quality=[{"metric": "rowCount", **threshold}])
    assert by(run(engine, c, columns), "validity")["table.rowCount"].passed is passed


def test_one_bad_library_rule_fails_alone(engine: Engine) -> None:
    """RE2 (DuckDB) has no lookahead, Python's re does: the contract parses, the
    aggregate fails, and each part runs alone so only that rule fails."""
    columns = engine.load({"code": ["ab", "ac", None], "n": [1, None, 3]})
    c = contract(
        [
            {
                "name": "code",
                "quality": [
                    {"metric": "invalidValues", "arguments": {"pattern": "^(?=a)"}, "mustBe": 0}
                ],
            },
            {"name": "n", "quality": [{"metric": "nullValues", "mustBe": 0}]},
        ]
    )
    metrics = run(engine, c, columns)
    validity = by(metrics, "validity")
    bad = validity["code.invalidValues"]
    assert (bad.value, bad.passed) == (None, False)
    assert bad.detail.startswith("rule code.invalidValues could not be evaluated: ")
    assert (validity["n.nullValues"].value, validity["n.nullValues"].passed) == (1.0, False)
    assert by(metrics, "completeness")["code"].value == pytest.approx(2 / 3)


def test_a_table_that_cannot_be_read_raises(engine: Engine) -> None:
    c = contract([{"name": "id"}])
    with pytest.raises(duckdb.Error):
        run(engine, c, {"id": "int64"})  # bank.credit.profile was never created


# --------------------------------------------------------------------------- sql rules


@pytest.mark.parametrize(
    "query",
    [
        "SELECT count(*) FROM {object} WHERE {property} < 18",
        "SELECT count(*) FROM ${object} WHERE ${property} < 18",
        "SELECT count(*) FROM ${table} WHERE ${column} < 18",
        "SELECT count(*) FROM { table } AS p WHERE p.{property} < 18",
        "WITH young AS (SELECT * FROM {object} WHERE {property} < 18) SELECT count(*) FROM young",
        "SELECT count(*) FROM (SELECT {property} AS a FROM {object}) AS s WHERE s.a < 18",
        "select count(*) filter (where {property} < 18) from {object}",
    ],
)
def test_sql_rules_with_placeholders(engine: Engine, query: str) -> None:
    columns = engine.load({"age": [17, 30, 16, 45]})
    rule = {"name": "adults_only", "type": "sql", "query": query, "mustBe": 0}
    c = contract([{"name": "age", "quality": [rule]}])
    metric = by(run(engine, c, columns), "validity")["adults_only"]
    assert metric == Metric(
        "validity", "age", "adults_only", 2.0, "value", False, "the query returned 2, must be 0"
    )


def test_a_table_level_sql_rule_returns_a_ratio(engine: Engine) -> None:
    columns = engine.load({"creditability": [1, 1, 0, 1]})
    rule = {
        "type": "sql",
        "query": "SELECT avg(CASE WHEN creditability = 1 THEN 1.0 ELSE 0.0 END) FROM {object}",
        "mustBeGreaterThan": 0.5,
    }
    c = contract([{"name": "creditability"}], quality=[rule])
    metric = by(run(engine, c, columns), "validity")["table.sql"]
    assert (metric.value, metric.passed, metric.column) == (0.75, True, None)


def test_a_sql_rule_without_threshold_is_measured_only(engine: Engine) -> None:
    columns = engine.load({"amount": [Decimal("10.50"), Decimal("2.25")]})
    rule = {"type": "sql", "query": "SELECT sum({property}) FROM {object}"}
    c = contract([{"name": "amount", "quality": [rule]}])
    metric = by(run(engine, c, columns), "validity")["amount.sql"]
    assert (metric.value, metric.passed, metric.detail) == (12.75, None, "the query returned 12.75")


def test_a_failing_sql_rule_becomes_a_failed_metric_without_the_data(engine: Engine) -> None:
    columns = engine.load({"code": ["secret-value-4711"], "n": [1]})
    rules = [
        {
            "name": "cast_fails",
            "type": "sql",
            "query": "SELECT max(CAST({property} AS INTEGER)) FROM {object}",
        },
        {"name": "still_measured", "type": "sql", "query": "SELECT count(*) FROM {object}"},
    ]
    c = contract([{"name": "code", "quality": rules}, {"name": "n"}])
    metrics = run(engine, c, columns)
    validity = by(metrics, "validity")
    failed = validity["cast_fails"]
    assert (failed.value, failed.passed, failed.unit) == (None, False, "value")
    assert failed.detail.startswith("rule cast_fails could not be evaluated: ")
    assert "secret" not in failed.detail and "4711" not in failed.detail
    assert "\n" not in failed.detail
    assert validity["still_measured"].value == 1.0
    assert [v.rule for v in violations(metrics)] == ["cast_fails"]


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("SELECT {property} FROM {object}", "returned 3 rows of 1 columns, not one value"),
        ("SELECT count(*), count(*) FROM {object}", "returned 1 rows of 2 columns"),
        ("SELECT max({property}) FROM {object} WHERE false", "the query returned no value"),
        ("SELECT 'x' || max({property}) FROM {object}", "a value that is not a number"),
        ("SELECT count(*) FROM {object} WHERE nope > 1", "could not be evaluated"),
    ],
)
def test_sql_rules_that_do_not_return_one_number(engine: Engine, query: str, detail: str) -> None:
    columns = engine.load({"v": [1, 2, 3]})
    c = contract([{"name": "v", "quality": [{"type": "sql", "query": query, "mustBe": 0}]}])
    metric = by(run(engine, c, columns), "validity")["v.sql"]
    assert (metric.value, metric.passed) == (None, False)
    assert detail in metric.detail


def test_text_and_custom_rules_are_not_measured(engine: Engine) -> None:
    columns = engine.load({"v": [1]})
    rules = [
        {"type": "text", "description": "Values are in euro."},
        {"type": "custom", "engine": "soda", "implementation": "type: duplicate_percent"},
    ]
    c = contract([{"name": "v", "quality": rules}])
    assert by(run(engine, c, columns), "validity") == {}


# --------------------------------------------------------------------------- freshness


def latency(value: float, unit: str, element: str | None = "booked_at") -> list[dict[str, Any]]:
    sla: dict[str, Any] = {"property": "latency", "value": value, "unit": unit}
    if element is not None:
        sla["element"] = element
    return [sla]


@pytest.mark.parametrize(
    ("newest", "arrow_type", "passed", "age"),
    [
        (datetime(2024, 5, 3, 12, 0), pa.timestamp("us"), True, 21 * 3600.0),
        (datetime(2024, 5, 2, 12, 0), pa.timestamp("us"), False, 45 * 3600.0),
        (
            datetime(2024, 5, 4, 7, 0, tzinfo=UTC),
            pa.timestamp("us", tz="UTC"),
            True,
            2 * 3600.0,
        ),
        (datetime(2024, 5, 4, 2, 0), pa.timestamp("ns"), True, 7 * 3600.0),
        (date(2024, 5, 3), pa.date32(), True, 9 * 3600.0),  # a day counts until it ends
        (date(2024, 5, 2), pa.date32(), False, 33 * 3600.0),
    ],
)
def test_freshness_of_the_newest_value(
    engine: Engine, newest: Any, arrow_type: pa.DataType, passed: bool, age: float
) -> None:
    older = newest - timedelta(days=3)
    columns = engine.load(pa.table({"booked_at": pa.array([older, newest, None], arrow_type)}))
    c = contract([{"name": "booked_at"}], sla=latency(1, "d"))
    metric = by(run(engine, c, columns), "freshness")["booked_at"]
    assert (metric.value, metric.passed, metric.unit) == (age, passed, "seconds")
    assert metric.detail.startswith("the newest booked_at is ")
    assert metric.detail.endswith("old; the contract allows 1 d")


def test_freshness_detail(engine: Engine) -> None:
    columns = engine.load({"booked_at": [datetime(2024, 5, 4, 6, 0)]})
    c = contract([{"name": "booked_at"}], sla=latency(2, "h"))
    metrics = run(engine, c, columns)
    metric = by(metrics, "freshness")["booked_at"]
    assert metric.detail == "the newest booked_at is 3h old; the contract allows 2 h"
    assert violations(metrics)[0].kind == "freshness"


def test_freshness_of_an_empty_table_is_not_measurable(engine: Engine) -> None:
    columns = engine.load(pa.table({"booked_at": pa.array([], pa.timestamp("us"))}))
    c = contract([{"name": "booked_at"}], sla=latency(1, "d"))
    metric = by(run(engine, c, columns), "freshness")["booked_at"]
    assert (metric.value, metric.passed) == (None, False)
    assert metric.detail == "booked_at has no values, so no age; the contract allows 1 d"


def test_freshness_on_a_column_that_is_not_a_time(engine: Engine) -> None:
    columns = engine.load({"booked_at": ["2024-05-04"]})
    c = contract([{"name": "booked_at"}], sla=latency(1, "d"))
    metric = by(run(engine, c, columns), "freshness")["booked_at"]
    assert (metric.value, metric.passed) == (None, False)
    assert "booked_at is string in the table, not a date or timestamp" in metric.detail


def test_freshness_column_missing_from_the_table(engine: Engine) -> None:
    columns = engine.load({"id": [1]})
    c = contract([{"name": "id"}, {"name": "booked_at"}], sla=latency(1, "d"))
    assert by(run(engine, c, columns), "freshness") == {}


@pytest.mark.parametrize(
    ("updated_at", "value", "passed"),
    [
        (datetime(2024, 5, 4, 3, 0, tzinfo=UTC), 6 * 3600.0, True),
        (datetime(2024, 5, 3, 3, 0), 30 * 3600.0, False),  # naive is UTC
        (None, None, False),
    ],
)
def test_freshness_of_the_table_update_without_an_element(
    engine: Engine, updated_at: datetime | None, value: float | None, passed: bool
) -> None:
    columns = engine.load({"id": [1]})
    c = contract([{"name": "id"}], sla=latency(1, "d", element=None))
    metrics = run(engine, c, columns, updated_at=updated_at)
    metric = by(metrics, "freshness")[None]
    assert (metric.value, metric.passed, metric.column) == (value, passed, None)
    assert len(engine.queries) == 1  # no max() query without a column


# --------------------------------------------------------------------------- the whole contract


def credit_rows() -> pa.Table:
    return pa.table(
        {
            "customer_id": ["c1", "c2", "c3", "c3"],
            "iban": ["DE89370400440532013000", "DE89370400440532013001", "XX", None],
            "email": ["a@x.de", None, "n/a", ""],
            "age_in_years": pa.array([30, 45, 17, 22], pa.int32()),
            "credit_amount": pa.array(
                [Decimal("1000.50"), Decimal("2000.00"), Decimal("500.00"), Decimal("800.00")],
                pa.decimal128(12, 2),
            ),
            "purpose": ["car_new", "education", "vacation", "business"],
            "creditability": pa.array([1, 1, 0, 1], pa.int8()),
            "booked_at": pa.array(
                [datetime(2024, 5, d, 10, 0) for d in (1, 2, 3, 3)], pa.timestamp("us")
            ),
        }
    )


def test_the_credit_profile_contract_on_its_data(engine: Engine) -> None:
    columns = engine.load(credit_rows())
    c = parse_contract(CREDIT, "credit.yaml")
    metrics = run(engine, c, columns)
    outcome = {(m.kind, m.rule or m.column): (m.value, m.passed) for m in metrics}
    assert outcome == {
        ("row_count", None): (4.0, None),
        ("completeness", "customer_id"): (1.0, True),
        ("completeness", "iban"): (0.75, None),
        ("completeness", "email"): (0.75, None),
        ("completeness", "age_in_years"): (1.0, True),
        ("completeness", "credit_amount"): (1.0, True),
        ("completeness", "purpose"): (1.0, None),
        ("completeness", "creditability"): (1.0, True),
        ("completeness", "booked_at"): (1.0, True),
        ("validity", "iban.invalidValues"): (1.0, False),
        ("validity", "email.nullValues"): (25.0, False),
        ("validity", "email.missingValues"): (3.0, True),
        ("validity", "adults_only"): (1.0, False),
        ("validity", "credit_amount.sql"): (500.0, True),
        ("validity", "purpose.invalidValues"): (25.0, False),
        ("validity", "creditability.invalidValues"): (0.0, True),
        ("validity", "table.rowCount"): (4.0, True),
        ("validity", "one_booking_per_customer"): (1.0, False),
        ("validity", "table.sql"): (0.75, True),
        ("validity", "customer_id.unique"): (1.0, False),
        ("freshness", "booked_at"): (23 * 3600.0, True),
    }
    assert sorted(v.rule or v.column or "" for v in violations(metrics)) == [
        "adults_only",
        "customer_id.unique",
        "email.nullValues",
        "iban.invalidValues",
        "one_booking_per_customer",
        "purpose.invalidValues",
    ]
    # only aggregates come back: one row per query, never the table's rows
    assert engine.rows == [1] * len(engine.queries)
    assert engine.queries == metric_queries(c, TABLE, columns)


def test_metric_queries_run_on_their_own(engine: Engine) -> None:
    columns = engine.load(credit_rows())
    c = parse_contract(CREDIT, "credit.yaml")
    queries = metric_queries(c, TABLE, columns)
    assert len(queries) == 5  # the aggregate, three sql rules, freshness
    for sql in queries:
        assert engine(sql).num_rows == 1
