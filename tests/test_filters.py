"""Row filters: the allowlist, canonical text, binding, and union/intersection, by result."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import duckdb
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlglot import exp

from lakemesh.access.filters import (
    MAX_LENGTH,
    InvalidFilter,
    RowFilter,
    all_of,
    any_of,
    parse_row_filter,
)
from lakemesh.errors import InvalidInput

COLUMNS = {
    "id": "int64",
    "region": "string",
    "amount": "int64",
    "score": "double",
    "status": "string",
    "country": "string",
    "dt": "date32[day]",
    "flag": "bool",
    "order": "int64",
}
ROWS = 240


def make_rows() -> list[tuple[Any, ...]]:
    rng = random.Random(7)
    rows = []
    for i in range(ROWS):
        rows.append(
            (
                i,
                rng.choice(["eu", "us", "apac", None]),
                rng.choice([None, *range(0, 300, 7)]),
                rng.choice([None, -1.5, 0.0, 2.25, 99.5]),
                rng.choice(["a", "b", "c", None]),
                rng.choice(["DE", "de", "Denmark", "FR", "ünïcode", None]),
                rng.choice([None, date(2023, 12, 31) + timedelta(days=rng.randrange(400))]),
                rng.choice([True, False, None]),
                rng.randrange(5),
            )
        )
    return rows


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    c.execute(
        "CREATE TABLE t (id BIGINT, region VARCHAR, amount BIGINT, score DOUBLE, status VARCHAR,"
        ' country VARCHAR, dt DATE, flag BOOLEAN, "order" BIGINT)'
    )
    c.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", make_rows())
    yield c
    c.close()


def visible(con: duckdb.DuckDBPyConnection, f: RowFilter | None) -> set[int]:
    """Row ids a filter admits, run the way the rewriter will: bound inside the table."""
    query = exp.select("id").from_(exp.to_table("t").as_("t", quoted=True))
    if f is not None:
        query = query.where(f.bind("t"))
    return {r[0] for r in con.execute(query.sql(dialect="duckdb")).fetchall()}


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1=1; DROP TABLE x", "';' and multiple statements are not allowed"),
        ("region = 'eu';", "';' and multiple statements are not allowed"),
        ("(SELECT 1) = 1", "subqueries are not allowed"),
        ("amount IN (SELECT amount FROM t)", "subqueries are not allowed"),
        ("amount IN (1, (SELECT 2))", "subqueries are not allowed"),
        ("amount = ANY(SELECT 1)", "subqueries are not allowed"),
        ("EXISTS (SELECT 1)", "subqueries are not allowed"),
        ("count(*) > 0", "aggregate functions are not allowed"),
        ("max(amount) > 0", "aggregate functions are not allowed"),
        ("sum(amount) OVER () > 1", "window functions are not allowed"),
        ("unknown_col = 1", "unknown column 'unknown_col'"),
        ("amount = $1", "unknown column '$1'"),
        ("t.amount = 1", "qualified column references are not allowed"),
        ("main.t.amount = 1", "qualified column references are not allowed"),
        ("read_csv('/etc/passwd') IS NOT NULL", "function read_csv is not allowed"),
        ("\"read_text\"('/x') = 'a'", "function read_text is not allowed"),
        ("query('select 1') = 1", "function query is not allowed"),
        ("current_setting('x') = 'y'", "function current_setting is not allowed"),
        ("getvariable('x') = 'y'", "function getvariable is not allowed"),
        ("random() > 0.5", "function rand is not allowed"),
        ("now() > DATE '2020-01-01'", "function now is not allowed"),
        ("current_timestamp > DATE '2020-01-01'", "function current_timestamp is not allowed"),
        ("regexp_matches(region, 'e')", "function regexp_matches is not allowed"),
        ("amount = ?", "parameters and placeholders are not allowed"),
        ("amount = :p", "parameters and placeholders are not allowed"),
        ("amount = @p", "parameters and placeholders are not allowed"),
        ("*", "* is not allowed"),
        ("", "empty"),
        ("  \n ", "empty"),
        ("amount + 1", "must be a boolean condition"),
        ("region", "must be a boolean condition"),
        ("lower(region)", "must be a boolean condition"),
        ("amount IS 1", "IS only takes NULL, TRUE or FALSE"),
        ("amount = 0x10", "alias is not allowed"),
        ("CAST(amount AS INT[]) = 1", "DATATYPE with nested is not allowed"),
        ("CAST(amount AS JSON) = 1", "is not allowed here"),
        ("extract(epoch FROM dt) = 1", "is not allowed here"),
        ("region -> 'x' = 1", "function json_extract is not allowed"),
        ("region = 'x' COLLATE nocase", "function collate is not allowed"),
        ("region = N'x'", "national is not allowed"),
        ("SELECT 1", "statements are not allowed"),
        ("DROP TABLE t", "statements are not allowed"),
        ("PRAGMA version", "statements are not allowed"),
        ("SET threads = 1", "statements are not allowed"),
        ("COPY t TO 'x.csv'", "statements are not allowed"),
        ("CALL pragma_version()", "statements are not allowed"),
        ("region = 'eu' AND", "syntax error"),
        ("(" * 200 + "amount" + ")" * 200 + " = 1", "nested too deeply"),
        ("region = '" + "x" * MAX_LENGTH + "'", f"longer than {MAX_LENGTH} bytes"),
    ],
)
def test_refused_with_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        parse_row_filter(text, COLUMNS)
    message = str(info.value)
    assert message.startswith("row filter: ")
    assert reason in message
    assert "\n" not in message
    assert isinstance(info.value, InvalidInput) and isinstance(info.value, ValueError)


def test_length_is_counted_in_bytes() -> None:
    text = "region = '" + "é" * (MAX_LENGTH // 2) + "'"
    assert len(text) < MAX_LENGTH
    with pytest.raises(InvalidFilter, match="longer than"):
        parse_row_filter(text, COLUMNS)


# --------------------------------------------------------------------------- accepted, by result


def _like_de(r: dict[str, Any]) -> bool | None:
    return None if r["country"] is None else r["country"].lower().startswith("de")


ACCEPTED: list[tuple[str, str, Callable[[dict[str, Any]], bool | None]]] = [
    ("region = 'eu'", "\"region\" = 'eu'", lambda r: r["region"] == "eu"),
    (
        "amount > 100 AND status IN ('a','b')",
        "\"amount\" > 100 AND \"status\" IN ('a', 'b')",
        lambda r: (r["amount"] or 0) > 100 and r["status"] in ("a", "b"),
    ),
    ("lower(country) LIKE 'de%'", "LOWER(\"country\") LIKE 'de%'", _like_de),
    (
        "dt BETWEEN '2024-01-01' AND '2024-12-31'",
        "\"dt\" BETWEEN '2024-01-01' AND '2024-12-31'",
        lambda r: r["dt"] is not None and date(2024, 1, 1) <= r["dt"] <= date(2024, 12, 31),
    ),
    ("NOT (flag IS NULL)", 'NOT ("flag" IS NULL)', lambda r: r["flag"] is not None),
    ("flag", '"flag"', lambda r: r["flag"] is True),
    ("NOT flag -- no comment survives", 'NOT "flag"', lambda r: r["flag"] is False),
    ("Region = 'eu' /* nor here */", "\"region\" = 'eu'", lambda r: r["region"] == "eu"),
    ('"ORDER" = 3', '"order" = 3', lambda r: r["order"] == 3),
    (
        "coalesce(amount, 0) % 2 = 0 OR score IS NULL",
        'COALESCE("amount", 0) % 2 = 0 OR "score" IS NULL',
        lambda r: (r["amount"] or 0) % 2 == 0 or r["score"] is None,
    ),
    (
        "extract(month FROM dt) = 3",
        'EXTRACT(MONTH FROM "dt") = 3',
        lambda r: r["dt"] is not None and r["dt"].month == 3,
    ),
    (
        "year(dt) = 2023",
        'YEAR("dt") = 2023',
        lambda r: r["dt"] is not None and r["dt"].year == 2023,
    ),
    (
        "CASE WHEN amount > 200 THEN TRUE ELSE region = 'us' END",
        'CASE WHEN "amount" > 200 THEN TRUE ELSE "region" = \'us\' END',
        lambda r: (
            True
            if (r["amount"] or 0) > 200
            else (None if r["region"] is None else r["region"] == "us")
        ),
    ),
    (
        "IF(score > 1, 'hi', 'lo') || upper(trim(status)) = 'hiA'",
        "CASE WHEN \"score\" > 1 THEN 'hi' ELSE 'lo' END || UPPER(TRIM(\"status\")) = 'hiA'",
        lambda r: r["status"] == "a" and (r["score"] or 0) > 1,
    ),
    (
        "CAST(amount AS DOUBLE) / 2 >= 50.5 AND abs(round(score, 1)) < 3",
        'CAST("amount" AS DOUBLE) / 2 >= 50.5 AND ABS(ROUND("score", 1)) < 3',
        lambda r: (
            r["amount"] is not None
            and r["amount"] / 2 >= 50.5
            and r["score"] is not None
            and abs(r["score"]) < 3
        ),
    ),
    (
        "substr(country, 1, 2) = 'De' AND length(country) > 2",
        'SUBSTRING("country", 1, 2) = \'De\' AND LENGTH("country") > 2',
        lambda r: (r["country"] or "").startswith("De") and len(r["country"] or "") > 2,
    ),
    (
        "region IS DISTINCT FROM 'eu'",
        "\"region\" IS DISTINCT FROM 'eu'",
        lambda r: r["region"] != "eu",
    ),
]


@pytest.mark.parametrize(("text", "canonical", "expected"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_accepted_filters_filter_the_right_rows(
    con: duckdb.DuckDBPyConnection,
    text: str,
    canonical: str,
    expected: Callable[[dict[str, Any]], bool | None],
) -> None:
    f = parse_row_filter(text, COLUMNS)
    assert f.sql == canonical
    names = list(COLUMNS)
    want = {row[0] for row in make_rows() if expected(dict(zip(names, row, strict=True)))}
    assert visible(con, f) == want


def test_columns_are_the_referenced_names_lower_case() -> None:
    f = parse_row_filter("Amount > 1 AND \"REGION\" = 'x' OR amount < 0", COLUMNS)
    assert f.columns == frozenset({"amount", "region"})


def test_canonical_text_is_stable_and_reparses_to_the_same_filter() -> None:
    for text, _, _ in ACCEPTED:
        f = parse_row_filter(text, COLUMNS)
        again = parse_row_filter(f.sql, COLUMNS)
        assert again == f
        assert f.expression() == sqlglot.parse_one(f.sql)
        assert RowFilter.model_validate_json(f.model_dump_json()) == f


def test_expression_is_a_fresh_copy() -> None:
    f = parse_row_filter("region = 'eu'", COLUMNS)
    tree = f.expression()
    tree.set("this", exp.column("status"))
    assert f.expression().sql() == f.sql


def test_a_row_filter_only_holds_canonical_text() -> None:
    with pytest.raises(ValidationError, match="canonical form"):
        RowFilter(sql="region = 'eu'", columns=frozenset({"region"}))
    with pytest.raises(ValidationError, match="subqueries"):
        RowFilter(sql='"a" IN (SELECT 1)', columns=frozenset({"a"}))
    with pytest.raises(ValidationError, match="column list"):
        RowFilter(sql="\"region\" = 'eu'", columns=frozenset())


def test_bind_quotes_and_qualifies_every_column() -> None:
    f = parse_row_filter("region = 'eu' AND lower(status) IN ('a')", COLUMNS)
    assert f.bind("g").sql(dialect="duckdb") == (
        '"g"."region" = \'eu\' AND LOWER("g"."status") IN (\'a\')'
    )
    assert f.bind().sql(dialect="spark") == "`region` = 'eu' AND LOWER(`status`) IN ('a')"
    assert f.bind('we"ird').sql(dialect="duckdb").startswith('"we""ird"."region"')


def test_bound_filter_round_trips_through_spark_sql() -> None:
    for text, _, _ in ACCEPTED:
        spark = parse_row_filter(text, COLUMNS).bind("t").sql(dialect="spark")
        assert sqlglot.parse_one(spark, read="spark").sql(dialect="spark") == spark


# --------------------------------------------------------------------------- shadowing


@pytest.mark.parametrize("alias", ["t", None])
def test_consumer_names_cannot_shadow_the_filter_columns(
    con: duckdb.DuckDBPyConnection, alias: str | None
) -> None:
    con.execute("CREATE OR REPLACE TABLE s (a BIGINT, secret VARCHAR)")
    con.execute("INSERT INTO s VALUES (1, 'x'), (2, 'y'), (3, 'z')")
    f = parse_row_filter("a >= 2 AND secret <> 'z'", {"a": "int64", "secret": "string"})
    governed = (
        exp.select("*")
        .from_(exp.to_table("s").as_(alias or "s", quoted=True))
        .where(f.bind(alias))
        .subquery("s", copy=False)
    )
    consumer = [
        # CTEs named like the filter's columns and like the table.
        "WITH a AS (SELECT 100 AS a), secret AS (SELECT 'z' AS secret), t AS (SELECT 0 AS a) "
        "SELECT s.a FROM s",
        # An earlier FROM item (DuckDB joins laterally) with the same alias and column names.
        "SELECT s.a FROM (SELECT 100 AS a, 'z' AS secret) AS t, s",
        "SELECT s.a FROM (SELECT 100 AS a, 'z' AS secret) AS s2, s",
    ]
    for sql in consumer:
        query = sqlglot.parse_one(sql, read="duckdb")
        for table in list(query.find_all(exp.Table)):
            if table.name == "s":
                table.replace(governed.copy())
        rows = con.execute(query.sql(dialect="duckdb")).fetchall()
        assert sorted(rows) == [(2,)], sql


# --------------------------------------------------------------------------- union, intersection


FILTERS = [
    "region = 'eu'",
    "amount > 150",
    "flag",
    "status IN ('a', 'b') AND score > 0",
    "country IS NULL",
]


def test_any_of_is_the_union_and_all_of_the_intersection(con: duckdb.DuckDBPyConnection) -> None:
    parsed = [parse_row_filter(t, COLUMNS) for t in FILTERS]
    every = visible(con, None)
    sets = [visible(con, f) for f in parsed]
    for i in range(len(parsed)):
        for j in range(len(parsed)):
            pair = [parsed[i], parsed[j]]
            assert visible(con, any_of(pair)) == sets[i] | sets[j]
            assert visible(con, all_of(pair)) == sets[i] & sets[j]
    assert visible(con, any_of(parsed)) == set().union(*sets)
    assert visible(con, all_of(parsed)) == every.intersection(*sets)
    assert visible(con, any_of([])) == set()
    assert all_of([]) is None


def test_none_means_unfiltered() -> None:
    f = parse_row_filter("region = 'eu'", COLUMNS)
    g = parse_row_filter("amount > 1", COLUMNS)
    assert any_of([f, None, g]) is None
    assert all_of([f, None]) == f
    assert all_of([None, None]) is None
    assert any_of([None]) is None


def test_combining_is_order_free_and_deduplicated() -> None:
    f = parse_row_filter("region = 'eu'", COLUMNS)
    g = parse_row_filter("amount > 1 OR flag", COLUMNS)
    assert any_of([f, g]) == any_of([g, f, g])
    assert all_of([f, g]) == all_of([g, f])
    assert any_of([f, f]) == f
    both = any_of([f, g])
    assert both is not None and both.columns == frozenset({"region", "amount", "flag"})
    assert both.sql == '("amount" > 1 OR "flag") OR "region" = \'eu\''
    nested = all_of([both, parse_row_filter("status = 'a'", COLUMNS)])
    assert nested is not None and parse_row_filter(nested.sql, COLUMNS) == nested


def test_many_grants_combine_without_limits(con: duckdb.DuckDBPyConnection) -> None:
    many = [parse_row_filter(f"amount = {n} OR region = 'r{n}'", COLUMNS) for n in range(300)]
    union = any_of(many)
    assert union is not None and len(union.sql) > MAX_LENGTH
    assert visible(con, union) == {r[0] for r in make_rows() if r[2] is not None and r[2] < 300}


# --------------------------------------------------------------------------- properties

_TOKENS = [
    "region", "amount", "flag", "t.", "'x'", "'", '"', "1", "(", ")", ",", ";", "=", "<", ">",
    "AND", "OR", "NOT", "IN", "IS", "NULL", "SELECT", "FROM", "lower(", "count(", "*", "?",
    ":a", "$1", "@x", "::", "CAST(", "AS", "INT", "CASE", "WHEN", "THEN", "END", "--", "/*",
    "*/", "OVER", "read_csv(", "\\", "||", "[", "]", "{", "}", ".", "é", "\x00", " ",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(st.text(max_size=80), st.lists(st.sampled_from(_TOKENS), max_size=25).map(" ".join))
)
def test_any_text_is_accepted_or_refused_cleanly(text: str) -> None:
    error: InvalidFilter | None = None
    try:
        f = parse_row_filter(text, COLUMNS)
    except InvalidFilter as e:
        error = e
    if error is not None:
        assert "\n" not in str(error)
    else:
        assert parse_row_filter(f.sql, COLUMNS) == f


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


_SAFE_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8
)
_INTS = st.integers(-1000, 1000).map(str)


def _numbers() -> st.SearchStrategy[str]:
    base = st.one_of(st.sampled_from(["amount", "score", '"order"']), _INTS, st.just("2.5"))
    return st.recursive(
        base,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*"]), inner).map(
                lambda t: f"({' '.join(t)})"
            ),
            inner.map(lambda x: f"abs({x})"),
            inner.map(lambda x: f"-({x})"),
            st.tuples(inner, st.integers(0, 3)).map(lambda t: f"round({t[0]}, {t[1]})"),
            st.tuples(inner, _INTS).map(lambda t: f"coalesce({t[0]}, {t[1]})"),
            inner.map(lambda x: f"CAST({x} AS DOUBLE)"),
            _strings_base().map(lambda x: f"length({x})"),
            st.sampled_from(["year(dt)", "extract(month FROM dt)", "day(dt)"]),
        ),
        max_leaves=6,
    )


def _strings_base() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(["region", "status", "country"]), _SAFE_TEXT.map(_lit))


def _strings() -> st.SearchStrategy[str]:
    return st.recursive(
        _strings_base(),
        lambda inner: st.one_of(
            inner.map(lambda x: f"lower({x})"),
            inner.map(lambda x: f"upper(trim({x}))"),
            inner.map(lambda x: f"substr({x}, 1, 2)"),
            inner.map(lambda x: f"right({x}, 2)"),
            st.tuples(inner, inner).map(lambda t: f"({t[0]} || {t[1]})"),
            st.tuples(inner, inner).map(lambda t: f"concat({t[0]}, {t[1]})"),
            st.tuples(inner, inner).map(lambda t: f"coalesce({t[0]}, {t[1]})"),
        ),
        max_leaves=5,
    )


def _predicates() -> st.SearchStrategy[str]:
    cmp = st.sampled_from(["=", "<>", "<", "<=", ">", ">="])
    atom = st.one_of(
        st.tuples(_numbers(), cmp, _numbers()).map(" ".join),
        st.tuples(_strings(), cmp, _strings()).map(" ".join),
        st.tuples(_strings(), st.sampled_from(["LIKE", "ILIKE"]), _SAFE_TEXT.map(_lit)).map(
            " ".join
        ),
        st.tuples(_strings(), st.lists(_SAFE_TEXT.map(_lit), min_size=1, max_size=3)).map(
            lambda t: f"{t[0]} IN ({', '.join(t[1])})"
        ),
        st.tuples(_numbers(), _INTS, _INTS).map(lambda t: f"{t[0]} BETWEEN {t[1]} AND {t[2]}"),
        st.tuples(
            st.one_of(_numbers(), _strings()), st.sampled_from(["IS NULL", "IS NOT NULL"])
        ).map(" ".join),
        st.sampled_from(["flag", "flag IS TRUE", "dt >= DATE '2024-02-01'", "dt < '2024-06-01'"]),
    )
    return st.recursive(
        atom,
        lambda inner: st.one_of(
            inner.map(lambda x: f"NOT ({x})"),
            st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(
                lambda t: f"({' '.join(t)})"
            ),
        ),
        max_leaves=5,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_predicates())
def test_allowlisted_expressions_are_accepted_and_run(
    con: duckdb.DuckDBPyConnection, text: str
) -> None:
    f = parse_row_filter(text, COLUMNS)
    assert parse_row_filter(f.sql, COLUMNS) == f
    # DuckDB binds and plans it (LIMIT 0: values may overflow, which is not our concern).
    query = exp.select("id").from_(exp.to_table("t").as_("t", quoted=True)).where(f.bind("t"))
    con.execute(query.limit(0).sql(dialect="duckdb")).fetchall()
    spark = f.bind("t").sql(dialect="spark")
    assert sqlglot.parse_one(spark, read="spark").sql(dialect="spark") == spark


@settings(max_examples=300, deadline=None)
@given(_SAFE_TEXT)
def test_string_literals_survive_canonical_text_on_duckdb(
    con: duckdb.DuckDBPyConnection, value: str
) -> None:
    f = parse_row_filter(f"region = {_lit(value)}", COLUMNS)
    literal = f.expression().expression
    assert isinstance(literal, exp.Literal) and literal.this == value
    assert con.execute(f"SELECT {literal.sql(dialect='duckdb')}").fetchone() == (value,)
    spark = sqlglot.parse_one(f"SELECT {literal.sql(dialect='spark')}", read="spark")
    assert spark.selects[0].this == value
