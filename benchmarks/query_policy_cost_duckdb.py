"""What the policy itself costs: a governed query vs the raw query on the same files."""

from __future__ import annotations

import time
from typing import Any

import duckdb

from benchmarks._common import log, median, result
from benchmarks._orders import ANALYST, QUERIES, geomean_result
from lakemesh.engines import Limits

NAME = "query_policy_cost_duckdb"
TARGET_RATIO = 1.2
DESCRIPTION = """
The four queries of `query_enforcement_overhead_duckdb` on the same 24 million orders.
Ours: `Mesh.query` end to end, as there. Peer: the consumer's query as written, with no
policy at all (no row filter, no masks), over `read_parquet` of the same files on one
long-lived DuckDB connection with the same limits. Unlike the enforcement benchmark this
includes the work the policy asks for (evaluating the row filter, hashing e-mails) and
what it saves (hidden rows are skipped). Interleaved, order alternating, medians; the
reported value is the geometric mean of the per-query ratios. Target: <= 1.2.
"""


def run(ctx: Any) -> list[dict[str, Any]]:
    orders = ctx.orders()
    mesh = orders.ensure_mesh()
    limits = Limits(memory_limit="2GB", threads=2, timeout_seconds=300, max_rows=10_000)
    peer = duckdb.connect(config={"threads": 2, "memory_limit": "2GB"})
    pairs = 5 if ctx.size.tables < 100 else 15
    rows: list[dict[str, Any]] = []
    ratios: list[float] = []
    try:
        for query in QUERIES:
            raw_sql = orders.raw(query)

            def governed(sql: str = query.governed) -> float:
                t0 = time.perf_counter()
                mesh.query(sql, as_=ANALYST, limits=limits)
                return (time.perf_counter() - t0) * 1000

            def raw(sql: str = raw_sql) -> float:
                t0 = time.perf_counter()
                peer.sql(sql).to_arrow_table()
                return (time.perf_counter() - t0) * 1000

            governed()
            raw()
            ours: list[float] = []
            theirs: list[float] = []
            for i in range(pairs):
                for fn, out in ((governed, ours), (raw, theirs))[:: 1 if i % 2 == 0 else -1]:
                    time.sleep(0.03)
                    out.append(fn())
            g, r = median(ours), median(theirs)
            ratios.append(g / r)
            log(f"{NAME} {query.name}: governed {g:.1f} ms, raw {r:.1f} ms ({g / r:.2f}x)")
            rows.append(
                result(
                    NAME,
                    f"{query.name}_median_ms",
                    g,
                    "ms",
                    peer="raw DuckDB, no policy",
                    peer_value=r,
                    target="info",
                    meets=True,
                )
            )
    finally:
        peer.close()
    rows.append(geomean_result(NAME, ratios, TARGET_RATIO))
    return rows
