"""Latency of one partition lookup by key through the catalog API, after the syncs."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from benchmarks import _fixture as fx
from benchmarks import _pgfixture as pgfx
from benchmarks._common import log, median, percentile, result, timed
from benchmarks._pgserver import running_server
from benchmarks.sync_initial_1m_partitions import run_ours_postgres
from lakemesh.mesh import Mesh
from lakemesh.metadata.central import CentralCatalog

NAME = "partition_lookup_p99"
PEER = "bare sqlite3 prepared SELECT"
PEER_POSTGRES = "bare psycopg prepared SELECT"
TARGET_US = 100.0
BLOCK = 500  #: lookups per block; ours, the peer and the no-connection variant alternate
SEED = 20_240_101
LOOKUP = (
    'SELECT p."key", p."values", p.location, p.file_count, p.size_bytes, p.row_count, '
    "p.modified_at FROM partitions p JOIN catalog_tables ct ON ct.id = p.table_id "
    'WHERE ct.full_name = ? AND p."key" = ?'
)
DESCRIPTION = """
On the central store left by the incremental sync (1,000,000 partitions), random existing
(table, key) pairs are looked up one at a time with
CentralCatalog(store).partition(full_name, key, conn=conn) inside one held read
transaction (with mesh.store.read() as conn). Each call is timed with perf_counter_ns, from
call to returned Partition. 2,000 warm-up lookups, then 3 repetitions of 20,000 lookups
(a fresh random sample each), in blocks of 500 alternating with the peer and with the
same call without a held connection (conn=None: each lookup checks a pooled connection out
and runs its own read transaction). Peer: bare sqlite3 on the same database file, one held
read transaction, the same SELECT (catalog_tables joined to partitions by full_name and
key) through sqlite3's statement cache, fetchone. Values: median over the repetitions of
each repetition's p50 and p99 in microseconds; target p99 <= 100 us. Every lookup must
return the partition asked for. The *_postgres rows repeat the same samples afterwards on
a PostgreSQL 15 server the benchmark starts from the machine's binaries (durable defaults,
clients on its unix socket) and stops at the end, holding the same partitions: the domain
catalog as the incremental sync left it, synced in full into a fresh database (not
timed), then ANALYZE (as autovacuum would soon after a bulk load). Peer there: bare
psycopg on that database, one held REPEATABLE READ transaction (as store.read() opens),
the same SELECT as a server-side prepared statement (prepare=True), fetchone.
"""

Lookup = Callable[[str, str], Any]


def _pairs(ctx: fx.Context) -> list[tuple[str, str]]:
    conn = sqlite3.connect(ctx.central_db)
    try:
        return conn.execute(
            'SELECT ct.full_name, p."key" FROM partitions p '
            "JOIN catalog_tables ct ON ct.id = p.table_id"
        ).fetchall()
    finally:
        conn.close()


def _measure(fn: Lookup, keys: list[tuple[str, str]], out: list[float]) -> None:
    clock = time.perf_counter_ns
    for name, key in keys:
        start = clock()
        row = fn(name, key)
        out.append((clock() - start) / 1000)
        if row is None or row[0] != key:
            raise RuntimeError(f"lookup of {name} {key} returned {row!r}")


def _compare(
    fns: dict[str, Lookup],
    warm: list[tuple[str, str]],
    samples: list[list[tuple[str, str]]],
    label: str,
) -> dict[str, list[tuple[float, float]]]:
    """Per variant, (p50, p99) of each repetition; the variants alternate block by block,
    each block starting with the next one."""
    stats: dict[str, list[tuple[float, float]]] = {k: [] for k in fns}
    for fn in fns.values():
        _measure(fn, warm, [])
    for rep, keys in enumerate(samples):
        lat: dict[str, list[float]] = {k: [] for k in fns}
        for b, i in enumerate(range(0, len(keys), BLOCK)):
            order = list(fns)
            order = order[b % len(order) :] + order[: b % len(order)]
            for who in order:
                _measure(fns[who], keys[i : i + BLOCK], lat[who])
        for who, values in lat.items():
            stats[who].append((percentile(values, 50), percentile(values, 99)))
        log(
            f"{label} rep {rep + 1}/{len(samples)} p50/p99 us: "
            + ", ".join(
                f"{who} {p50:.1f}/{p99:.1f}"
                for who, (p50, p99) in ((w, s[-1]) for w, s in stats.items())
            )
        )
    return stats


def _sqlite(
    ctx: fx.Context, warm: list[tuple[str, str]], samples: list[list[tuple[str, str]]]
) -> dict[str, list[tuple[float, float]]]:
    mesh = ctx.open_mesh()
    catalog = CentralCatalog(mesh.store)
    peer = sqlite3.connect(f"file:{ctx.central_db}?mode=ro", uri=True, isolation_level=None)
    try:
        peer.execute("BEGIN")
        with mesh.store.read() as conn:
            stats = _compare(
                {
                    "ours": lambda n, k: catalog.partition(n, k, conn=conn),
                    "peer": lambda n, k: peer.execute(LOOKUP, (n, k)).fetchone(),
                    "free": lambda n, k: catalog.partition(n, k),
                },
                warm,
                samples,
                NAME,
            )
        peer.execute("ROLLBACK")
    finally:
        peer.close()
        mesh.close()
    return stats


def _postgres(
    ctx: fx.Context, warm: list[tuple[str, str]], samples: list[list[tuple[str, str]]]
) -> dict[str, list[tuple[float, float]]]:
    with running_server() as pg:
        seconds, _ = timed(lambda: run_ours_postgres(ctx, pg))
        pgfx.analyze(pg, pgfx.CENTRAL)
        log(f"fixture: PostgreSQL central store synced in {seconds:.1f} s (not timed)")
        mesh = Mesh.open(pgfx.home(ctx))
        catalog = CentralCatalog(mesh.store)
        lookup = LOOKUP.replace("?", "%s")
        peer = pgfx.connect_peer(pg, pgfx.CENTRAL)
        try:
            cur = peer.cursor()
            with mesh.store.read() as conn:
                stats = _compare(
                    {
                        "ours": lambda n, k: catalog.partition(n, k, conn=conn),
                        "peer": lambda n, k: cur.execute(lookup, (n, k), prepare=True).fetchone(),
                        "free": lambda n, k: catalog.partition(n, k),
                    },
                    warm,
                    samples,
                    f"{NAME} postgres",
                )
            peer.rollback()
        finally:
            peer.close()
            mesh.close()
            fx.remove_tree(pgfx.home(ctx))
    return stats


def run(ctx: fx.Context) -> list[dict[str, Any]]:
    ctx.ensure_incremental()
    size, rng = ctx.size, random.Random(SEED)
    pairs = _pairs(ctx)
    warm = rng.sample(pairs, min(size.warmup, len(pairs)))
    samples = [rng.sample(pairs, min(size.lookups, len(pairs))) for _ in range(size.reps)]
    del pairs
    sqlite_stats = _sqlite(ctx, warm, samples)
    pg_stats = _postgres(ctx, warm, samples)

    def med(stats: dict[str, list[tuple[float, float]]], who: str, i: int) -> float:
        return median([s[i] for s in stats[who]])

    rows = []
    for stats, suffix, peer in ((sqlite_stats, "", PEER), (pg_stats, "_postgres", PEER_POSTGRES)):
        p99 = med(stats, "ours", 1)
        rows += [
            result(
                NAME,
                f"p50_us{suffix}",
                med(stats, "ours", 0),
                "us",
                peer=peer,
                peer_value=med(stats, "peer", 0),
                target="info",
                meets=True,
            ),
            result(
                NAME,
                f"p99_us{suffix}",
                p99,
                "us",
                peer=peer,
                peer_value=med(stats, "peer", 1),
                target=f"<= {TARGET_US:g}",
                meets=p99 <= TARGET_US,
            ),
            result(
                NAME,
                f"p99_us_no_held_conn{suffix}",
                med(stats, "free", 1),
                "us",
                target="info",
                meets=True,
            ),
        ]
    return rows
