"""Masks: each method on DuckDB equals the Python reference; Spark text round-trips."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlglot import exp

from lakemesh.access.masks import (
    HIDDEN,
    METHODS,
    InvalidMask,
    Mask,
    apply_mask,
    mask_expression,
    parse_mask,
    text_of,
)
from lakemesh.errors import InvalidInput

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))

#: column -> (DuckDB type, Arrow type string)
TYPES = {
    "s": ("VARCHAR", "string"),
    "i": ("BIGINT", "int64"),
    "d": ("DOUBLE", "double"),
    "dec": ("DECIMAL(12, 3)", "decimal128(12, 3)"),
    "dt": ("DATE", "date32[day]"),
    "ts": ("TIMESTAMP", "timestamp[us]"),
    "b": ("BOOLEAN", "bool"),
}
ROWS = 300
ALPHABET = "abcXYZ019 -_'\"\\%*;éßøΩжこんに👍🏽\u0301\t"


def make_rows() -> list[tuple[Any, ...]]:
    rng = random.Random(11)
    floats = [0.0, -0.0, 1.5, -2.25, 1e20, 1e16, 1e15, 1.5e-7, 0.1, math.inf, -math.inf]
    rows: list[tuple[Any, ...]] = []
    for n in range(ROWS):
        null = rng.random() < 0.15
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 12)))
        rows.append(
            (
                n,
                None if null else text,
                None
                if null
                else rng.choice([0, 7, -42, 12345, 2**63 - 1, -(2**63), rng.randrange(10**9)]),
                None if null else rng.choice([*floats, rng.uniform(-1e6, 1e6)]),
                None if null else Decimal(rng.randrange(-(10**9), 10**9)) / 1000,
                None if null else date(1970, 1, 1) + timedelta(days=rng.randrange(30000)),
                None
                if null
                else datetime(2024, 1, 1) + timedelta(microseconds=rng.randrange(10**13)),
                None if null else rng.random() < 0.5,
            )
        )
    rows.append(
        (ROWS, "", 0, float("nan"), Decimal("0.000"), date(2024, 2, 29), datetime(2024, 1, 1), True)
    )
    return rows


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    columns = ", ".join(f"{name} {sql}" for name, (sql, _) in TYPES.items())
    c.execute(f"CREATE TABLE t (id BIGINT, {columns})")
    c.executemany(f"INSERT INTO t VALUES ({', '.join('?' * (len(TYPES) + 1))})", make_rows())
    yield c
    c.close()


def run(con: duckdb.DuckDBPyConnection, select: exp.Expr) -> list[Any]:
    sql = exp.select(select).from_("t").order_by("id").sql(dialect="duckdb")
    return [r[0] for r in con.execute(sql).fetchall()]


def same(a: Any, b: Any) -> bool:
    return a == b or (
        isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    )


# --------------------------------------------------------------------------- parsing


def test_method_names_are_case_insensitive() -> None:
    for method in METHODS:
        assert parse_mask(f"  {method.upper()} ") == Mask(method=method)  # type: ignore[arg-type]


def test_custom_masks_are_stored_canonical() -> None:
    m = parse_mask("concat(substr(VALUE, 1, 2), '***') -- keep the prefix")
    assert m == Mask(method="custom", sql="CONCAT(SUBSTRING(\"value\", 1, 2), '***')")
    assert parse_mask(m.sql or "") == m
    assert Mask.model_validate_json(m.model_dump_json()) == m


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("value || (SELECT secret FROM t)", "subqueries are not allowed"),
        ("read_text('x')", "function read_text is not allowed"),
        ("\"read_text\"('x')", "function read_text is not allowed"),
        ("ssn", "unknown column 'ssn'"),
        ("concat(value, other)", "unknown column 'other'"),
        ("t.value", "qualified column references are not allowed"),
        ("value; DROP TABLE t", "';' and multiple statements are not allowed"),
        ("current_setting('s3_secret_access_key')", "function current_setting is not allowed"),
        ("getvariable('k')", "function getvariable is not allowed"),
        ("md5(value)", "function md5 is not allowed"),
        ("max(value)", "aggregate functions are not allowed"),
        ("value || ?", "parameters and placeholders are not allowed"),
        ("random()", "function rand is not allowed"),
        ("", "empty"),
        ("SELECT value", "statements are not allowed"),
        ("'x' || '" + "y" * 5000 + "'", "longer than"),
    ],
)
def test_hostile_custom_masks_are_refused(spec: str, reason: str) -> None:
    with pytest.raises(InvalidMask) as info:
        parse_mask(spec)
    assert str(info.value).startswith("mask: ")
    assert reason in str(info.value)
    assert isinstance(info.value, InvalidInput)


def test_a_mask_only_holds_validated_text() -> None:
    with pytest.raises(ValidationError):
        Mask(method="custom")
    with pytest.raises(ValidationError):
        Mask(method="hash", sql='"value"')
    with pytest.raises(ValidationError, match="canonical"):
        Mask(method="custom", sql="value")
    with pytest.raises(ValidationError, match="read_text"):
        Mask(method="custom", sql="READ_TEXT('x')")
    with pytest.raises(ValidationError):
        Mask(method="shuffle")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- differential, DuckDB


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("column", list(TYPES))
def test_duckdb_equals_the_python_reference(
    con: duckdb.DuckDBPyConnection, method: str, column: str
) -> None:
    mask = parse_mask(method)
    expr = mask_expression(mask, column, TYPES[column][1], hash_key=KEY, dialect="duckdb")
    got = run(con, expr)
    raw = run(con, exp.column(column))
    want = [apply_mask(mask, v, hash_key=KEY) for v in raw]
    assert len(got) == ROWS + 1
    assert all(same(g, w) for g, w in zip(got, want, strict=True)), [
        (r, g, w) for r, g, w in zip(raw, got, want, strict=True) if not same(g, w)
    ][:5]


def test_the_masked_column_keeps_its_name_and_sensible_type(con: duckdb.DuckDBPyConnection) -> None:
    for method, column, sql_type in [
        ("hash", "i", "VARCHAR"),
        ("last4", "d", "VARCHAR"),
        ("redact", "s", "VARCHAR"),
        ("redact", "i", "BIGINT"),
        ("redact", "dec", "DECIMAL(12,3)"),
        ("null", "ts", "TIMESTAMP"),
        ("null", "b", "BOOLEAN"),
    ]:
        expr = mask_expression(
            parse_mask(method), column, TYPES[column][1], hash_key=KEY, dialect="duckdb"
        )
        rel = con.sql(exp.select(expr).from_("t").sql(dialect="duckdb"))
        assert rel.columns == [column]
        assert str(rel.types[0]) == sql_type, (method, column)


def test_hash_is_keyed_and_deterministic(con: duckdb.DuckDBPyConnection) -> None:
    mask = parse_mask("hash")
    one = run(con, mask_expression(mask, "s", "string", hash_key=KEY, dialect="duckdb"))
    again = run(con, mask_expression(mask, "s", "string", hash_key=KEY, dialect="duckdb"))
    other = run(con, mask_expression(mask, "s", "string", hash_key=OTHER_KEY, dialect="duckdb"))
    raw = run(con, exp.column("s"))
    assert one == again
    assert all((a is None) == (r is None) for a, r in zip(one, raw, strict=True))
    assert all(a != b for a, b in zip(one, other, strict=True) if a is not None)
    unkeyed = {hashlib.sha256(r.encode()).hexdigest() for r in raw if r is not None}
    assert not unkeyed & set(one)
    # Equal inputs hash equally, so a join on a masked key still matches.
    assert len({h for h in one if h}) == len({r for r in raw if r is not None})


def test_last4_never_shows_a_short_value_whole() -> None:
    last4 = parse_mask("last4")
    assert apply_mask(last4, "1234", hash_key=KEY) == HIDDEN
    assert apply_mask(last4, "12345", hash_key=KEY) == HIDDEN + "2345"
    assert apply_mask(last4, 12345678, hash_key=KEY) == HIDDEN + "5678"
    assert apply_mask(last4, "ab👍🏽cd", hash_key=KEY) == HIDDEN + "👍🏽cd"


def test_custom_mask_equals_its_expression_run_on_the_column(
    con: duckdb.DuckDBPyConnection,
) -> None:
    mask = parse_mask("concat(substr(value, 1, 2), '***')")
    got = run(con, mask_expression(mask, "s", "string", hash_key=KEY, dialect="duckdb"))
    raw = run(con, exp.column("s"))
    assert got == [None if v is None else v[:2] + "***" for v in raw]
    with pytest.raises(NotImplementedError):
        apply_mask(mask, "x", hash_key=KEY)


def test_odd_column_names_and_table_aliases_are_quoted(con: duckdb.DuckDBPyConnection) -> None:
    con.execute('CREATE OR REPLACE TABLE odd ("we""ird" VARCHAR, "value" VARCHAR)')
    con.execute("INSERT INTO odd VALUES ('secret-1234', 'v')")
    for spec in [*METHODS, "upper(value)"]:
        mask = parse_mask(spec)
        expr = mask_expression(mask, 'we"ird', "string", hash_key=KEY, dialect="duckdb", table="o")
        rel = con.sql(exp.select(expr).from_(exp.to_table("odd").as_("o")).sql(dialect="duckdb"))
        assert rel.columns == ['we"ird']
        assert rel.fetchall()[0][0] != "secret-1234"


# --------------------------------------------------------------------------- Spark text


@pytest.mark.parametrize("spec", [*METHODS, "concat(substr(value, 1, 2), '***')"])
@pytest.mark.parametrize("column", list(TYPES))
def test_spark_sql_round_trips(spec: str, column: str) -> None:
    expr = mask_expression(
        parse_mask(spec), column, TYPES[column][1], hash_key=KEY, dialect="spark"
    )
    spark = expr.sql(dialect="spark")
    assert sqlglot.parse_one(spark, read="spark").sql(dialect="spark") == spark
    assert spark.endswith(f" AS `{column}`")
    if spec == "hash":
        assert "SHA2(" in spark and ", 256)" in spark
        assert KEY.hex() in spark


def test_unknown_engine_and_short_keys_are_refused() -> None:
    with pytest.raises(InvalidMask, match="engine"):
        mask_expression(parse_mask("null"), "s", "string", hash_key=KEY, dialect="sqlite")
    with pytest.raises(InvalidMask, match="16 bytes"):
        mask_expression(parse_mask("hash"), "s", "string", hash_key=b"short", dialect="duckdb")
    with pytest.raises(InvalidMask, match="16 bytes"):
        apply_mask(parse_mask("hash"), "x", hash_key=b"short")


@pytest.mark.parametrize(
    ("arrow", "sql"),
    [
        ("uint64", "CAST(NULL AS DECIMAL(20, 0))"),
        ("timestamp[ms, tz=UTC]", "CAST(NULL AS TIMESTAMPTZ)"),
        ("decimal128(10, 2)", "CAST(NULL AS DECIMAL(10, 2))"),
        ("date32[day]", "CAST(NULL AS DATE)"),
        ("list<item: string>", "NULL"),
        ("struct<a: int64>", "NULL"),
    ],
)
def test_null_keeps_the_column_type_where_portable(arrow: str, sql: str) -> None:
    expr = mask_expression(parse_mask("null"), "c", arrow, hash_key=KEY, dialect="duckdb")
    assert expr.sql(dialect="duckdb") == f'{sql} AS "c"'


def test_reference_text_forms() -> None:
    assert text_of(True) == "true"
    assert text_of(1e20) == "1e+20"
    assert text_of(-math.inf) == "-inf"
    assert text_of(Decimal("1E-7")) == "0.0000001"
    assert text_of(datetime(2024, 1, 2, 3, 4, 5, 120000)) == "2024-01-02 03:04:05.12"
    with pytest.raises(TypeError):
        text_of(b"raw")


# --------------------------------------------------------------------------- properties

_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


@settings(max_examples=200, deadline=None)
@given(_TEXT, st.sampled_from(METHODS))
def test_duckdb_matches_the_reference_for_any_text(
    con: duckdb.DuckDBPyConnection, value: str, method: str
) -> None:
    mask = parse_mask(method)
    expr = mask_expression(mask, "x", "string", hash_key=KEY, dialect="duckdb")
    sql = exp.select(expr).from_(exp.select(exp.Literal.string(value).as_("x")).subquery())
    assert con.execute(sql.sql(dialect="duckdb")).fetchone() == (
        apply_mask(mask, value, hash_key=KEY),
    )


@settings(max_examples=300, deadline=None)
@given(_TEXT.filter(lambda v: len(v) > 4 and not v.startswith("*")), st.sampled_from(METHODS))
def test_a_masked_value_never_appears_raw(value: str, method: str) -> None:
    masked = apply_mask(parse_mask(method), value, hash_key=KEY)
    assert masked != value
    assert masked is None or value not in masked
