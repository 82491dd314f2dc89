"""What governance costs a Spark query: lakemesh query vs the same answer by hand."""

from __future__ import annotations

import time
from typing import Any

from benchmarks._common import log, median, result
from benchmarks._orders import ANALYST, QUERIES, OrdersMesh, geomean_result, same_rows
from lakemesh.engines import Limits

NAME = "query_enforcement_overhead_spark"
TARGET_RATIO = 1.02
DESCRIPTION = """
The four queries and the policy of `query_enforcement_overhead_duckdb`, on the same 24
million orders, on Spark in local mode (`local[2]`, one JVM for the process). Ours:
`Mesh.query(..., engine="spark")` end to end (policy refresh, authorization, rewrite, an
isolated Spark session per query with only the governed relations registered, the audit
record). Peer: the SQL an engineer would write by hand for the same answer (same filter,
same mask expressions in Spark SQL) over temp views of the same Parquet files, in a
session of the same Spark context. Interleaved, order alternating, 3 warm-up runs each,
medians of 5 pairs per query (the first answers are checked equal). Reported per query;
the target is on the geometric mean of the ratios: <= 1.02.
"""


def run(ctx: Any) -> list[dict[str, Any]]:
    return measure(ctx.orders(), NAME, TARGET_RATIO, pairs=2 if ctx.size.tables < 100 else 5)


def measure(orders: OrdersMesh, name: str, target: float, pairs: int) -> list[dict[str, Any]]:
    """Governed vs handwritten, interleaved, on this process's Spark (whatever its master):
    one info row per query and the geometric mean of the ratios against ``target``."""
    from lakemesh.engines.spark import spark_session

    mesh = orders.ensure_mesh()
    limits = Limits(timeout_seconds=900, max_rows=10_000)
    session = spark_session().newSession()
    base = (orders.root / "shop" / "orders").as_uri()
    session.read.option("basePath", base).parquet(
        *[f"file://{f}" for f in orders.files("orders")]
    ).createOrReplaceTempView("orders_raw")
    session.read.parquet(
        *[f"file://{f}" for f in orders.files("customers")]
    ).createOrReplaceTempView("customers_raw")
    rows: list[dict[str, Any]] = []
    ratios: list[float] = []
    for query in QUERIES:
        hand_sql = orders.handwritten_spark(query, "orders_raw", "customers_raw")

        def governed(sql: str = query.governed) -> tuple[float, Any]:
            t0 = time.perf_counter()
            out = mesh.query(sql, as_=ANALYST, engine="spark", limits=limits)
            return (time.perf_counter() - t0) * 1000, out

        def by_hand(sql: str = hand_sql) -> tuple[float, Any]:
            t0 = time.perf_counter()
            out = session.sql(sql).toArrow()
            return (time.perf_counter() - t0) * 1000, out

        _, ours_first = governed()
        _, theirs_first = by_hand()
        if not same_rows(ours_first.to_pylist(), theirs_first.to_pylist()):
            raise AssertionError(f"{query.name}: governed and handwritten answers differ")
        for _ in range(2):
            governed()
            by_hand()
        ours: list[float] = []
        theirs: list[float] = []
        for i in range(pairs):
            for fn, out in ((governed, ours), (by_hand, theirs))[:: 1 if i % 2 == 0 else -1]:
                out.append(fn()[0])
        g, h = median(ours), median(theirs)
        ratios.append(g / h)
        log(f"{name} {query.name}: governed {g:.0f} ms, by hand {h:.0f} ms ({g / h:.3f}x)")
        rows.append(
            result(
                name,
                f"{query.name}_median_ms",
                g,
                "ms",
                peer="handwritten Spark SQL, same filter and masks",
                peer_value=h,
                target="info",
                meets=True,
            )
        )
    rows.append(geomean_result(name, ratios, target))
    return rows
