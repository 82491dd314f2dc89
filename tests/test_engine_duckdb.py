"""The DuckDB engine: governed results, and a sandbox that holds by itself.

Plans are built by hand here (the planner refuses most of these attacks earlier; these
tests prove the engine's own lockdown is enough: defence in depth). Assertions are on
results: hidden rows, raw values, filter text and file paths must never come back.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp

from lakemesh.engines import (
    EngineError,
    Limits,
    QueryTimeout,
    QueryTooLarge,
    Source,
    SourceColumn,
    load_engine,
)
from lakemesh.engines.duckdb import DuckDBEngine
from lakemesh.errors import InvalidInput
from lakemesh.query import GovernedRelation as Relation
from lakemesh.query import Plan

TABLE = "sales.crm.people"
ALIAS = "__lm_rel_0"
#: Values only the hidden row and the policy text hold; none may ever reach a consumer.
HIDDEN_REGION = "zz_hidden_region"
HIDDEN_NAME = "zz_hidden_name"
HIDDEN_ID = 987654
RAW_SSN = "123-45-6789"
OTHER_MARKER = "zz_other_file_marker"

ROWS = [
    {"id": 1, "name": "ann", "ssn": RAW_SSN, "region": "eu"},
    {"id": 2, "name": "bob", "ssn": "111-22-3333", "region": "us"},
    {"id": HIDDEN_ID, "name": HIDDEN_NAME, "ssn": "999-99-9999", "region": HIDDEN_REGION},
]
#: The governed relation: ssn masked inside the relation, the hidden region filtered.
POLICY = (
    'SELECT "id", "name", \'***\' AS "ssn", "region" '
    f'FROM "__lm_source" WHERE "region" <> \'{HIDDEN_REGION}\''
)
EXPECTED = [
    {"id": 1, "name": "ann", "ssn": "***", "region": "eu"},
    {"id": 2, "name": "bob", "ssn": "***", "region": "us"},
]
SECRETS = (HIDDEN_REGION, HIDDEN_NAME, str(HIDDEN_ID), RAW_SSN, OTHER_MARKER, "root:")


def relation(policy: str = POLICY, alias: str = ALIAS, table: str = TABLE) -> Relation:
    select = sqlglot.parse_one(policy, dialect="duckdb")
    assert isinstance(select, exp.Select)
    return Relation(alias, table, tuple(select.named_selects), select)


def plan(sql: str, *relations: Relation) -> Plan:
    rels = relations or (relation(),)
    return Plan(sqlglot.parse_one(sql, dialect="duckdb"), rels, tuple(r.table for r in rels))


def rows(table: pa.Table, order: str = "id") -> list[dict[str, object]]:
    return sorted(table.to_pylist(), key=lambda r: r[order])  # type: ignore[no-any-return]


@pytest.fixture
def engine() -> DuckDBEngine:
    return DuckDBEngine()


@pytest.fixture
def table_engine() -> DuckDBEngine:
    return DuckDBEngine()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    pq.write_table(pa.Table.from_pylist(ROWS), root / "people.parquet")
    pq.write_table(pa.table({"id": [1], "name": [OTHER_MARKER]}), tmp_path / "other.parquet")
    return root


@pytest.fixture
def parquet(data: Path) -> dict[str, Source]:
    return {TABLE: Source("parquet", (str(data / "people.parquet"),))}


# ---------------------------------------------------------------- results by format


def test_parquet_result_is_filtered_and_masked(engine: DuckDBEngine, parquet: dict[str, Source]):
    result = engine.run(plan(f'SELECT * FROM "{ALIAS}"'), parquet)
    assert rows(result) == EXPECTED
    assert result.column_names == ["id", "name", "ssn", "region"]


def test_parquet_hive_partitions(engine: DuckDBEngine, tmp_path: Path):
    files = []
    for region in ("eu", "us", HIDDEN_REGION):
        part = tmp_path / "hive" / f"region={region}"
        part.mkdir(parents=True)
        subset = [
            {k: v for k, v in r.items() if k != "region"} for r in ROWS if r["region"] == region
        ]
        pq.write_table(pa.Table.from_pylist(subset), part / "part-0.parquet")
        files.append(str(part / "part-0.parquet"))
    sources = {TABLE: Source("parquet", tuple(files), hive_partitioning=True)}
    result = engine.run(plan(f"SELECT id, name, ssn, region FROM {ALIAS}"), sources)
    assert rows(result) == EXPECTED


def test_csv_with_hive_partitions(engine: DuckDBEngine, tmp_path: Path):
    files = []
    for region in ("eu", "us", HIDDEN_REGION):
        part = tmp_path / "csv" / f"region={region}"
        part.mkdir(parents=True)
        subset = [
            {k: v for k, v in r.items() if k != "region"} for r in ROWS if r["region"] == region
        ]
        pacsv.write_csv(pa.Table.from_pylist(subset), part / "data.csv")
        files.append(str(part / "data.csv"))
    sources = {TABLE: Source("csv", tuple(files), hive_partitioning=True)}
    result = engine.run(plan(f"SELECT id, name, ssn, region FROM {ALIAS}"), sources)
    assert rows(result) == EXPECTED


def test_json_lines(engine: DuckDBEngine, tmp_path: Path):
    path = tmp_path / "people.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    sources = {TABLE: Source("json", (str(path),))}
    result = engine.run(plan(f"SELECT * FROM {ALIAS}"), sources)
    assert rows(result) == EXPECTED


def test_arrow_source_is_governed_and_not_left_readable(engine: DuckDBEngine):
    sources = {TABLE: Source("arrow", arrow=pa.Table.from_pylist(ROWS))}
    assert rows(engine.run(plan(f"SELECT * FROM {ALIAS}"), sources)) == EXPECTED
    # The raw Arrow table was registered under an internal name; it is gone before lockdown.
    with pytest.raises(EngineError):
        engine.run(plan("SELECT * FROM __lm_arrow_0"), sources)


def test_join_of_two_relations_and_qualified_placeholder(engine: DuckDBEngine, data: Path):
    orders = data / "orders.parquet"
    pq.write_table(pa.table({"person": [1, 2, HIDDEN_ID], "amount": [10, 20, 30]}), orders)
    other = relation(
        'SELECT "__lm_source"."person", "amount" FROM "__lm_source" '
        'WHERE "__lm_source"."amount" < 25',
        alias="__lm_rel_1",
        table="sales.crm.orders",
    )
    sources = {
        TABLE: Source("parquet", (str(data / "people.parquet"),)),
        "sales.crm.orders": Source("parquet", (str(orders),)),
    }
    sql = "SELECT p.name, o.amount FROM __lm_rel_0 AS p JOIN __lm_rel_1 AS o ON p.id = o.person"
    result = engine.run(plan(sql, relation(), other), sources)
    assert rows(result, "name") == [{"name": "ann", "amount": 10}, {"name": "bob", "amount": 20}]


# ---------------------------------------------------------------- policy cannot be bypassed


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT * FROM {ALIAS} WHERE region = '{HIDDEN_REGION}'",
        f"SELECT count(*) AS n FROM {ALIAS} WHERE id = {HIDDEN_ID}",
        f"SELECT * FROM {ALIAS} WHERE ssn LIKE '1%'",
        f"SELECT max(id) AS m, min(name) AS n, string_agg(ssn, ',') AS s FROM {ALIAS}",
        f"SELECT approx_quantile(id, 0.99) AS s, max(name) AS t FROM {ALIAS}",
        f"SELECT list(id) AS s, histogram(region) AS t FROM {ALIAS}",
    ],
)
def test_consumer_sql_sees_only_governed_rows(
    engine: DuckDBEngine, parquet: dict[str, Source], sql: str
):
    result = engine.run(plan(sql), parquet)
    text = str(result.to_pylist())
    assert not any(secret in text for secret in SECRETS), text
    if "count(*)" in sql:
        assert result.to_pylist() == [{"n": 0}]


def test_python_variable_named_in_sql_is_not_read(engine: DuckDBEngine, parquet: dict[str, Source]):
    leaky_frame = pa.table({"x": [OTHER_MARKER]})  # noqa: F841 - what a replacement scan would read
    with pytest.raises(EngineError) as info:
        engine.run(plan("SELECT * FROM leaky_frame"), parquet)
    assert str(info.value) == "the query failed"
    assert "leaky_frame" in info.value.detail


# ---------------------------------------------------------------- sandbox holds by itself

ATTACKS = [
    "SELECT * FROM read_parquet('{other}')",
    "SELECT * FROM read_parquet('{granted}')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_blob('/etc/passwd')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM '{granted}'",
    "SELECT * FROM glob('{root}/*')",
    "SET enable_external_access = true",
    "SET allowed_paths = ['{other}']",
    "SET allowed_directories = ['/']",
    "SET lock_configuration = false",
    "SET python_enable_replacements = true",
    "RESET enable_external_access",
    "SELECT current_setting('allowed_paths')",
    "SELECT current_setting('allowed_directories')",
    "SELECT * FROM duckdb_settings()",
    "PRAGMA database_list",
    "PRAGMA show_tables",
    "PRAGMA table_info('__lm_rel_0')",
    "SELECT * FROM duckdb_views()",
    "SELECT * FROM duckdb_tables()",
    "SELECT * FROM duckdb_columns()",
    "SELECT stats(id), stats(name), stats(region) FROM __lm_rel_0",
    "EXPLAIN SELECT * FROM __lm_rel_0",
    "EXPLAIN ANALYZE SELECT * FROM __lm_rel_0",
    "ATTACH '{root}/x.db' AS x",
    "COPY (SELECT 1) TO '{root}/out.csv'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SELECT * FROM leaky_frame",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_locked_connection_reveals_nothing(parquet: dict[str, Source], data: Path, attack: str):
    """Every attack, on the sealed connection itself (no validator in front): the four
    the planner alone used to stop (a granted file read directly, ``duckdb_views()``,
    ``duckdb_settings()``, ``current_setting('allowed_paths')``) included."""
    engine = DuckDBEngine()
    leaky_frame = pa.table({"x": [OTHER_MARKER]})  # noqa: F841 - bait for replacement scans
    granted = parquet[TABLE].files[0]
    sql = attack.format(other=data.parent / "other.parquet", granted=granted, root=data)
    with engine.sandbox(plan(f"SELECT * FROM {ALIAS}"), parquet) as con:
        try:
            text = str(con.execute(sql).fetchall())
        except duckdb.Error:
            text = ""
        assert not any(secret in text for secret in SECRETS), text
        assert str(data) not in text, text  # no file path either
        assert "<>" not in text, text  # no policy text
        # The lock still holds and the governed relation is unchanged.
        assert con.execute("SELECT current_setting('enable_external_access')").fetchone() == (
            False,
        )
        assert con.execute("SELECT current_setting('lock_configuration')").fetchone() == (True,)
        assert sorted(con.execute(f"SELECT id FROM {ALIAS}").fetchall()) == [(1,), (2,)]
    assert not (data / "out.csv").exists()
    assert not (data / "x.db").exists()


def test_lock_cannot_be_undone(table_engine: DuckDBEngine, parquet: dict[str, Source]):
    with table_engine.sandbox(plan(f"SELECT * FROM {ALIAS}"), parquet) as con:
        with pytest.raises(duckdb.Error, match="locked"):
            con.execute("SET enable_external_access = true")
        assert con.execute("SELECT current_setting('allowed_paths')").fetchone() == ([],)
        # the only folder: the connection's own, empty spill folder
        [(folders,)] = con.execute("SELECT current_setting('allowed_directories')").fetchall()
        [folder] = folders
        assert Path(folder).name.startswith("lakemesh-spill-") and not any(Path(folder).iterdir())
    assert not Path(folder).exists()  # removed with the connection


def test_a_join_larger_than_memory_spills(engine: DuckDBEngine, tmp_path: Path):
    """Streamed relations have no size estimate, and a hash join over two of them does
    not fit 64 MB: it spills to the connection's own folder instead of failing."""
    big = tmp_path / "big.parquet"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT range AS id, range::DOUBLE AS x FROM range(3000000)) TO '{big}'")
    con.close()
    left = relation('SELECT "id", "x" FROM "__lm_source" WHERE "id" % 2 = 0', alias=ALIAS)
    right = relation('SELECT "id", "x" FROM "__lm_source"', "__lm_rel_1", "d.s.other")
    sources = {TABLE: Source("parquet", (str(big),)), "d.s.other": Source("parquet", (str(big),))}
    sql = f"SELECT count(*) AS n, sum(b.x) AS s FROM {ALIAS} a JOIN __lm_rel_1 b ON a.id = b.id"
    got = engine.run(plan(sql, left, right), sources, Limits(memory_limit="64MB", threads=1))
    assert got.to_pylist() == [{"n": 1500000, "s": float(sum(range(0, 3000000, 2)))}]


@pytest.mark.parametrize(
    "sql",
    [
        "SET enable_external_access = true",
        "PRAGMA database_list",
        f"EXPLAIN SELECT * FROM {ALIAS}",
        f"CREATE TABLE t AS SELECT * FROM {ALIAS}",
    ],
)
def test_run_executes_only_one_select(engine: DuckDBEngine, parquet: dict[str, Source], sql: str):
    with pytest.raises(EngineError) as info:
        engine.run(plan(sql), parquet)
    assert "SELECT" in info.value.detail


def test_run_refuses_several_statements(engine: DuckDBEngine, parquet: dict[str, Source]):
    smuggled = exp.Command(this="SELECT 1; SELECT", expression=exp.Literal.number(2))
    assert smuggled.sql(dialect="duckdb") == "SELECT 1; SELECT 2"
    with pytest.raises(EngineError, match="the query failed") as info:
        engine.run(Plan(smuggled, (relation(),), (TABLE,)), parquet)
    assert "exactly one SELECT" in info.value.detail


# ---------------------------------------------------------------- limits


def test_timeout_interrupts_runaway_query(engine: DuckDBEngine, parquet: dict[str, Source]):
    # range() is refused by the function policy; a recursive CTE runs away just as well
    sql = (
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 1e12) "
        "SELECT count(*) FROM r"
    )
    started = time.monotonic()
    with pytest.raises(QueryTimeout) as info:
        engine.run(plan(sql), parquet, Limits(timeout_seconds=1))
    assert time.monotonic() - started < 2.5
    assert str(info.value) == "the query ran longer than 1 seconds"
    assert isinstance(info.value, TimeoutError)


def test_max_rows(engine: DuckDBEngine, parquet: dict[str, Source]):
    limits = Limits(max_rows=100_000)
    rows = "SELECT unnest(list_resize([]::INT[], {n}, 0)) AS x"
    assert engine.run(plan(rows.format(n=100_000)), parquet, limits).num_rows == 100_000
    with pytest.raises(QueryTooLarge, match="more than 100000 rows"):
        engine.run(plan(rows.format(n=100_001)), parquet, limits)
    with pytest.raises(QueryTooLarge):
        engine.run(plan(f"SELECT * FROM {ALIAS}"), parquet, Limits(max_rows=1))
    assert engine.run(plan(f"SELECT * FROM {ALIAS}"), parquet, Limits(max_rows=2)).num_rows == 2


def test_memory_limit_is_a_clean_error(engine: DuckDBEngine, parquet: dict[str, Source]):
    sql = (
        "SELECT x % 10 AS k, list(x) AS l "
        "FROM (SELECT unnest(list_resize([]::BIGINT[], 50000000, 1)) AS x) GROUP BY 1"
    )
    with pytest.raises(QueryTooLarge, match="memory") as info:
        engine.run(plan(sql), parquet, Limits(memory_limit="64MB"))
    assert "Out of Memory" in info.value.detail


def test_result_size_is_limited(engine: DuckDBEngine, parquet: dict[str, Source]):
    with pytest.raises(QueryTooLarge, match="larger than 1000000 bytes"):
        engine.run(
            plan("SELECT repeat('x', 2000000) AS x"), parquet, Limits(max_result_bytes=10**6)
        )


def test_functions_are_checked_again_by_duckdbs_parser(
    engine: DuckDBEngine, parquet: dict[str, Source]
):
    """Defence in depth: SQL that reached the engine with a denied call is refused."""
    for sql in (
        f"SELECT stats(id) FROM {ALIAS}",
        "SELECT * FROM range(3)",
        "SELECT current_setting('threads')",
        "SELECT main.abs(1)",
    ):
        with pytest.raises(EngineError) as info:
            engine.run(plan(sql), parquet)
        assert "consumer SQL" in info.value.detail, sql


def test_errors_are_generic_with_detail(engine: DuckDBEngine, parquet: dict[str, Source]):
    with pytest.raises(EngineError) as info:
        engine.run(plan(f"SELECT no_such_column FROM {ALIAS}"), parquet)
    assert str(info.value) == "the query failed"
    assert "no_such_column" in info.value.detail


# ---------------------------------------------------------------- fail closed on bad input


def test_missing_source_fails_closed(engine: DuckDBEngine):
    with pytest.raises(EngineError, match="the query failed") as info:
        engine.run(plan(f"SELECT * FROM {ALIAS}"), {})
    assert TABLE in info.value.detail


@pytest.mark.parametrize(
    "policy",
    [
        'SELECT "id" FROM "other_table"',
        'SELECT "id" FROM "__lm_source" JOIN "x"."y" ON TRUE',
        'SELECT "id" FROM "__lm_source" WHERE "id" IN (SELECT 1 FROM read_text(\'/etc/passwd\'))',
    ],
)
def test_relation_reading_anything_but_its_source_is_refused(
    engine: DuckDBEngine, parquet: dict[str, Source], policy: str
):
    with pytest.raises(EngineError):
        engine.run(plan(f"SELECT * FROM {ALIAS}", relation(policy)), parquet)


def test_relation_columns_must_match_its_select(engine: DuckDBEngine, parquet: dict[str, Source]):
    rel = relation()
    bad = Relation(rel.alias, rel.table, ("id",), rel.select)
    with pytest.raises(EngineError):
        engine.run(plan(f"SELECT * FROM {ALIAS}", bad), parquet)


@pytest.mark.parametrize("alias", ["Bad", "x; DROP", "a-b", ""])
def test_bad_alias_is_refused(engine: DuckDBEngine, parquet: dict[str, Source], alias: str):
    with pytest.raises(EngineError):
        engine.run(plan("SELECT 1", relation(alias=alias)), parquet)


@pytest.mark.parametrize(
    "files", [("relative.parquet",), ("/data/*.parquet",), ("/data/[ab].parquet",), ()]
)
def test_source_paths_are_exact_absolute_files(files: tuple[str, ...]):
    with pytest.raises(InvalidInput):
        Source("parquet", files)


def test_limits_are_validated():
    for bad in ({"memory_limit": "1GB; SET x=1"}, {"threads": 0}, {"timeout_seconds": 0}):
        with pytest.raises(InvalidInput):
            Limits(**bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------- loader


def test_load_engine():
    assert isinstance(load_engine("duckdb"), DuckDBEngine)
    assert load_engine("spark").name == "spark"  # the import alone starts no JVM
    with pytest.raises(InvalidInput):
        load_engine("oracle")


# ---------------------------------------------------------------- what the sealed connection holds


def test_sealed_connection_holds_no_policy_path_or_hidden_row(
    engine: DuckDBEngine, parquet: dict[str, Source]
):
    """The four reads the planner's validator alone used to stop now find nothing: the
    consumer's instance holds no file permission, no view text, no hidden row."""
    granted = parquet[TABLE].files[0]
    assert rows(engine.run(plan(f"SELECT * FROM {ALIAS}"), parquet)) == EXPECTED
    with engine.sandbox(plan(f"SELECT * FROM {ALIAS}"), parquet) as con:
        views = str(con.execute("SELECT view_name, sql FROM duckdb_views()").fetchall())
        assert HIDDEN_REGION not in views and "<>" not in views and granted not in views
        settings = str(con.execute("SELECT name, value FROM duckdb_settings()").fetchall())
        assert granted not in settings and str(Path(granted).parent) not in settings
        assert con.execute("SELECT current_setting('allowed_paths')").fetchone() == ([],)
        with pytest.raises(duckdb.Error, match="disabled by configuration"):
            con.execute(f"SELECT name FROM read_parquet('{granted}')").fetchall()
        # stats and EXPLAIN of the relation show no hidden value or filter
        assert str(HIDDEN_ID) not in str(con.execute(f"SELECT stats(id) FROM {ALIAS}").fetchall())
        explain = str(con.execute(f"EXPLAIN SELECT * FROM {ALIAS}").fetchall())
        assert HIDDEN_REGION not in explain and granted not in explain


WHOLE = 'SELECT "id", "name", "ssn", "region" FROM "__lm_source"'
PEOPLE_COLUMNS = tuple(
    SourceColumn(n, t, n)
    for n, t in (("id", "int64"), ("name", "string"), ("ssn", "string"), ("region", "string"))
)


def _catalogued(path: Path) -> dict[str, Source]:
    schema = pq.read_schema(path)
    return {TABLE: Source("parquet", (str(path),), columns=PEOPLE_COLUMNS, file_schemas=(schema,))}


def test_a_relation_showing_its_whole_files_is_read_in_place(engine: DuckDBEngine, data: Path):
    """No filter, no mask, every column shown, nothing else in the files: the files are
    the relation, so the sealed connection may read them (and only them) directly. What
    it can then reach is exactly what the query is granted."""
    sources = _catalogued(data / "people.parquet")
    p = plan(f"SELECT * FROM {ALIAS}", relation(WHOLE))
    assert len(engine.run(p, sources)) == len(ROWS)
    granted = sources[TABLE].files[0]
    with engine.sandbox(p, sources) as con:
        assert granted in str(con.execute("SELECT current_setting('allowed_paths')").fetchall())
        raw = con.execute(f"SELECT * FROM read_parquet('{granted}') ORDER BY id").fetchall()
        assert raw == con.execute(f"SELECT * FROM {ALIAS} ORDER BY id").fetchall()
        with pytest.raises(duckdb.Error, match="disabled by configuration"):
            con.execute(f"SELECT * FROM read_parquet('{data.parent / 'other.parquet'}')")


@pytest.mark.parametrize(
    "policy",
    [
        POLICY,  # a row filter and a mask
        'SELECT "id", "name", "region" FROM "__lm_source"',  # a column not shown
        'SELECT "id", "name", lower("ssn") AS "ssn", "region" FROM "__lm_source"',
    ],
)
def test_a_relation_hiding_anything_is_streamed(engine: DuckDBEngine, data: Path, policy: str):
    sources = _catalogued(data / "people.parquet")
    with engine.sandbox(plan(f"SELECT * FROM {ALIAS}", relation(policy)), sources) as con:
        assert con.execute("SELECT current_setting('allowed_paths')").fetchone() == ([],)


def test_files_with_a_column_the_catalog_lacks_are_streamed(engine: DuckDBEngine, data: Path):
    """A column added to the files since the last crawl may be unclassified personal
    data: such files are never opened to the consumer's connection."""
    path = data / "wider.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS).append_column("secret", pa.array(["s"] * 3)), path)
    sources = _catalogued(path)
    p = plan(f"SELECT * FROM {ALIAS}", relation(WHOLE))
    with engine.sandbox(p, sources) as con:
        assert con.execute("SELECT current_setting('allowed_paths')").fetchone() == ([],)
        assert "secret" not in str(con.execute(f"SELECT * FROM {ALIAS}").fetchall())


def test_relation_is_read_once_per_scan(engine: DuckDBEngine, parquet: dict[str, Source]):
    """A relation scanned several times (self-join, subqueries) streams each time."""
    sql = (
        f"SELECT a.id, (SELECT count(*) FROM {ALIAS}) AS n FROM {ALIAS} a "
        f"JOIN {ALIAS} b ON a.id = b.id WHERE a.id IN (SELECT id FROM {ALIAS}) ORDER BY a.id"
    )
    assert engine.run(plan(sql), parquet).to_pylist() == [{"id": 1, "n": 2}, {"id": 2, "n": 2}]


def test_only_the_columns_read_are_produced(engine: DuckDBEngine, parquet: dict[str, Source]):
    p = plan(f"SELECT count(*) AS n FROM {ALIAS}")
    reads = {ALIAS: ("id",)}
    projected = Plan(p.sql, p.relations, p.tables, reads)
    sql = engine.relation_sql(projected, parquet)[ALIAS]
    # neither the masked column nor its mask is computed; the row filter still applies
    assert sql.startswith('SELECT "id" FROM') and "***" not in sql and HIDDEN_REGION in sql
    assert engine.run(projected, parquet).to_pylist() == [{"n": 2}]
    with pytest.raises(EngineError):
        engine.run(Plan(p.sql, p.relations, p.tables, {ALIAS: ("nope",)}), parquet)


# ---------------------------------------------------------------- connection pool


def test_every_query_gets_a_connection_no_query_has_touched(
    engine: DuckDBEngine, parquet: dict[str, Source]
):
    from lakemesh.engines.duckdb import _POOL

    p = plan(f"SELECT * FROM {ALIAS}")
    before = p.relations[0].select.sql("duckdb")
    for _ in range(3):
        assert rows(engine.run(p, parquet)) == EXPECTED
    # the relation's SELECT (shared with later plans by the planner's memo) is untouched
    assert p.relations[0].select.sql("duckdb") == before
    limits = Limits()
    con = _POOL.take(limits)
    try:
        # a ready connection is configured, not yet sealed, and holds nothing of a query
        assert con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone() == (
            0,
        )
        assert con.execute("SELECT count(*) FROM duckdb_tables()").fetchone() == (0,)
        assert con.execute("SELECT current_setting('lock_configuration')").fetchone() == (False,)
        assert con.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
    finally:
        _POOL.dispose(con, limits)
