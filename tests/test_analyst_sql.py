"""Everyday analyst SQL, governed, against the raw engine on the same files.

A corpus of what analysts type (dates, regex, strings, statistics, JSON, nested types,
grouping sets, pivots, lateral joins, window functions), each query run twice: through
``Mesh.query`` by a user granted the whole table, and by a raw DuckDB connection over the
same Parquet file. The answers must be equal. On Spark the same text is translated
(DuckDB's dialect is the mesh's query language); where Spark has an equivalent the
governed Spark answer must equal raw DuckDB's too, and where it has none the query is
refused with a reason that names what is missing.

The corpus grows with every "this should work" a user reports; the function policy is
designed for the class (``lakemesh.engines.functions``), this corpus keeps it honest.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakemesh.mesh import Mesh
from lakemesh.query.governed import QueryFailed
from tests import govmesh

TABLE = "shop.sales.orders"
ANALYST = "ann@analytics"


def _rows() -> pa.Table:
    regions = ["eu", "us", "apac", "eu", "us"]
    names = ["Ann Lee", "bob smith", "Cyd O'Neil", "dan", "Eve  Adams"]
    rows: dict[str, list[Any]] = {k: [] for k in _SCHEMA.names}
    start = datetime(2024, 1, 1, 8, 30)
    for i in range(40):
        rows["order_id"].append(1000 + i)
        rows["customer"].append(names[i % 5])
        rows["email"].append(
            f"{names[i % 5].split()[0].lower()}{i}@example.{'com' if i % 3 else 'org'}"
        )
        rows["region"].append(regions[i % 5] if i != 7 else None)
        rows["amount"].append(Decimal(f"{(i * 37) % 500}.{i % 100:02d}"))
        rows["qty"].append((i * 7) % 11 if i % 9 else None)
        rows["discount"].append(round(((i * 13) % 20) / 100, 2))
        rows["ordered_at"].append(start + timedelta(days=i * 3, hours=i % 7, minutes=i))
        rows["ship_date"].append(date(2024, 1, 3) + timedelta(days=i * 3 + i % 4))
        rows["tags"].append([t for t in ("gift", "promo", "rush") if (i + len(t)) % 3 == 0] or None)
        rows["addr"].append(
            {
                "street": f"{i} Main St",
                "zip": f"{10000 + i * 7:05d}",
                "city": ["Oslo", "Rome", "Lima"][i % 3],
            }
        )
        rows["attrs"].append(
            [("channel", ["web", "app", "store"][i % 3]), ("vip", str(i % 4 == 0))]
        )
        rows["payload"].append(
            f'{{"device": "{["ios", "android", "web"][i % 3]}", "score": {i % 10}}}'
        )
        rows["note"].append(None if i % 6 == 0 else f"ref-{i:04d}/{names[i % 5][:3].upper()}")
    return pa.table(rows, schema=_SCHEMA)


_SCHEMA = pa.schema(
    [
        ("order_id", pa.int64()),
        ("customer", pa.string()),
        ("email", pa.string()),
        ("region", pa.string()),
        ("amount", pa.decimal128(10, 2)),
        ("qty", pa.int32()),
        ("discount", pa.float64()),
        ("ordered_at", pa.timestamp("us")),
        ("ship_date", pa.date32()),
        ("tags", pa.list_(pa.string())),
        ("addr", pa.struct([("street", pa.string()), ("zip", pa.string()), ("city", pa.string())])),
        ("attrs", pa.map_(pa.string(), pa.string())),
        ("payload", pa.string()),
        ("note", pa.string()),
    ]
)


@dataclass(frozen=True)
class Q:
    """One analyst query: its text (naming ``shop.sales.orders``) and what Spark does
    with it: ``same`` answer as DuckDB's, ``refused`` (no equivalent), or ``skip``
    (an equivalent whose answer legitimately differs, e.g. Spark's approximate
    percentiles or its own regex flavour)."""

    sql: str
    spark: str = "same"
    ordered: bool = False


T = TABLE
CORPUS: list[Q] = [
    # dates and times
    Q(f"SELECT order_id, date_diff('day', CAST(ordered_at AS DATE), ship_date) AS d FROM {T}"),
    Q(f"SELECT date_part('year', ordered_at) AS y, count(*) AS n FROM {T} GROUP BY 1"),
    Q(f"SELECT extract(month FROM ship_date) AS m, count(*) AS n FROM {T} GROUP BY ALL"),
    Q(f"SELECT strftime(ordered_at, '%Y-%m') AS ym, sum(amount) AS s FROM {T} GROUP BY 1", "same"),
    Q(f"SELECT date_trunc('month', ordered_at) AS m, count(*) AS n FROM {T} GROUP BY 1"),
    Q(f"SELECT date_trunc('week', ship_date) AS w, count(*) AS n FROM {T} GROUP BY 1"),
    Q(f"SELECT make_date(2024, 2, 29) AS d, count(*) AS n FROM {T}"),
    Q(f"SELECT count(*) AS n FROM {T} WHERE ship_date < current_date"),
    Q(
        f"SELECT order_id FROM {T} WHERE ordered_at BETWEEN TIMESTAMP '2024-02-01' AND TIMESTAMP '2024-03-01'"
    ),
    Q(f"SELECT order_id, ship_date + INTERVAL 7 DAY AS due FROM {T} WHERE order_id < 1005"),
    Q(f"SELECT dayname(ship_date) AS d, count(*) AS n FROM {T} GROUP BY 1"),
    Q(f"SELECT monthname(ordered_at) AS m, count(*) AS n FROM {T} GROUP BY 1"),
    Q(f"SELECT last_day(ship_date) AS l, count(*) AS n FROM {T} GROUP BY 1"),
    Q(
        f"SELECT year(ordered_at) AS y, month(ordered_at) AS m, day(ordered_at) AS d FROM {T} WHERE order_id = 1010"
    ),
    Q(
        f"SELECT order_id, age(TIMESTAMP '2025-01-01', ordered_at) AS a FROM {T} WHERE order_id < 1003",
        "refused",
    ),
    Q(f"SELECT epoch(ordered_at) AS e FROM {T} WHERE order_id = 1001", "same"),
    # regex and strings
    Q(f"SELECT order_id FROM {T} WHERE regexp_matches(email, '^[a-c]')"),
    Q(f"SELECT order_id FROM {T} WHERE email ~ '\\.org$'"),
    Q(f"SELECT order_id FROM {T} WHERE customer SIMILAR TO '[A-Z].*'", "refused"),
    Q(
        f"SELECT regexp_replace(customer, '\\s+', ' ', 'g') AS c, count(*) AS n FROM {T} GROUP BY 1",
        "same",
    ),
    Q(f"SELECT regexp_extract(email, '@(.*)$', 1) AS dom, count(*) AS n FROM {T} GROUP BY 1"),
    Q(f"SELECT split_part(email, '@', 2) AS dom, count(*) AS n FROM {T} GROUP BY 1"),
    Q(f"SELECT concat_ws('-', region, customer) AS k FROM {T} WHERE order_id < 1006"),
    Q(f"SELECT lpad(CAST(order_id AS VARCHAR), 8, '0') AS p FROM {T} WHERE order_id < 1003"),
    Q(
        f"SELECT upper(customer) AS u, lower(customer) AS l, length(customer) AS n FROM {T} WHERE order_id < 1005"
    ),
    Q(
        f"SELECT trim(customer) AS t, replace(customer, ' ', '_') AS r FROM {T} WHERE order_id < 1005"
    ),
    Q(
        f"SELECT left(email, 3) AS a, right(email, 3) AS b, substring(email, 2, 4) AS c FROM {T} WHERE order_id < 1004"
    ),
    Q(f"SELECT order_id FROM {T} WHERE customer ILIKE '%smith%'"),
    Q(f"SELECT order_id FROM {T} WHERE note LIKE 'ref-00%'"),
    Q(f"SELECT starts_with(email, 'ann') AS s, count(*) AS n FROM {T} GROUP BY 1", "same"),
    Q(f"SELECT strpos(email, '@') AS p FROM {T} WHERE order_id < 1004"),
    Q(f"SELECT md5(email) AS h FROM {T} WHERE order_id < 1003"),
    Q(
        f"SELECT string_agg(customer, ',' ORDER BY order_id) AS s FROM {T} WHERE order_id < 1005",
        "same",
    ),
    Q(f"SELECT reverse(customer) AS r FROM {T} WHERE order_id = 1001"),
    Q(
        f"SELECT coalesce(note, 'none') AS n, nullif(region, 'eu') AS r FROM {T} WHERE order_id < 1008"
    ),
    # aggregates and statistics
    Q(f"SELECT count_if(qty > 5) AS c, any_value(1) AS a FROM {T}"),
    Q(f"SELECT arg_max(order_id, amount) AS a, arg_min(order_id, amount) AS b FROM {T}"),
    Q(f"SELECT region, median(qty) AS m FROM {T} GROUP BY region"),
    Q(f"SELECT region, median(amount) AS m FROM {T} GROUP BY region", "skip"),  # decimal
    Q(f"SELECT quantile_disc(discount, 0.25) AS q FROM {T}"),
    Q(f"SELECT quantile_cont(discount, 0.9) AS q FROM {T}"),
    Q(f"SELECT quantile_disc(qty, 0.5) AS q FROM {T}"),
    Q(f"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY discount) AS p FROM {T}"),
    Q(f"SELECT mode(order_id % 3) AS m FROM {T}"),
    Q(f"SELECT round(stddev_samp(discount), 6) AS s, round(var_pop(discount), 6) AS v FROM {T}"),
    Q(
        f"SELECT round(corr(qty, discount), 6) AS c, round(covar_samp(qty, discount), 6) AS v FROM {T}"
    ),
    Q(
        f"SELECT region, count(DISTINCT customer) AS c, sum(amount) AS s, avg(qty) AS a FROM {T} GROUP BY region"
    ),
    Q(f"SELECT count(*) FILTER (WHERE discount > 0.1) AS c FROM {T}"),
    Q(f"SELECT bool_or(qty IS NULL) AS a, bool_and(amount >= 0) AS b FROM {T}"),
    Q(f"SELECT approx_count_distinct(customer) AS c FROM {T}", "same"),
    Q(f"SELECT max_by(customer, amount) AS m FROM {T}"),
    Q(f"SELECT region, list(order_id ORDER BY order_id) AS ids FROM {T} GROUP BY region", "same"),
    # window functions
    Q(f"SELECT order_id, ntile(4) OVER (ORDER BY order_id) AS q FROM {T}"),
    Q(f"SELECT order_id, percent_rank() OVER (ORDER BY amount, order_id) AS p FROM {T}"),
    Q(f"SELECT order_id, cume_dist() OVER (ORDER BY qty NULLS FIRST, order_id) AS c FROM {T}"),
    Q(f"SELECT order_id, lag(amount) OVER (ORDER BY order_id) AS prev FROM {T}"),
    Q(
        f"SELECT order_id, lead(amount, 2, 0) OVER (PARTITION BY region ORDER BY order_id) AS nxt FROM {T}"
    ),
    Q(
        f"SELECT order_id, sum(amount) OVER (PARTITION BY region ORDER BY order_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run FROM {T}"
    ),
    Q(
        f"SELECT order_id, rank() OVER w AS r, dense_rank() OVER w AS d FROM {T} WINDOW w AS (ORDER BY qty NULLS LAST)"
    ),
    Q(
        f"SELECT region, order_id FROM {T} QUALIFY row_number() OVER (PARTITION BY region ORDER BY amount DESC, order_id) = 1"
    ),
    Q(
        f"SELECT order_id, first_value(customer) OVER (PARTITION BY region ORDER BY order_id) AS f FROM {T}"
    ),
    # grouping sets, distinct on, set operations
    Q(f"SELECT region, customer, sum(amount) AS s FROM {T} GROUP BY ROLLUP (region, customer)"),
    Q(
        f"SELECT region, date_part('year', ship_date) AS y, count(*) AS n FROM {T} GROUP BY CUBE (region, y)",
        "same",
    ),
    Q(
        f"SELECT region, customer, count(*) AS n FROM {T} GROUP BY GROUPING SETS ((region), (customer), ())"
    ),
    Q(
        f"SELECT region, grouping(region) AS g, count(*) AS n FROM {T} GROUP BY ROLLUP (region)",
        "same",
    ),
    Q(
        f"SELECT DISTINCT ON (region) region, order_id, amount FROM {T} ORDER BY region, amount DESC, order_id"
    ),
    Q(
        f"SELECT customer FROM {T} WHERE region = 'eu' INTERSECT SELECT customer FROM {T} WHERE region = 'us'"
    ),
    Q(f"SELECT customer FROM {T} EXCEPT SELECT customer FROM {T} WHERE qty > 3"),
    Q(f"SELECT region FROM {T} UNION SELECT 'none'"),
    # pivots, lateral, values, unnest
    Q(f"PIVOT (SELECT region, qty FROM {T}) ON region IN ('eu', 'us') USING sum(qty)", "refused"),
    Q(
        f"SELECT * FROM (SELECT region, amount FROM {T}) PIVOT (sum(amount) FOR region IN ('eu', 'us', 'apac'))"
    ),
    Q(
        f"SELECT order_id, k, v FROM (SELECT order_id, customer, region FROM {T} WHERE order_id < 1003) UNPIVOT (v FOR k IN (customer, region))"
    ),
    Q(
        f"SELECT o.order_id, x.n FROM {T} o, LATERAL (SELECT count(*) AS n FROM {T} i WHERE i.region = o.region AND i.order_id < o.order_id) x",
        "refused",
    ),
    Q(
        f"SELECT o.order_id, x.y FROM {T} o, LATERAL (SELECT o.qty * 2 AS y) x WHERE o.order_id < 1005"
    ),
    Q(
        f"SELECT v.code, v.label, count(o.order_id) AS n FROM (VALUES ('eu', 'Europe'), ('us', 'USA')) v(code, label) LEFT JOIN {T} o ON o.region = v.code GROUP BY ALL"
    ),
    Q(f"SELECT unnest(tags) AS tag, count(*) AS n FROM {T} GROUP BY 1"),
    Q(f"SELECT o.order_id, t.tag FROM {T} o, unnest(o.tags) AS t(tag)"),
    # nested access and JSON
    Q(f"SELECT tags[1] AS first_tag, array_length(tags) AS n FROM {T} WHERE tags IS NOT NULL"),
    Q(f"SELECT len(tags) AS n FROM {T} WHERE tags IS NOT NULL", "skip"),  # len() of a list
    Q(f"SELECT order_id, tags[2] AS second, tags[-1] AS last FROM {T}"),
    Q(f"SELECT order_id, tags[qty % 3 + 1] AS t FROM {T} WHERE qty IS NOT NULL"),
    Q(f"SELECT attrs['nope'] AS x, count(*) AS n FROM {T} GROUP BY 1"),
    Q(f"SELECT o.addr.city AS c, count(*) AS n FROM {T} o GROUP BY 1"),
    Q(f"SELECT addr.zip AS z FROM {T} WHERE order_id < 1004"),
    Q(f"SELECT addr['street'] AS s FROM {T} WHERE order_id < 1003"),
    Q(f"SELECT attrs['channel'] AS ch, count(*) AS n FROM {T} GROUP BY 1"),
    Q(f"SELECT struct_extract(addr, 'city') AS c FROM {T} WHERE order_id = 1005"),
    Q(f"SELECT list_contains(tags, 'gift') AS g, count(*) AS n FROM {T} GROUP BY 1"),
    Q(f"SELECT list_transform(tags, lambda x: upper(x)) AS t FROM {T} WHERE order_id < 1004"),
    Q(f"SELECT list_filter(tags, lambda x: x <> 'promo') AS t FROM {T} WHERE order_id < 1006"),
    Q(f"SELECT json_extract_string(payload, '$.device') AS d, count(*) AS n FROM {T} GROUP BY 1"),
    Q(f"SELECT payload ->> '$.device' AS d, count(*) AS n FROM {T} GROUP BY 1"),
    Q(
        f"SELECT CAST(json_extract(payload, '$.score') AS INTEGER) AS s FROM {T} WHERE order_id < 1004",
        "same",
    ),
    Q(f"SELECT {{'id': order_id, 'r': region}} AS s FROM {T} WHERE order_id < 1003", "same"),
    Q(f"SELECT [order_id, qty] AS l FROM {T} WHERE order_id < 1003"),
    # star variants and COLUMNS
    Q(f"SELECT * EXCLUDE (addr, attrs, tags, payload) FROM {T} WHERE order_id < 1003", "same"),
    Q(
        f"SELECT * REPLACE (upper(customer) AS customer) FROM (SELECT order_id, customer FROM {T}) WHERE order_id < 1003",
        "refused",
    ),
    Q(f"SELECT COLUMNS('^(order_id|qty)$') FROM {T} WHERE order_id < 1004", "refused"),
    Q(f"SELECT max(COLUMNS('amount|discount')) FROM {T}", "refused"),
    # everyday shapes
    Q(
        f"WITH r AS (SELECT region, sum(amount) AS s FROM {T} GROUP BY region) SELECT region, s, s / sum(s) OVER () AS share FROM r"
    ),
    Q(
        f"SELECT CASE WHEN amount > 250 THEN 'big' WHEN amount > 100 THEN 'mid' ELSE 'small' END AS b, count(*) AS n FROM {T} GROUP BY 1"
    ),
    Q(
        f"SELECT region, round(avg(amount), 2) AS a FROM {T} GROUP BY region HAVING count(*) > 5 ORDER BY a DESC",
        ordered=True,
    ),
    Q(f"SELECT order_id FROM {T} ORDER BY amount DESC, order_id LIMIT 5 OFFSET 2", ordered=True),
    Q(
        f"SELECT order_id FROM {T} WHERE region IN (SELECT region FROM {T} GROUP BY region HAVING sum(qty) > 30)"
    ),
    Q(f"SELECT greatest(qty, 5) AS g, least(discount, 0.1) AS l FROM {T} WHERE order_id < 1005"),
    Q(f"SELECT CAST(amount AS DOUBLE) / nullif(qty, 0) AS unit FROM {T} WHERE order_id < 1010"),
    Q(f"SELECT TRY_CAST(note AS INTEGER) AS n FROM {T} WHERE order_id < 1004"),
    Q(
        f"SELECT abs(-qty) AS a, sign(discount - 0.1) AS s, floor(discount * 10) AS f, ceil(amount) AS c FROM {T} WHERE order_id < 1005"
    ),
    Q(f"SELECT order_id % 7 AS m, count(*) AS n FROM {T} GROUP BY 1"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mesh, Path]]:
    base = tmp_path_factory.mktemp("analyst")
    data = base / "shop" / "sales" / "orders"
    data.mkdir(parents=True)
    path = data / "part-0.parquet"
    pq.write_table(_rows(), path)
    mesh = Mesh.init(base / "home")
    mesh.domains.create("shop", str(base / "shop"), create=True)
    mesh.domains.crawl("shop")
    mesh.domains.create("analytics", str(base / "analytics"), kind="consumer", create=True)
    mesh.domains.sync()
    mesh.access.create_user("steward@shop", "steward")
    mesh.access.create_user("admin@analytics", "admin")
    mesh.access.create_user(ANALYST, "member")
    mesh.access.grant(
        govmesh.request({"grant": "SELECT", "on": TABLE, "to": "analytics", "grantable": True}),
        as_="steward@shop",
    )
    mesh.access.grant(
        govmesh.request({"grant": "SELECT", "on": TABLE, "to": ANALYST}), as_="admin@analytics"
    )
    yield mesh, path
    mesh.close()


def raw_duckdb(sql: str, path: Path) -> pa.Table:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("ATTACH ':memory:' AS shop")
    con.execute("CREATE SCHEMA shop.sales")
    con.execute(f"CREATE VIEW shop.sales.orders AS SELECT * FROM read_parquet('{path}')")
    return con.sql(sql).to_arrow_table()


def _value(v: Any) -> Any:
    """Compare by value: decimals as floats, UTC timestamps as naive ones (DuckDB's
    TIMESTAMP is naive, Spark's carries the session zone, UTC here), dates as midnights
    (DuckDB's ``date + INTERVAL`` is a timestamp, Spark's a date)."""
    if isinstance(v, datetime):
        return v.replace(tzinfo=None) if v.tzinfo is not None else v
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day)
    if isinstance(v, Decimal):
        v = float(v)
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 6)
    if isinstance(v, dict):
        return tuple(sorted((k, _value(x)) for k, x in v.items()))
    if isinstance(v, list):
        return tuple(_value(x) for x in v)
    return v


def values(table: pa.Table, ordered: bool) -> list[tuple[Any, ...]]:
    rows = [tuple(_value(v) for v in row.values()) for row in table.to_pylist()]
    return rows if ordered else sorted(rows, key=repr)


@pytest.mark.parametrize("q", CORPUS, ids=[f"q{i:03d}" for i in range(len(CORPUS))])
def test_duckdb_matches_raw(world: tuple[Mesh, Path], q: Q) -> None:
    mesh, path = world
    expected = raw_duckdb(q.sql, path)
    governed = mesh.query(q.sql, as_=ANALYST)
    assert governed.num_rows == expected.num_rows
    assert values(governed, q.ordered) == values(expected, q.ordered)


@pytest.mark.spark
@pytest.mark.parametrize("q", CORPUS, ids=[f"q{i:03d}" for i in range(len(CORPUS))])
def test_spark_translates_or_names_what_is_missing(world: tuple[Mesh, Path], q: Q) -> None:
    mesh, path = world
    if q.spark == "skip":
        pytest.skip("Spark's equivalent answers differently (documented in the corpus)")
    if q.spark == "refused":
        with pytest.raises(
            QueryFailed,
            match=r"^query refused: .* (not available|does not exist) on the spark engine",
        ):
            mesh.query(q.sql, as_=ANALYST, engine="spark")
        return
    expected = raw_duckdb(q.sql, path)
    governed = mesh.query(q.sql, as_=ANALYST, engine="spark")
    assert values(governed, q.ordered) == values(expected, q.ordered)


def test_corpus_size() -> None:
    """The closing note of issue 9 quotes these numbers."""
    assert len(CORPUS) >= 100
