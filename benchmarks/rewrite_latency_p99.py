"""Latency of the governed-SQL front end: parse + validate + rewrite, no execution."""

from __future__ import annotations

import random
import time
from typing import Any

import sqlglot

from benchmarks._common import log, median, percentile, result
from lakemesh.access.authorizer import Decision, Permit
from lakemesh.access.snapshot import MaskRule

NAME = "rewrite_latency_p99"
TARGET_MS = 3.0
DESCRIPTION = """
plan_query (parse with sqlglot, validate against the allowlists, resolve and decide each
table, rewrite every table reference into its governed relation, quote identifiers) on a
mix of consumer queries: a filtered projection, a two-table join with aggregates, a CTE
with a window function, and a set operation with a subquery. Each table has 20 columns,
two permits with different row filters (so cell-level CASE expressions are built), and two
masked columns (hash and last4). Decisions come from a prepared in-memory function, so
only the front end is timed. 3 repetitions of 2,000 plans after 200 warm-up ones, each
call timed with perf_counter_ns. Peer (reported, not targeted): sqlglot.parse_one of the
same text. Target: p99 <= 3 ms.
"""

COLUMNS = ["id", "region", "amount", "email", "iban", *[f"c{i}" for i in range(15)]]
QUERIES = [
    "SELECT id, region, amount FROM sales.db.orders WHERE amount > 100 AND region = 'eu'",
    "SELECT o.region, count(*) AS n, sum(o.amount) AS total, max(c.c3) AS m "
    "FROM sales.db.orders o JOIN sales.db.customers c ON c.id = o.id "
    "WHERE o.amount BETWEEN 10 AND 1000 GROUP BY o.region ORDER BY total DESC LIMIT 10",
    "WITH recent AS (SELECT id, amount, region FROM sales.db.orders WHERE c1 IS NOT NULL) "
    "SELECT id, amount, row_number() OVER (PARTITION BY region ORDER BY amount DESC) AS rk "
    "FROM recent QUALIFY rk <= 3",
    "SELECT id FROM sales.db.orders WHERE id IN (SELECT id FROM sales.db.customers "
    "WHERE email LIKE 'a%') UNION ALL SELECT id FROM sales.db.customers WHERE amount < 5",
]


def _decision(table: str) -> Decision:
    permits = (
        Permit(frozenset(COLUMNS), "\"region\" = 'eu'", ("g1",)),
        Permit(frozenset(COLUMNS[:10]), '"amount" > 10', ("g2",)),
    )
    masks = {
        "email": MaskRule("m1", "column", f"{table}.email", "hash", None),
        "iban": MaskRule("m2", "column", f"{table}.iban", "last4", None),
    }
    return Decision(
        True,
        "analyst@analytics",
        "SELECT",
        table,
        tuple(COLUMNS),
        permits,
        masks,
        ("grant:g1", "grant:g2"),
    )


def run(ctx: Any) -> list[dict[str, Any]]:
    from lakemesh.query import plan_query

    decisions = {t: _decision(t) for t in ("sales.db.orders", "sales.db.customers")}
    types = dict.fromkeys(COLUMNS, "string") | {"id": "int64", "amount": "double"}

    def plan(sql: str) -> None:
        plan_query(
            sql,
            principal="analyst@analytics",
            decide=decisions.__getitem__,
            resolve=lambda parts: ".".join(parts) if len(parts) == 3 else None,
            column_types=lambda _: types,
            hash_key=b"k" * 32,
        )

    rnd = random.Random(7)
    n = 200 if ctx.size.reps and ctx.size.tables < 100 else 2000
    for sql in QUERIES * 50:
        plan(sql)
    ours: list[tuple[float, float]] = []
    peer: list[tuple[float, float]] = []
    for rep in range(ctx.size.reps):
        lat, base = [], []
        for _ in range(n):
            sql = rnd.choice(QUERIES)
            t0 = time.perf_counter_ns()
            plan(sql)
            t1 = time.perf_counter_ns()
            sqlglot.parse_one(sql, read="duckdb")
            t2 = time.perf_counter_ns()
            lat.append((t1 - t0) / 1e6)
            base.append((t2 - t1) / 1e6)
        ours.append((percentile(lat, 50), percentile(lat, 99)))
        peer.append((percentile(base, 50), percentile(base, 99)))
        log(
            f"{NAME} rep {rep + 1}: p50/p99 {ours[-1][0]:.3f}/{ours[-1][1]:.3f} ms "
            f"(parse alone {peer[-1][0]:.3f}/{peer[-1][1]:.3f} ms)"
        )
    p50, p99 = median([o[0] for o in ours]), median([o[1] for o in ours])
    b50, b99 = median([b[0] for b in peer]), median([b[1] for b in peer])
    return [
        result(
            NAME,
            "p50_ms",
            p50,
            "ms",
            peer="sqlglot.parse_one alone",
            peer_value=b50,
            target="info",
            meets=True,
        ),
        result(
            NAME,
            "p99_ms",
            p99,
            "ms",
            peer="sqlglot.parse_one alone",
            peer_value=b99,
            target=f"<= {TARGET_MS}",
            meets=p99 <= TARGET_MS,
        ),
    ]
