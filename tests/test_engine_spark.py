"""The Spark engine: the same governed results as DuckDB, and nothing past the policy.

Plans are built by hand (as in ``test_engine_duckdb.py``), so these tests hold the engine
by itself: governed results must equal DuckDB's on the same plans, hidden rows and raw
values must not reach anything the consumer receives (rows, errors), and the session the
consumer SQL runs in must name nothing but governed relations. One Spark session serves
the whole module (a JVM start costs seconds).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import sqlglot
from pyspark.errors import AnalysisException
from sqlglot import exp

from lakemesh import keys
from lakemesh.access.masks import apply_mask, mask_expression, parse_mask
from lakemesh.engines import (
    SOURCE_PLACEHOLDER,
    EngineError,
    Limits,
    QueryTimeout,
    QueryTooLarge,
    Source,
    SourceColumn,
    load_engine,
)
from lakemesh.engines.duckdb import DuckDBEngine
from lakemesh.engines.spark import SESSION_SETTINGS, SparkEngine, spark_session
from lakemesh.mesh import Mesh
from lakemesh.query import GovernedRelation as Relation
from lakemesh.query import Plan
from lakemesh.query.governed import QueryFailed
from tests import govmesh

pytestmark = pytest.mark.spark


TABLE = "sales.crm.people"
ALIAS = "__lm_rel_0"
KEY = b"k" * 32
HIDDEN_REGION = "zz_hidden_region"
HIDDEN_NAME = "zz_hidden_name"
HIDDEN_ID = 987654
RAW_SSN = "123-45-6789"
SECRETS = (HIDDEN_REGION, HIDDEN_NAME, str(HIDDEN_ID), RAW_SSN)

ROWS = [
    {"id": 1, "name": "ann", "ssn": RAW_SSN, "region": "eu"},
    {"id": 2, "name": "bob-the-builder", "ssn": "111-22-3333", "region": "us"},
    {"id": HIDDEN_ID, "name": HIDDEN_NAME, "ssn": "999-99-9999", "region": HIDDEN_REGION},
]
#: Every type whose values both engines return alike, for Parquet and Arrow sources.
TYPED = pa.table(
    {
        "id": pa.array([r["id"] for r in ROWS], pa.int64()),
        "name": [r["name"] for r in ROWS],
        "ssn": [r["ssn"] for r in ROWS],
        "region": [r["region"] for r in ROWS],
        "score": pa.array([1.5, None, 9.25], pa.float64()),
        "born": pa.array([date(1990, 1, 2), date(1401, 7, 8), None], pa.date32()),
        "seen": pa.array(
            [datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC), None, datetime(2020, 1, 1, tzinfo=UTC)],
            pa.timestamp("us", tz="UTC"),
        ),
        "local": pa.array(
            [datetime(2024, 1, 2, 3, 4, 5), datetime(1700, 1, 1), None], pa.timestamp("us")
        ),
    }
)


def col(name: str) -> exp.Column:
    return exp.column(name, table=SOURCE_PLACEHOLDER, quoted=True)


def policy(
    types: dict[str, str], masks: dict[str, str], where: exp.Expr | None = None
) -> exp.Select:
    """The relation SELECT the rewriter would build: masks inside, filter on the source."""
    projections = [
        mask_expression(parse_mask(masks[c]), c, t, hash_key=KEY, dialect="spark")
        if c in masks
        else exp.alias_(col(c), c, quoted=True)
        for c, t in types.items()
    ]
    select = exp.select(*projections).from_(
        exp.Table(this=exp.to_identifier(SOURCE_PLACEHOLDER, quoted=True))
    )
    return select if where is None else select.where(where)


NOT_HIDDEN = exp.NEQ(this=col("region"), expression=exp.Literal.string(HIDDEN_REGION))
BASIC_TYPES = {"id": "int64", "name": "string", "ssn": "string", "region": "string"}
BASIC_MASKS = {"ssn": "hash", "name": "last4"}
TYPED_TYPES = {f.name: str(f.type) for f in TYPED.schema}
TYPED_MASKS = {**BASIC_MASKS, "score": "redact", "born": "null"}


def relation(select: exp.Select, alias: str = ALIAS, table: str = TABLE) -> Relation:
    return Relation(alias, table, tuple(select.named_selects), select)


BASIC = relation(policy(BASIC_TYPES, BASIC_MASKS, NOT_HIDDEN))
TYPED_RELATION = relation(policy(TYPED_TYPES, TYPED_MASKS, NOT_HIDDEN))


def plan(sql: str, *relations: Relation, dialect: str = "spark") -> Plan:
    rels = relations or (BASIC,)
    return Plan(sqlglot.parse_one(sql, read=dialect), rels, tuple(r.table for r in rels))


def rows(table: pa.Table, order: str = "id") -> list[dict[str, object]]:
    return sorted(table.to_pylist(), key=lambda r: r[order])  # type: ignore[no-any-return]


def hashed(value: str) -> str:
    return apply_mask(parse_mask("hash"), value, hash_key=KEY)  # type: ignore[no-any-return]


def last4(value: str) -> str:
    return apply_mask(parse_mask("last4"), value, hash_key=KEY)  # type: ignore[no-any-return]


EXPECTED = [
    {"id": 1, "name": last4("ann"), "ssn": hashed(RAW_SSN), "region": "eu"},
    {"id": 2, "name": last4("bob-the-builder"), "ssn": hashed("111-22-3333"), "region": "us"},
]


@pytest.fixture(scope="module")
def engine() -> SparkEngine:
    spark_session()  # start the JVM once, outside any test's timing
    return SparkEngine()


@pytest.fixture(scope="module")
def duck() -> DuckDBEngine:
    return DuckDBEngine()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("spark")
    pq.write_table(TYPED, root / "people.parquet")
    pq.write_table(pa.table({"id": [1], "name": ["zz_other_file_marker"]}), root / "other.parquet")
    for fmt in ("parquet", "csv"):
        for region in ("eu", "us", HIDDEN_REGION):
            part = root / f"hive_{fmt}" / "db" / "people" / f"region={region}"
            part.mkdir(parents=True)
            subset = pa.Table.from_pylist(
                [
                    {k: v for k, v in r.items() if k != "region"}
                    for r in ROWS
                    if r["region"] == region
                ]
            )
            if fmt == "parquet":
                pq.write_table(subset, part / "part-0.parquet")
            else:
                pacsv.write_csv(subset, part / "data.csv")
    (root / "people.json").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return root


@pytest.fixture(scope="module")
def parquet(data: Path) -> dict[str, Source]:
    return {TABLE: Source("parquet", (str(data / "people.parquet"),))}


def hive(data: Path, fmt: str) -> dict[str, Source]:
    ext = "parquet" if fmt == "parquet" else "csv"
    files = sorted(str(p) for p in (data / f"hive_{fmt}").rglob(f"*.{ext}"))
    return {TABLE: Source(fmt, tuple(files), hive_partitioning=True)}  # type: ignore[arg-type]


def same_as_duckdb(
    engine: SparkEngine,
    duck: DuckDBEngine,
    sql: str,
    sources: dict[str, Source],
    *relations: Relation,
    order: str = "id",
) -> pa.Table:
    """Runs ``sql`` on both engines; names and values must match. Returns Spark's result."""
    spark_result = engine.run(plan(sql, *relations), sources)
    duck_result = duck.run(plan(sql, *relations, dialect="duckdb"), sources)
    assert spark_result.column_names == duck_result.column_names
    assert rows(spark_result, order) == rows(duck_result, order)
    return spark_result


# ---------------------------------------------------------------- results equal DuckDB's


def test_parquet_masked_and_filtered_like_duckdb(
    engine: SparkEngine, duck: DuckDBEngine, parquet: dict[str, Source]
):
    sql = f"SELECT * FROM {ALIAS}"
    result = same_as_duckdb(engine, duck, sql, parquet, TYPED_RELATION)
    # Same Arrow types too: int64, string, double, date32, timestamp UTC and naive.
    assert result.schema == duck.run(plan(sql, TYPED_RELATION, dialect="duckdb"), parquet).schema
    first = rows(result)[0]
    assert first["ssn"] == hashed(RAW_SSN)  # the keyed hash equals the Python reference
    assert first["name"] == "****"  # last4 never shows a short value whole
    assert first["score"] is None and first["born"] is None  # redact / null keep NULL
    assert first["seen"] == datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert [r["local"] for r in rows(result)] == [
        datetime(2024, 1, 2, 3, 4, 5),
        datetime(1700, 1, 1),
    ]


@pytest.mark.parametrize("method", ["null", "redact"])
def test_masked_timestamps_keep_their_type_like_duckdb(
    engine: SparkEngine, duck: DuckDBEngine, method: str
):
    """A NULL mask keeps the column's type: naive stays naive on Spark too (masks.py
    renders TIMESTAMP_NTZ there; plain TIMESTAMP is Spark's zoned type)."""
    types = {"id": "int64", "seen": str(TYPED.schema.field("seen").type), "local": "timestamp[us]"}
    masked = relation(policy(types, {"seen": method, "local": method}))
    sources = {TABLE: Source("arrow", arrow=TYPED.select(list(types)))}
    sql = f"SELECT * FROM {ALIAS}"
    result = same_as_duckdb(engine, duck, sql, sources, masked)
    assert result.schema == duck.run(plan(sql, masked, dialect="duckdb"), sources).schema
    assert result.schema.field("local").type == pa.timestamp("us")
    assert result.column("local").null_count == len(ROWS)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_hive_partitions_like_duckdb(engine: SparkEngine, duck: DuckDBEngine, data: Path, fmt: str):
    result = same_as_duckdb(engine, duck, f"SELECT * FROM {ALIAS}", hive(data, fmt))
    assert rows(result) == EXPECTED


def test_json_lines_like_duckdb(engine: SparkEngine, duck: DuckDBEngine, data: Path):
    sources = {TABLE: Source("json", (str(data / "people.json"),))}
    result = same_as_duckdb(engine, duck, f"SELECT * FROM {ALIAS}", sources)
    assert rows(result) == EXPECTED


def test_arrow_source_like_duckdb(engine: SparkEngine, duck: DuckDBEngine):
    sources = {TABLE: Source("arrow", arrow=TYPED)}
    same_as_duckdb(engine, duck, f"SELECT * FROM {ALIAS}", sources, TYPED_RELATION)


def test_join_aggregate_and_masked_join_key_like_duckdb(
    engine: SparkEngine, duck: DuckDBEngine, data: Path
):
    orders = data / "orders.parquet"
    if not orders.exists():
        pq.write_table(
            pa.table({"person": [1, 1, 2, HIDDEN_ID], "ssn": [RAW_SSN, RAW_SSN, "x", "y"]}),
            orders,
        )
    other = relation(
        policy({"person": "int64", "ssn": "string"}, {"ssn": "hash"}),
        alias="__lm_rel_1",
        table="sales.crm.orders",
    )
    sources = {
        TABLE: Source("parquet", (str(data / "people.parquet"),)),
        "sales.crm.orders": Source("parquet", (str(orders),)),
    }
    # Joined on the id and, separately, on the hashed ssn (deterministic for one key).
    sql = (
        f"SELECT p.region, count(*) AS n, count(DISTINCT o.ssn) AS k FROM {ALIAS} AS p "
        "JOIN __lm_rel_1 AS o ON p.id = o.person AND p.ssn = o.ssn GROUP BY p.region"
    )
    result = same_as_duckdb(engine, duck, sql, sources, BASIC, other, order="region")
    assert result.to_pylist() == [{"region": "eu", "n": 2, "k": 1}]


# ---------------------------------------------------------------- nothing past the policy


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT * FROM {ALIAS} WHERE region = '{HIDDEN_REGION}'",
        f"SELECT count(*) AS n FROM {ALIAS} WHERE id = {HIDDEN_ID}",
        f"SELECT * FROM {ALIAS} WHERE ssn LIKE '1%'",
        f"SELECT max(id) AS m, min(name) AS n, max(ssn) AS s FROM {ALIAS}",
        f"SELECT '${{env:HOME}}' AS h, '${{spark.driver.host}}' AS s FROM {ALIAS}",
    ],
)
def test_consumer_sql_sees_only_governed_rows(
    engine: SparkEngine, data: Path, parquet: dict[str, Source], sql: str
):
    for sources in (parquet, hive(data, "parquet")):
        result = engine.run(plan(sql), sources)
        text = str(result.to_pylist())
        assert not any(secret in text for secret in SECRETS), text
        assert "127.0.0.1" not in text and str(Path.home()) not in text  # no substitution
        if "count(*)" in sql:
            assert result.to_pylist() == [{"n": 0}]


@pytest.mark.parametrize(
    "condition",
    [
        # keyed on a row the policy filter hides: must never be evaluated on it
        f"CAST(CASE WHEN id = {HIDDEN_ID} THEN 'x' ELSE '1' END AS INT) = 1",
        # keyed on a hidden *partition*: Spark would evaluate this during partition
        # pruning, below the policy filter, if the engine let predicates through
        f"CAST(CASE WHEN region = '{HIDDEN_REGION}' THEN 'x' ELSE '1' END AS INT) = 1",
    ],
)
def test_no_error_side_channel_on_hidden_rows(engine: SparkEngine, data: Path, condition: str):
    # The policy filters on a data column; the hidden row sits alone in its partition.
    unmasked = relation(
        policy(
            BASIC_TYPES,
            {},
            exp.NEQ(this=col("id"), expression=exp.Literal.number(HIDDEN_ID)),
        )
    )
    for fmt in ("parquet", "csv"):
        result = engine.run(
            plan(f"SELECT id, region FROM {ALIAS} WHERE {condition}", unmasked), hive(data, fmt)
        )
        assert rows(result) == [{"id": 1, "region": "eu"}, {"id": 2, "region": "us"}]


def test_session_names_only_governed_relations(
    engine: SparkEngine, parquet: dict[str, Source], data: Path
):
    granted = parquet[TABLE].files[0]
    with engine.sandbox(plan(f"SELECT * FROM {ALIAS}"), parquet) as session:
        assert [t.name for t in session.catalog.listTables()] == [ALIAS]
        # (listing a database includes the session's temp views)
        assert [t.name for t in session.catalog.listTables("global_temp")] == [ALIAS]
        assert session.catalog.listDatabases() == [] or [
            d.name for d in session.catalog.listDatabases()
        ] == ["default"]
        assert [t.name for t in session.catalog.listTables("default")] == [ALIAS]
        for key, value in SESSION_SETTINGS.items():
            assert session.conf.get(key) == value
        # The raw scan has no name, and files cannot be named either (runSQLOnFiles off).
        for sql in (
            f"SELECT * FROM {SOURCE_PLACEHOLDER}",
            f"SELECT * FROM parquet.`{granted}`",
            f"SELECT * FROM parquet.`{data / 'other.parquet'}`",
            f"SELECT * FROM json.`{data / 'people.json'}`",
        ):
            with pytest.raises(AnalysisException, match=r"TABLE_OR_VIEW_NOT_FOUND"):
                session.sql(sql).collect()
        # The governed view is not a file scan: it has no file metadata column...
        with pytest.raises(AnalysisException, match="_metadata"):
            session.sql(f"SELECT _metadata.file_path FROM {ALIAS}").collect()
        assert sorted(r.id for r in session.sql(f"SELECT id FROM {ALIAS}").collect()) == [1, 2]
        # ...but input_file_name() reads a task-local that the scan sets, barrier or not:
        # pinned here because it is why run() refuses the function (see the next test).
        name = session.sql(f"SELECT input_file_name() AS f FROM {ALIAS}").collect()[0].f
        assert name == f"file://{granted}"
    # Views are dropped with the query's session; the shared session never had any.
    assert session.catalog.listTables() == []
    assert spark_session().catalog.listTables() == []
    # Listing the catalog created its default database, in a private directory.
    assert not Path("spark-warehouse").exists()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM parquet.`{granted}`",
        "SELECT * FROM {placeholder}",
        "SELECT * FROM global_temp.x",
        "SELECT * FROM range(10)",
        "SELECT * FROM identifier('{alias}')",
        "SELECT reflect('java.lang.System', 'getProperty', 'user.home') AS x",
        "SELECT java_method('java.lang.System', 'getenv', 'HOME') AS x",
        "SELECT input_file_name() AS f FROM {alias}",
        "SELECT current_user() AS u",
        "SELECT `user` AS u FROM {alias}",
        "SELECT version() AS v",
        "SELECT xpath_string('<a>1</a>', 'a') AS x",
    ],
)
def test_spark_escape_hatches_are_refused(
    engine: SparkEngine, parquet: dict[str, Source], sql: str
):
    text = sql.format(granted=parquet[TABLE].files[0], placeholder=SOURCE_PLACEHOLDER, alias=ALIAS)
    with pytest.raises(EngineError) as info:
        engine.run(plan(text), parquet)
    assert str(info.value) == "the query failed"


def test_tables_of_the_shared_catalog_are_unreachable(
    engine: SparkEngine, parquet: dict[str, Source]
):
    """Spark's catalog is shared by every session of the process: a view someone else
    created can be named from the query's session, so the engine must refuse the name."""
    root = spark_session()
    root.sql(f"CREATE OR REPLACE VIEW lm_elsewhere AS SELECT '{HIDDEN_NAME}' AS s")
    try:
        with engine.sandbox(plan(f"SELECT * FROM {ALIAS}"), parquet) as session:
            assert session.sql("SELECT s FROM lm_elsewhere").collect()[0].s == HIDDEN_NAME
        for sql in (
            "SELECT * FROM lm_elsewhere",
            "SELECT * FROM default.lm_elsewhere",
            # a non-recursive CTE's body cannot see the CTE itself: Spark reads the view
            "WITH lm_elsewhere AS (SELECT * FROM lm_elsewhere) SELECT * FROM lm_elsewhere",
            f"WITH a AS (SELECT * FROM lm_elsewhere), lm_elsewhere AS (SELECT * FROM {ALIAS}) "
            "SELECT * FROM a",
        ):
            with pytest.raises(EngineError) as info:
                engine.run(plan(sql), parquet)
            assert "not a governed relation" in info.value.detail
        ctes = (
            f"WITH a AS (SELECT * FROM {ALIAS}), b AS (SELECT * FROM a) "
            f"SELECT b.* FROM b JOIN (WITH d AS (SELECT id FROM b) SELECT * FROM d) AS c "
            "ON b.id = c.id"
        )
        assert rows(engine.run(plan(ctes), parquet)) == EXPECTED
    finally:
        root.sql("DROP VIEW IF EXISTS lm_elsewhere")


@pytest.mark.parametrize(
    "sql",
    [
        "SET spark.sql.runSQLOnFiles = true",
        f"EXPLAIN SELECT * FROM {ALIAS}",
        f"CACHE TABLE {ALIAS}",
        f"CREATE TEMPORARY VIEW v AS SELECT * FROM {ALIAS}",
        f"INSERT INTO {ALIAS} SELECT * FROM {ALIAS}",
    ],
)
def test_only_one_query_runs(engine: SparkEngine, parquet: dict[str, Source], sql: str):
    with pytest.raises(EngineError) as info:
        engine.run(plan(sql), parquet)
    assert "query" in info.value.detail
    assert spark_session().conf.get("spark.sql.runSQLOnFiles") == "false"


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 1; SET spark.sql.runSQLOnFiles = true",
        "SELECT 1; SELECT 2",
        "BEGIN SELECT 1; END",
        f"SELECT * FROM {ALIAS} -- ",
    ],
)
def test_stacked_statements_are_refused(engine: SparkEngine, parquet: dict[str, Source], text):
    smuggled = exp.Command(this=text)
    if text.endswith("-- "):  # a comment that would swallow nothing, still one query
        assert rows(engine.run(Plan(smuggled, (BASIC,), (TABLE,)), parquet)) == EXPECTED
        return
    with pytest.raises(EngineError, match="the query failed") as info:
        engine.run(Plan(smuggled, (BASIC,), (TABLE,)), parquet)
    assert "exactly one query" in info.value.detail or "ParseError" in info.value.detail


# ---------------------------------------------------------------- limits and errors


BIG = relation(policy({"x": "int64"}, {}), table="sales.crm.big")
#: 4e10 pairs. Spark kills a task only between the records it reads, so the runaway is
#: a join of governed rows (as every consumer query is), not of generated ones.
RUNAWAY = f"SELECT count(*) AS n FROM {ALIAS} AS a CROSS JOIN {ALIAS} AS b WHERE a.x <> b.x"


@pytest.fixture(scope="module")
def big(data: Path) -> dict[str, Source]:
    path = data / "big.parquet"
    pq.write_table(pa.table({"x": pa.array(range(200_000), pa.int64())}), path)
    return {BIG.table: Source("parquet", (str(path),))}


def test_timeout_cancels_a_runaway_cross_join(
    engine: SparkEngine, big: dict[str, Source], parquet: dict[str, Source]
):
    started = time.monotonic()
    with pytest.raises(QueryTimeout) as info:
        engine.run(plan(RUNAWAY, BIG), big, Limits(timeout_seconds=2))
    assert time.monotonic() - started < 10  # the cross join alone would take minutes
    assert str(info.value) == "the query ran longer than 2 seconds"
    assert isinstance(info.value, TimeoutError)
    # The cancelled tasks gave their cores back: a query needing both runs at once.
    started = time.monotonic()
    sql = f"SELECT count(DISTINCT x % 7) AS n FROM {ALIAS}"
    assert engine.run(plan(sql, BIG), big, Limits(timeout_seconds=20)).to_pylist() == [{"n": 7}]
    assert time.monotonic() - started < 15


def test_a_timeout_cancels_only_its_own_query(
    engine: SparkEngine, big: dict[str, Source], parquet: dict[str, Source]
):
    done: list[object] = []

    def other() -> None:
        time.sleep(0.5)
        done.append(rows(engine.run(plan(f"SELECT * FROM {ALIAS}"), parquet)))

    thread = threading.Thread(target=other)
    thread.start()
    with pytest.raises(QueryTimeout):
        engine.run(plan(RUNAWAY, BIG), big, Limits(timeout_seconds=3))
    thread.join()
    assert done == [EXPECTED]


def test_max_rows(engine: SparkEngine, parquet: dict[str, Source]):
    limits = Limits(max_rows=100_000)
    sql = "SELECT explode(array_repeat(0, {n})) AS x"
    assert engine.run(plan(sql.format(n=100_000)), parquet, limits).num_rows == 100_000
    with pytest.raises(QueryTooLarge, match="more than 100000 rows"):
        engine.run(plan(sql.format(n=100_001)), parquet, limits)
    with pytest.raises(QueryTooLarge):
        engine.run(plan(f"SELECT * FROM {ALIAS}"), parquet, Limits(max_rows=1))
    assert engine.run(plan(f"SELECT * FROM {ALIAS}"), parquet, Limits(max_rows=2)).num_rows == 2


@pytest.mark.parametrize(
    ("sql", "detail"),
    [
        (f"SELECT no_such_column FROM {ALIAS}", "no_such_column"),
        (f"SELECT CAST(name AS INT) AS x FROM {ALIAS}", "CAST_INVALID_INPUT"),
    ],
)
def test_errors_are_generic_with_detail(
    engine: SparkEngine, parquet: dict[str, Source], sql: str, detail: str
):
    with pytest.raises(EngineError) as info:
        engine.run(plan(sql), parquet)
    assert str(info.value) == "the query failed"
    assert detail in info.value.detail
    assert "\tat " not in info.value.detail  # no JVM stack trace either


# ---------------------------------------------------------------- fail closed on bad input


def test_missing_source_fails_closed(engine: SparkEngine):
    with pytest.raises(EngineError, match="the query failed") as info:
        engine.run(plan(f"SELECT * FROM {ALIAS}"), {})
    assert TABLE in info.value.detail


@pytest.mark.parametrize(
    "text",
    [
        'SELECT "id" FROM "other_table"',
        'SELECT "id" FROM "__lm_source" JOIN "__lm_source" AS b ON TRUE',
        'SELECT "id" FROM "__lm_source" WHERE "id" IN (SELECT 1 FROM "__lm_source")',
        'SELECT "id" FROM "__lm_source" GROUP BY "id"',
        'SELECT "id" FROM "__lm_source" LIMIT 1',
    ],
)
def test_relation_other_than_a_plain_policy_select_is_refused(
    engine: SparkEngine, parquet: dict[str, Source], text: str
):
    select = sqlglot.parse_one(text)
    assert isinstance(select, exp.Select)
    with pytest.raises(EngineError):
        engine.run(plan(f"SELECT * FROM {ALIAS}", relation(select)), parquet)


@pytest.mark.parametrize("alias", ["Bad", "x; DROP", "a-b", ""])
def test_bad_alias_is_refused(engine: SparkEngine, parquet: dict[str, Source], alias: str):
    with pytest.raises(EngineError):
        engine.run(plan("SELECT 1", relation(BASIC.select, alias=alias)), parquet)


@pytest.mark.parametrize("name", ["a b%20c#d.parquet", "x\\y.parquet"])
def test_source_paths_are_read_literally(
    engine: SparkEngine, duck: DuckDBEngine, tmp_path: Path, name: str
):
    path = tmp_path / name
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    sources = {TABLE: Source("parquet", (str(path),))}
    if "\\" in name:  # Hadoop would read a backslash as a glob escape
        with pytest.raises(EngineError, match="the query failed"):
            engine.run(plan(f"SELECT * FROM {ALIAS}"), sources)
        return
    assert rows(same_as_duckdb(engine, duck, f"SELECT * FROM {ALIAS}", sources)) == EXPECTED


@pytest.mark.parametrize("catalogued", [False, True], ids=["inferred", "catalogued"])
def test_a_file_rewritten_in_place_is_read_as_it_is_now(
    engine: SparkEngine, tmp_path: Path, catalogued: bool
):
    """Reads are planned once per exact file state and reused: the same path with new
    contents (another size and modification time) is planned and read anew, and a file
    gone since is not read from an old plan."""
    path = tmp_path / "people.parquet"
    source = Source("parquet", (str(path),))
    if catalogued:
        columns = tuple(SourceColumn(c, t, c) for c, t in BASIC_TYPES.items())
        schemas = (pa.Table.from_pylist(ROWS).schema,)
        source = Source("parquet", source.files, columns=columns, file_schemas=schemas)
    sql = f"SELECT id FROM {ALIAS}"
    pq.write_table(pa.Table.from_pylist(ROWS[:1]), path)
    for _ in range(2):
        assert [r["id"] for r in rows(engine.run(plan(sql), {TABLE: source}))] == [1]
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    assert [r["id"] for r in rows(engine.run(plan(sql), {TABLE: source}))] == [1, 2]
    path.unlink()
    with pytest.raises(EngineError, match=f"table {TABLE} is unavailable"):
        engine.run(plan(sql), {TABLE: source})


def test_load_engine():
    assert isinstance(load_engine("spark"), SparkEngine)


# ---------------------------------------------------------------- end to end


def grant(mesh: Mesh, as_: str, **kw: object) -> str:
    return mesh.access.grant(govmesh.request(kw), as_=as_)["id"]


def test_mesh_query_on_spark_equals_duckdb(gov: Mesh, engine: SparkEngine) -> None:
    """A cross-domain join under two policies (row filter + hash mask on one side)."""
    grant(
        gov,
        "steward@cb",
        grant="SELECT",
        on="cb.sales.orders",
        to="analytics",
        grantable=True,
        row_filter="region = 'eu'",
    )
    grant(
        gov, "steward@ib", grant="SELECT", on="ib.wealth.holdings", to="analytics", grantable=True
    )
    for table in ("cb.sales.orders", "ib.wealth.holdings"):
        grant(gov, "admin@analytics", grant="SELECT", on=table, to="analyst@analytics")
    gov.access.mask(column="cb.sales.orders.email", spec="hash", as_="steward@cb")
    sql = (
        "SELECT o.id, o.dt, o.region, o.email, h.asset_class, h.value "
        "FROM cb.sales.orders o JOIN ib.wealth.holdings h ON h.customer_id = o.id "
        "WHERE o.id < 5 AND CAST(CASE WHEN o.region = 'us' THEN 'x' ELSE '1' END AS INT) = 1 "
        "ORDER BY o.dt"
    )
    duck = gov.query(sql, as_="analyst@analytics", engine="duckdb")
    spark = gov.query(sql, as_="analyst@analytics", engine="spark")
    assert gov.audit.records(action="query", limit=1)[0].details["engine"] == "spark"
    assert spark.column_names == duck.column_names
    assert spark.to_pylist() == duck.to_pylist()
    email = apply_mask(parse_mask("hash"), "a@x", hash_key=keys.mask_hash_key(gov.home))
    assert [(r["id"], r["region"], r["email"]) for r in spark.to_pylist()] == [(1, "eu", email)] * 2
    # Spark-only reach-outs that the planner lets through as plain names or strings.
    leak = gov.query(
        "SELECT '${env:HOME}' AS h FROM cb.sales.orders LIMIT 1",
        as_="analyst@analytics",
        engine="spark",
    )
    assert leak.to_pylist() == [{"h": "${env:HOME}"}]
    # Refused by the planner (a bare name that is no column) or else by the engine.
    with pytest.raises(QueryFailed):
        gov.query("SELECT user AS u FROM cb.sales.orders", as_="analyst@analytics", engine="spark")
    assert gov.audit.records(action="query", limit=1)[0].outcome in ("denied", "aborted")
