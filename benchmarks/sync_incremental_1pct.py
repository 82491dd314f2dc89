"""Incremental sync of a 1% change (added, changed, removed) after the initial sync."""

from __future__ import annotations

from typing import Any

from benchmarks import _fixture as fx
from benchmarks._common import interleaved, median, result, timed

NAME = "sync_incremental_1pct"
PEER = "bare sqlite3 executemany"
TARGET_SECONDS = 3.0
TARGET_RATIO = 2.0
DESCRIPTION = """
Starts from the central store of the initial sync (a file snapshot restored before each
repetition). The domain catalog is changed once, outside the timing, with
CatalogWriter.put_table and each table's modified full partition list: per table 1% of
partitions added (the next 100), 1% changed (file_count, size_bytes, row_count,
modified_at), 1% removed (the oldest 100): 10,000 of each over 100 tables. Timed: one
mesh.domains.sync([domain]) (incremental: the builtin change feed hands over partition deltas) on an
already opened mesh. Checked afterwards: status ok, 100 tables updated, 10,000
partitions added, changed and removed each, 1,000,000 partitions stored, and the stored
rows equal the peer's row for row. Peer: bare sqlite3 on a copy of the peer DB of the
initial benchmark, one transaction per table with executemany of its 100 INSERTs, 100
UPDATEs by (table_id, key) and 100 DELETEs by (table_id, key), rows prepared beforehand.
Values: median seconds over 3 interleaved repetitions (target <= 3 s) and ours/peer of
the medians (target <= 2.0). Classification after the sync is off, as in the initial
benchmark (appends are not classified again within products.reclassify_seconds anyway).
"""


def run_ours(ctx: fx.Context) -> float:
    fx.restore(ctx.snap_central, ctx.central_db)
    mesh = ctx.open_mesh()
    mesh.settings.products.classify_on_sync = False  # as in the initial benchmark
    try:
        seconds, results = timed(lambda: mesh.domains.sync([fx.DOMAIN]))
    finally:
        mesh.close()
    r, size = results[0], ctx.size
    c = size.tables * size.one_pct
    got = (
        r.status,
        r.mode,
        r.tables_added,
        r.tables_updated,
        r.tables_removed,
        r.partitions_added,
        r.partitions_changed,
        r.partitions_removed,
    )
    if got != ("ok", "incremental", 0, size.tables, 0, c, c, c):
        raise RuntimeError(f"incremental sync went wrong: {r.summary()}")
    fx.expect_count(ctx.central_db, size.total, "central after the incremental sync")
    return seconds


def run_peer(ctx: fx.Context, rows: list[tuple[list[tuple[object, ...]], ...]]) -> float:
    fx.restore(ctx.snap_peer, ctx.peer_db)
    seconds, _ = timed(lambda: fx.peer_incremental(ctx.peer_db, rows))
    fx.expect_count(ctx.peer_db, ctx.size.total, "peer after the incremental writes")
    return seconds


def run(ctx: fx.Context) -> list[dict[str, Any]]:
    ctx.ensure_modified()
    if ctx.stage != "modified":
        raise RuntimeError(f"{NAME} needs the modified, not yet synced fixture ({ctx.stage})")
    rows = ctx.peer_incremental_rows()
    ours, peer = interleaved(
        ctx.size.reps, lambda: run_ours(ctx), lambda: run_peer(ctx, rows), NAME
    )
    ctx.stage = "incremental"  # the home holds the last repetition's result
    fx.expect_same_content(ctx.central_db, ctx.peer_db)
    o, p = median(ours), median(peer)
    return [
        result(
            NAME,
            "seconds",
            o,
            "s",
            peer=PEER,
            peer_value=p,
            target=f"<= {TARGET_SECONDS}",
            meets=o <= TARGET_SECONDS,
        ),
        result(
            NAME,
            "ratio_vs_peer",
            o / p,
            "x",
            peer=PEER,
            ratio=o / p,
            target=f"<= {TARGET_RATIO}",
            meets=o / p <= TARGET_RATIO,
        ),
    ]
