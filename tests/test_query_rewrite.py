"""The governed query planner (parse -> validate -> rewrite), tested by result on DuckDB.

Each relation of a plan is installed as a temporary view over a raw table, the rewritten
query runs against those views, and results are compared with the raw data filtered and
masked by hand: hidden rows, hidden columns and raw masked values must never show.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

import duckdb
import pytest
from sqlglot import exp

from lakemesh.access.authorizer import Decision, Permit
from lakemesh.access.snapshot import MaskRule
from lakemesh.query import GovernedRelation, Plan, QueryRefused, plan_query

KEY = b"k" * 16
PRINCIPAL = "ann@sales"

PEOPLE = "hr.core.people"
ORDERS = "sales.core.orders"
SECRET = "hr.core.secret"

RAW = {PEOPLE: "raw_people", ORDERS: "raw_orders", SECRET: "raw_secret"}
TYPES: dict[str, dict[str, str]] = {
    PEOPLE: {"id": "int64", "name": "string", "ssn": "string", "region": "string"},
    ORDERS: {"id": "int64", "person_id": "int64", "amount": "int64", "ssn_ref": "string"},
    SECRET: {"x": "int64"},
}
PEOPLE_ROWS = [
    (1, "ann", "111-11-1111", "eu"),
    (2, "bob", "122-22-2222", "us"),
    (3, "cyd", "133-33-3333", "eu"),
    (4, "dan", "144-44-4444", "apac"),
]
ORDER_ROWS = [
    (10, 1, 100, "111-11-1111"),
    (11, 2, 200, "122-22-2222"),
    (12, 3, 300, "133-33-3333"),
    (13, 4, 400, "144-44-4444"),
]


def permit(columns: str, row_filter: str | None = None) -> Permit:
    return Permit(frozenset(columns.split()), row_filter, ("g",))


def mask(table: str, column: str, method: str, expression: str | None = None) -> MaskRule:
    return MaskRule("m1", "column", f"{table}.{column}", method, expression)


class Policy:
    """A fake gate: table -> permits and masks; anything else is denied."""

    def __init__(self, **tables: tuple[list[Permit], dict[str, MaskRule]]) -> None:
        self.tables = {_central(k): v for k, v in tables.items()}
        self.calls: list[str] = []

    def decide(self, table: str) -> Decision:
        self.calls.append(table)
        if table not in self.tables:
            return Decision(False, PRINCIPAL, "SELECT", table, missing="no grant")
        permits, masks = self.tables[table]
        visible = frozenset().union(*(p.columns for p in permits))
        columns = tuple(c for c in TYPES[table] if c in visible)
        return Decision(
            True,
            PRINCIPAL,
            "SELECT",
            table,
            columns,
            tuple(permits),
            MappingProxyType(masks),
        )


def _central(key: str) -> str:
    return {"people": PEOPLE, "orders": ORDERS, "secret": SECRET}[key]


def resolve(parts: list[str]) -> str | None:
    for central in RAW:
        if tuple(parts) == tuple(central.split("."))[-len(parts) :]:
            return central
    return None


def plan(sql: str, policy: Policy) -> Plan:
    return plan_query(
        sql,
        principal=PRINCIPAL,
        decide=policy.decide,
        resolve=resolve,
        column_types=lambda t: TYPES[t],
        hash_key=KEY,
    )


def raw_db() -> duckdb.DuckDBPyConnection:
    """An in-memory database holding the raw tables the relations are installed over."""
    c = duckdb.connect(":memory:")
    c.execute("CREATE TABLE raw_people (id BIGINT, name VARCHAR, ssn VARCHAR, region VARCHAR)")
    c.executemany("INSERT INTO raw_people VALUES (?, ?, ?, ?)", PEOPLE_ROWS)
    c.execute(
        "CREATE TABLE raw_orders (id BIGINT, person_id BIGINT, amount BIGINT, ssn_ref VARCHAR)"
    )
    c.executemany("INSERT INTO raw_orders VALUES (?, ?, ?, ?)", ORDER_ROWS)
    c.execute("CREATE TABLE raw_secret (x BIGINT)")
    c.execute("INSERT INTO raw_secret VALUES (42)")
    return c


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    c = raw_db()
    yield c
    c.close()


def install(con: duckdb.DuckDBPyConnection, relation: GovernedRelation) -> None:
    body = relation.over(exp.to_table(RAW[relation.table])).sql("duckdb")
    name = exp.to_identifier(relation.alias, quoted=True).sql("duckdb")
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {body}")


def run(
    con: duckdb.DuckDBPyConnection, sql: str, policy: Policy
) -> tuple[list[str], list[tuple[Any, ...]]]:
    p = plan(sql, policy)
    for relation in p.relations:
        install(con, relation)
    cur = con.execute(p.sql.sql("duckdb"))
    return [d[0] for d in cur.description], cur.fetchall()


def refused(sql: str, policy: Policy | None = None) -> str:
    with pytest.raises(QueryRefused) as info:
        plan(sql, policy or everything())
    return str(info.value)


def everything() -> Policy:
    return Policy(
        people=([permit("id name ssn region")], {}),
        orders=([permit("id person_id amount ssn_ref")], {}),
    )


def last4(value: str) -> str:
    return "****" + value[-4:]


# --------------------------------------------------------------------------- results


def test_plain_select(con: duckdb.DuckDBPyConnection) -> None:
    cols, rows = run(con, "SELECT id, name FROM people ORDER BY id", everything())
    assert cols == ["id", "name"]
    assert rows == [(r[0], r[1]) for r in PEOPLE_ROWS]


def test_plan_shape() -> None:
    policy = everything()
    p = plan("SELECT p.id FROM hr.core.people p JOIN people q ON p.id = q.id", policy)
    assert p.tables == (PEOPLE,)
    assert policy.calls == [PEOPLE]  # one decision per distinct table
    (rel,) = p.relations
    assert rel.alias == "__lm_rel_0"
    assert rel.table == PEOPLE
    assert rel.columns == ("id", "name", "ssn", "region")
    sql = p.sql.sql("duckdb")
    assert '"__lm_rel_0" AS "p"' in sql
    assert '"__lm_rel_0" AS "q"' in sql
    assert "hr" not in sql.replace('"__lm_rel_0"', "")


def test_star_expands_to_permitted_columns_only(con: duckdb.DuckDBPyConnection) -> None:
    policy = Policy(people=([permit("id name")], {}))
    cols, rows = run(con, "SELECT * FROM people ORDER BY id", policy)
    assert cols == ["id", "name"]
    assert rows == [(r[0], r[1]) for r in PEOPLE_ROWS]
    cols, _ = run(con, "SELECT * EXCLUDE (name) FROM people", policy)
    assert cols == ["id"]
    cols, _ = run(con, "SELECT p.* FROM people AS p", policy)
    assert cols == ["id", "name"]


def test_masked_column_is_masked_in_where_join_and_group_by(
    con: duckdb.DuckDBPyConnection,
) -> None:
    policy = Policy(
        people=([permit("id name ssn region")], {"ssn": mask(PEOPLE, "ssn", "last4")}),
        orders=([permit("id person_id amount ssn_ref")], {}),
    )
    # WHERE sees the masked value: raw SSNs all start with '1', masked ones with '*'.
    _, rows = run(con, "SELECT id FROM people WHERE ssn LIKE '1%'", policy)
    assert rows == []
    _, rows = run(con, "SELECT count(*) FROM people WHERE ssn LIKE '****%'", policy)
    assert rows == [(4,)]
    # JOIN on the masked column never matches the raw values of another table.
    _, rows = run(con, "SELECT o.id FROM people p JOIN orders o ON p.ssn = o.ssn_ref", policy)
    assert rows == []
    # GROUP BY and aggregates see masked values only.
    _, rows = run(con, "SELECT ssn, count(*) FROM people GROUP BY ssn ORDER BY ssn", policy)
    assert rows == sorted((last4(r[2]), 1) for r in PEOPLE_ROWS)
    _, rows = run(con, "SELECT max(ssn), min(length(ssn)) FROM people", policy)
    assert rows == [(max(last4(r[2]) for r in PEOPLE_ROWS), 8)]


def test_hash_mask_is_keyed_sha256(con: duckdb.DuckDBPyConnection) -> None:
    policy = Policy(people=([permit("id ssn")], {"ssn": mask(PEOPLE, "ssn", "hash")}))
    _, rows = run(con, "SELECT ssn FROM people WHERE id = 1", policy)
    expected = hashlib.sha256((KEY.hex() + "111-11-1111").encode()).hexdigest()
    assert rows == [(expected,)]


def test_custom_mask(con: duckdb.DuckDBPyConnection) -> None:
    policy = Policy(
        people=([permit("id name")], {"name": mask(PEOPLE, "name", "custom", 'UPPER("value")')})
    )
    _, rows = run(con, "SELECT name FROM people WHERE name = 'ann'", policy)
    assert rows == []
    _, rows = run(con, "SELECT name FROM people WHERE name = 'ANN'", policy)
    assert rows == [("ANN",)]


def test_row_filter_applies_inside_the_relation(con: duckdb.DuckDBPyConnection) -> None:
    policy = Policy(people=([permit("id name", "\"region\" = 'eu'")], {}))
    _, rows = run(con, "SELECT count(*), min(id), max(id) FROM people", policy)
    assert rows == [(2, 1, 3)]
    # The filter column is not even visible, yet it still filters.
    assert refused("SELECT region FROM people", policy) == "column region is not available"
    # An outer OR cannot widen the relation: hidden rows are not there to match.
    _, rows = run(con, "SELECT id FROM people WHERE id = 2 OR TRUE ORDER BY id", policy)
    assert rows == [(1,), (3,)]
    # Nor can a correlated subquery or a self join.
    _, rows = run(
        con,
        "SELECT count(*) FROM people a, people b WHERE a.id <> b.id",
        policy,
    )
    assert rows == [(2,)]


def test_cell_level_union_of_two_permits(con: duckdb.DuckDBPyConnection) -> None:
    policy = Policy(
        people=(
            [
                permit("id name", "\"region\" = 'eu'"),
                permit("id ssn", "\"region\" = 'us'"),
            ],
            {},
        )
    )
    cols, rows = run(con, "SELECT * FROM people ORDER BY id", policy)
    assert cols == ["id", "name", "ssn"]
    assert rows == [
        (1, "ann", None),
        (2, None, "122-22-2222"),
        (3, "cyd", None),
    ]
    # A WHERE on a cell-level column sees NULL where the cell is hidden.
    _, rows = run(con, "SELECT id FROM people WHERE ssn LIKE '1%' ORDER BY id", policy)
    assert rows == [(2,)]


def test_unfiltered_permit_shows_its_columns_in_every_row(
    con: duckdb.DuckDBPyConnection,
) -> None:
    policy = Policy(
        people=([permit("id"), permit("id name", "\"region\" = 'us'")], {}),
    )
    _, rows = run(con, "SELECT id, name FROM people ORDER BY id", policy)
    assert rows == [(1, None), (2, "bob"), (3, None), (4, None)]


def test_identical_filters_need_no_case(con: duckdb.DuckDBPyConnection) -> None:
    flt = "\"region\" = 'eu'"
    policy = Policy(people=([permit("id", flt), permit("name", flt)], {}))
    p = plan("SELECT * FROM people", policy)
    assert not list(p.relations[0].select.find_all(exp.Case))
    _, rows = run(con, "SELECT * FROM people ORDER BY id", policy)
    assert rows == [(1, "ann"), (3, "cyd")]


def test_cte_shadowing_a_table_name_is_not_governed(con: duckdb.DuckDBPyConnection) -> None:
    p = plan("WITH secret AS (SELECT 1 AS x) SELECT x FROM secret", everything())
    assert p.relations == ()
    assert p.tables == ()
    # A CTE named like an ungranted table, over a granted one.
    _, rows = run(
        con, "WITH secret AS (SELECT id FROM people) SELECT count(*) FROM secret", everything()
    )
    assert rows == [(4,)]


def test_cte_body_referencing_its_own_name_reads_the_governed_table(
    con: duckdb.DuckDBPyConnection,
) -> None:
    policy = Policy(people=([permit("id", "\"region\" = 'eu'")], {}))
    _, rows = run(
        con, "WITH people AS (SELECT * FROM people WHERE id > 1) SELECT * FROM people", policy
    )
    assert rows == [(3,)]


def test_cte_scope_does_not_leak_out_of_a_subquery() -> None:
    sql = "SELECT * FROM (WITH secret AS (SELECT 1 AS x) SELECT x FROM secret) s, secret"
    assert refused(sql) == "table secret does not exist or you may not read it"
    # A later CTE cannot be referenced by an earlier one (non-recursive).
    sql = "WITH a AS (SELECT * FROM secret), secret AS (SELECT 1 AS x) SELECT * FROM a"
    assert refused(sql) == "table secret does not exist or you may not read it"


def test_cte_named_like_the_internal_alias_is_refused() -> None:
    sql = "WITH __lm_rel_0 AS (SELECT 1 AS id) SELECT * FROM people, __lm_rel_0"
    assert "reserved" in refused(sql)
    assert "reserved" in refused('SELECT * FROM people AS "__LM_SOURCE"')


def test_unknown_and_denied_look_the_same() -> None:
    denied = refused("SELECT * FROM secret")
    unknown = refused("SELECT * FROM nowhere")
    assert denied == "table secret does not exist or you may not read it"
    assert unknown == "table nowhere does not exist or you may not read it"


def test_three_part_names_and_qualified_columns(con: duckdb.DuckDBPyConnection) -> None:
    _, rows = run(
        con,
        "SELECT hr.core.people.name FROM hr.core.people WHERE core.people.id = 2",
        everything(),
    )
    assert rows == [("bob",)]


def test_set_operations_and_windows(con: duckdb.DuckDBPyConnection) -> None:
    policy = Policy(
        people=([permit("id", "\"region\" = 'eu'")], {}),
        orders=([permit("id person_id")], {}),
    )
    _, rows = run(
        con,
        "SELECT id FROM people UNION ALL SELECT person_id FROM orders ORDER BY 1",
        policy,
    )
    assert rows == [(1,), (1,), (2,), (3,), (3,), (4,)]
    _, rows = run(
        con,
        "SELECT id, row_number() OVER (ORDER BY id DESC) AS n FROM people ORDER BY id",
        policy,
    )
    assert rows == [(1, 2), (3, 1)]
    _, rows = run(
        con,
        "SELECT person_id FROM orders WHERE person_id IN (SELECT id FROM people) "
        "AND EXISTS (SELECT 1 FROM people p WHERE p.id = orders.person_id) ORDER BY 1",
        policy,
    )
    assert rows == [(1,), (3,)]


# --------------------------------------------------------------------------- refusals

REFUSALS = [
    # statements and stacking
    ("SELECT 1; SELECT * FROM secret", "multiple statements"),
    ("SELECT * FROM people; DROP TABLE x", "multiple statements"),
    ("DROP TABLE people", "only SELECT"),
    ("CREATE TABLE x AS SELECT * FROM people", "only SELECT"),
    ("INSERT INTO people VALUES (1)", "only SELECT"),
    ("UPDATE people SET name = 'x'", "only SELECT"),
    ("DELETE FROM people", "only SELECT"),
    ("EXPLAIN SELECT * FROM people", "only SELECT"),
    ("PRAGMA version", "only SELECT"),
    ("SET memory_limit = '1GB'", "only SELECT"),
    ("ATTACH 'x.db' AS x", "only SELECT"),
    ("COPY people TO 'x.csv'", "only SELECT"),
    ("INSTALL httpfs", "only SELECT"),
    ("LOAD httpfs", "only SELECT"),
    ("DESCRIBE people", "only SELECT"),
    ("SUMMARIZE people", "only SELECT"),
    ("SHOW TABLES", "only SELECT"),
    ("", "empty"),
    ("SELECT FROM WHERE (", "syntax error"),
    # table functions, files, paths
    ("SELECT * FROM read_parquet('/x.parquet')", "table function"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "table function"),
    ("SELECT * FROM query_table('people')", "table function"),
    ("SELECT * FROM query('SELECT 1')", "table function"),
    ("SELECT * FROM glob('/*')", "table function"),
    ("SELECT * FROM duckdb_settings()", "table function"),
    ("SELECT * FROM '/etc/passwd'", "not a table name"),
    ("SELECT * FROM 'people.parquet'", "not a table name"),
    ('SELECT * FROM "/x.parquet"', "not a table name"),
    ('SELECT * FROM "s3://bucket/x"', "not a table name"),
    ("SELECT * FROM people JOIN '/x.csv' ON TRUE", "not a table name"),
    ("SELECT * FROM people TABLESAMPLE 10%", "TABLESAMPLE"),
    ("SELECT * FROM people USING SAMPLE 10", "TABLESAMPLE"),
    # catalog internals never resolve
    ("SELECT * FROM information_schema.tables", "does not exist"),
    ("SELECT * FROM pg_catalog.pg_class", "does not exist"),
    ("SELECT * FROM duckdb_tables", "does not exist"),
    ("SELECT * FROM sqlite_master", "does not exist"),
    # functions
    ("SELECT stats(id) FROM people", "function stats"),
    ("SELECT current_setting('allowed_paths')", "function current_setting"),
    ("SELECT getvariable('x')", "function getvariable"),
    ("SELECT getenv('HOME')", "function getenv"),
    ("SELECT read_text('/etc/passwd')", "function read_text"),
    ("SELECT \"read_text\"('/etc/passwd')", "function read_text"),
    ("SELECT error('boom')", "function error"),
    ("SELECT nextval('s')", "function nextval"),
    ("SELECT duckdb_version()", "function duckdb_version"),
    ("SELECT version()", "not allowed"),
    ("SELECT current_user", "not allowed"),
    ("SELECT sum(id) OVER () FROM people QUALIFY error('x')", "function error"),
    # columns
    ("SELECT rowid FROM people", "column rowid is not available"),
    # parameters, INTO, locks
    ("SELECT $1", "parameters"),
    ("SELECT * FROM people WHERE id = ?", "parameters"),
    ("SELECT * INTO x FROM people", "INTO"),
    ("SELECT * FROM people FOR UPDATE", "locking"),
    ("SELECT * FROM people AT (VERSION => 1)", "time travel"),
    ("SELECT * FROM range(10)", "table function range"),
    ("SELECT generate_series(1, 10)", "generates data without bound"),
    ("SELECT main.upper(name) FROM people", "qualified function names"),
    ("SELECT no_such_function(1)", "does not exist on the duckdb engine"),
    ("PIVOT people ON region USING count(*)", "PIVOT needs the values"),
    ("SELECT CAST(id AS my_enum) FROM people", "type"),
    ("SELECT * FROM people, LATERAL read_csv('/x')", "function read_csv is not allowed"),
]

#: Everyday analyst SQL the function policy and the structure allowlist let through.
ALLOWED_SQL = [
    "SELECT * FROM (VALUES (1)) v(a)",
    "SELECT * FROM unnest([1, 2])",
    "SELECT * FROM people, LATERAL (SELECT 1)",
    "SELECT * FROM people PIVOT (count(*) FOR region IN ('eu'))",
    "PIVOT people ON region IN ('eu', 'us') USING count(*)",
    "SELECT p.name, p.name.x FROM people p",
    "SELECT regexp_matches(name, 'a') FROM people",
    "SELECT list_transform([1], x -> x + 1)",
    "SELECT COLUMNS(*) FROM people",
    "SELECT COLUMNS('n.*') FROM people",
    "SELECT CAST(id AS BLOB) FROM people",
    "SELECT DISTINCT ON (region) region, name FROM people ORDER BY region, name",
    "SELECT region, count(*) FROM people GROUP BY ROLLUP (region)",
    "SELECT region, count(*) FROM people GROUP BY CUBE (region, name)",
    "SELECT region, count(*) FROM people GROUP BY GROUPING SETS ((region), ())",
    "SELECT * REPLACE (upper(name) AS name) FROM people",
    "SELECT date_diff('day', DATE '2020-01-01', current_date), strftime(now(), '%Y')",
    "SELECT name ~ '^a', name SIMILAR TO 'a.*', split_part(name, ' ', 1) FROM people",
    "SELECT median(id), quantile_cont(id, 0.9), mode(region), corr(id, id) FROM people",
    "SELECT ntile(4) OVER (ORDER BY id), percent_rank() OVER (ORDER BY id) FROM people",
    "SELECT [1, 2][1], {'a': 1}.a, {'a': 1}['a'], md5(name) FROM people",
]


@pytest.mark.parametrize("sql", ALLOWED_SQL)
def test_everyday_sql_is_planned(sql: str) -> None:
    assert plan(sql, everything()).relations is not None


@pytest.mark.parametrize(("sql", "reason"), REFUSALS)
def test_refused(sql: str, reason: str) -> None:
    assert reason in refused(sql)


HIDDEN = [
    "SELECT ssn FROM people",
    "SELECT p.ssn FROM people p",
    "SELECT id FROM people WHERE ssn = '1'",
    "SELECT id FROM people ORDER BY ssn",
    "SELECT count(*) FROM people GROUP BY region",
    "SELECT id FROM people p JOIN orders o ON p.ssn = o.ssn_ref",
    "SELECT * EXCLUDE (ssn) FROM people",
    "SELECT p.ssn.x FROM people p",
    "SELECT p.ssn['x'] FROM people p",
    "SELECT hr.core.people.ssn FROM hr.core.people",
    "SELECT id FROM people WHERE EXISTS (SELECT 1 FROM people q WHERE q.ssn = 'x')",
]


@pytest.mark.parametrize("sql", HIDDEN)
def test_hidden_columns_are_refused(sql: str) -> None:
    policy = Policy(
        people=([permit("id name")], {}),
        orders=([permit("id person_id ssn_ref")], {}),
    )
    reason = refused(sql, policy)
    assert reason.startswith("column ") and reason.endswith(" is not available")


UNGRANTED = [
    "SELECT id FROM people UNION SELECT x FROM secret",
    "SELECT x FROM secret INTERSECT SELECT id FROM people",
    "SELECT id FROM people EXCEPT SELECT x FROM hr.core.secret",
    "SELECT id FROM people WHERE id IN (SELECT x FROM secret)",
    "SELECT id FROM people WHERE EXISTS (SELECT 1 FROM secret)",
    "SELECT (SELECT max(x) FROM secret) FROM people",
    "SELECT * FROM people JOIN secret ON TRUE",
    "SELECT * FROM people, (SELECT * FROM (SELECT * FROM secret))",
    "WITH a AS (SELECT * FROM secret) SELECT * FROM people",
    "SELECT id FROM people ORDER BY (SELECT count(*) FROM secret)",
    "SELECT * FROM core.secret",
]


@pytest.mark.parametrize("sql", UNGRANTED)
def test_ungranted_table_anywhere_is_refused(sql: str) -> None:
    assert refused(sql).endswith("does not exist or you may not read it")


def test_policy_that_cannot_be_applied_fails_closed() -> None:
    bad_filter = Policy(people=([permit("id", "id = (SELECT 1)")], {}))
    assert "cannot be applied" in refused("SELECT id FROM people", bad_filter)
    missing = Policy(people=([permit("id", '"nope" = 1')], {}))
    assert "missing column" in refused("SELECT id FROM people", missing)
    bad_mask = Policy(people=([permit("id name")], {"name": mask(PEOPLE, "name", "rot13")}))
    assert "cannot be applied" in refused("SELECT id FROM people", bad_mask)
    ghost_mask = Policy(people=([permit("id")], {"ghost": mask(PEOPLE, "ghost", "null")}))
    assert "missing column" in refused("SELECT id FROM people", ghost_mask)


def test_decision_for_another_table_or_principal_is_refused() -> None:
    class Wrong(Policy):
        def decide(self, table: str) -> Decision:
            return super().decide(table)._replace(principal="eve@x")

    assert refused("SELECT id FROM people", Wrong(people=([permit("id")], {}))).endswith(
        "may not read it"
    )


def test_names_are_quoted_identifiers_in_the_output() -> None:
    p = plan('SELECT "select" FROM (SELECT id AS "select" FROM people) AS "from"', everything())
    sql = p.sql.sql("duckdb")
    assert '"select"' in sql and '"from"' in sql
    assert all(i.quoted for i in p.sql.find_all(exp.Identifier))


def test_everyday_sql_is_accepted(con: duckdb.DuckDBPyConnection) -> None:
    policy = Policy(people=([permit("id name", "\"region\" = 'eu'")], {}))
    _, rows = run(
        con,
        "SELECT count(DISTINCT name), string_agg(name, ',' ORDER BY name), "
        "count(*) FILTER (WHERE id > 1), bool_and(id > 0), median(id), id // 2 AS half "
        "FROM people GROUP BY half ORDER BY ALL",
        policy,
    )
    assert rows == [(1, "ann", 0, True, 1.0, 0), (1, "cyd", 1, True, 3.0, 1)]
    _, rows = run(
        con,
        "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
        "SELECT count(*) FROM r, people",
        policy,
    )
    assert rows == [(6,)]
