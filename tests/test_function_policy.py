"""The function policy is complete: every function an engine offers is classified.

An engine upgrade that adds a function makes these tests fail until someone decides
whether it is pure (allow) or reaches past the row (deny, with a reason). Classified
names the engine no longer offers fail too, so the table never drifts from the engine.
"""

from __future__ import annotations

import duckdb
import pytest

from lakemesh.engines.functions import REASONS, FunctionRefused, policy


def _duckdb_offers() -> tuple[set[str], set[str]]:
    con = duckdb.connect()
    rows = con.sql(
        "SELECT function_name, function_type FROM duckdb_functions() GROUP BY ALL"
    ).fetchall()
    tables = {n for n, t in rows if t in ("table", "table_macro", "pragma")}
    functions = {n for n, t in rows if t not in ("table", "table_macro", "pragma")}
    return functions, tables


def test_every_duckdb_function_is_classified() -> None:
    functions, tables = _duckdb_offers()
    classified = policy("duckdb")
    assert sorted(functions - classified.functions.keys()) == []
    assert sorted(tables - classified.tables.keys()) == []
    assert sorted(classified.functions.keys() - functions) == []
    assert sorted(classified.tables.keys() - tables) == []


@pytest.mark.spark
def test_every_spark_function_is_classified() -> None:
    from lakemesh.engines.spark import spark_session

    offered = {f.name for f in spark_session().catalog.listFunctions()}
    classified = policy("spark")
    known = classified.functions.keys() | classified.tables.keys()
    assert sorted(offered - known) == []
    assert sorted(known - offered) == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("read_text", "reads files or the network"),
        ("glob", "reads files or the network"),
        ("current_setting", "reads settings or engine state"),
        ("getvariable", "reads settings or engine state"),
        ("version", "reads settings or engine state"),
        ("stats", "exposes engine internals"),
        ("pg_get_viewdef", "reads the catalog"),
        ("nextval", "has side effects"),
        ("error", "has side effects"),
        ("sleep_ms", "sleeps"),
        ("json_serialize_sql", "runs SQL text"),
        ("range", "generates data without bound"),
    ],
)
def test_duckdb_denials_name_their_reason(name: str, reason: str) -> None:
    with pytest.raises(FunctionRefused, match=f"^function {name} is not allowed: it {reason}$"):
        policy("duckdb").check(name)


@pytest.mark.parametrize(
    "name",
    [
        "date_diff",
        "date_part",
        "strftime",
        "make_date",
        "current_date",
        "regexp_matches",
        "regexp_replace",
        "split_part",
        "concat_ws",
        "lpad",
        "count_if",
        "any_value",
        "arg_max",
        "quantile_cont",
        "median",
        "mode",
        "stddev_samp",
        "corr",
        "ntile",
        "percent_rank",
        "md5",
        "json_extract_string",
        "list_transform",
        "struct_extract",
        "map_keys",
    ],
)
def test_everyday_duckdb_functions_are_allowed(name: str) -> None:
    policy("duckdb").check(name)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("reflect", "calls Java code"),
        ("java_method", "calls Java code"),
        ("input_file_name", "reads files or the network"),
        ("xpath_string", "reads files or the network"),
        ("current_user", "reads settings or engine state"),
        ("raise_error", "has side effects"),
    ],
)
def test_spark_denials_name_their_reason(name: str, reason: str) -> None:
    with pytest.raises(FunctionRefused, match=f"^function {name} is not allowed: it {reason}$"):
        policy("spark").check(name)


def test_unknown_functions_and_table_functions() -> None:
    with pytest.raises(FunctionRefused, match="does not exist on the duckdb engine"):
        policy("duckdb").check("no_such_thing")
    with pytest.raises(FunctionRefused, match=r"^table function read_parquet is not allowed"):
        policy("duckdb").check_table("read_parquet")
    with pytest.raises(FunctionRefused, match=r"^table function nope is not allowed"):
        policy("duckdb").check_table("nope")
    policy("duckdb").check_table("unnest")


def test_every_denial_has_a_known_reason() -> None:
    for engine in ("duckdb", "spark"):
        counts = policy(engine).counts()
        assert counts["allowed"] > 500
        reasons = {k.removeprefix("denied: ") for k in counts if k != "allowed"}
        assert reasons <= REASONS
