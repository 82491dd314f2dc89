"""Initial (full) sync of 100 tables x 10,000 partitions into an empty central catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks import _fixture as fx
from benchmarks import _pgfixture as pgfx
from benchmarks._common import interleaved, median, result, timed
from benchmarks._pgserver import PgServer, running_server
from lakemesh.access.principals import MESH_ADMIN
from lakemesh.mesh import Mesh

NAME = "sync_initial_1m_partitions"
PEER = "bare sqlite3 executemany"
PEER_POSTGRES = "bare psycopg executemany"
TARGET = 2.0
DESCRIPTION = """
A builtin domain catalog with 100 tables x 10,000 partitions (1,000,000; half the tables
keyed dt=YYYY-MM-DD/hour=HH, half customer_id=N; locations under the domain root; 9-10
columns) is built once with CatalogWriter.put_table, outside the timing. Timed: Mesh.init
into an empty home (SQLite store, Alembic migration), domains.create on that root and
domains.sync([domain]) (initial, i.e. full), until it returns. Checked afterwards: status
ok, 1,000,000 partitions added and stored. Peer: bare sqlite3 in a fresh file with the
store's pragmas (WAL, synchronous=FULL, foreign_keys=ON), the partitions DDL of migration
0001 (verified against the real store) plus a minimal parent table, then one transaction
per table doing one executemany of that table's 10,000 rows, prepared in memory
beforehand (same columns and values as the sync writes). Value: median seconds over 3
interleaved repetitions; target: ours/peer <= 2.0. The copy is timed without the
classification a sync sets off (``products.classify_on_sync`` off in the timed mesh): that
step is timed on its own afterwards (info): classify_due over the 100 new tables, whose
folders hold no files here, so it times the per-table overhead (a governed sample query
refused as unreadable, its audit record, the recorded classification), not a scan.
The *_postgres rows repeat all of it with a PostgreSQL 15 server as the store, started by
the benchmark from the machine's binaries (durable defaults: fsync and synchronous commit
on, data on disk; clients on its unix socket) and stopped at the end: ours does Mesh.init
with the server's URL into a freshly created empty database (created outside the timing,
like the empty SQLite file); the peer is bare psycopg in another fresh database of the
same server, the PostgreSQL rendering of the same DDL (verified against the real store's
catalog) and the same rows, one transaction and one cursor.executemany (psycopg's
pipelined batch) per table. Same target, against that peer.
"""


def run_ours(ctx: fx.Context) -> float:
    fx.remove_tree(ctx.home)
    seconds = _init_and_sync(ctx, ctx.home, None)
    fx.expect_count(ctx.central_db, ctx.size.total, "central after the initial sync")
    return seconds


def run_ours_postgres(ctx: fx.Context, pg: PgServer) -> float:
    """The same into a fresh ``central`` database; leaves the mesh at ``pgfx.home(ctx)``."""
    home = pgfx.home(ctx)
    fx.remove_tree(home)
    pgfx.fresh_database(pg, pgfx.CENTRAL)
    seconds = _init_and_sync(ctx, home, pg.url(pgfx.CENTRAL))
    pgfx.expect_count(pg, pgfx.CENTRAL, ctx.size.total, "PostgreSQL after the initial sync")
    return seconds


def _init_and_sync(ctx: fx.Context, home: Path, url: str | None) -> float:
    def work() -> tuple[Mesh, Any]:
        mesh = Mesh.init(home, url)
        mesh.settings.products.classify_on_sync = False  # timed on its own: see below
        mesh.domains.create(fx.DOMAIN, ctx.root, create=True)
        return mesh, mesh.domains.sync([fx.DOMAIN])

    seconds, (mesh, results) = timed(work)
    mesh.close()
    r, size = results[0], ctx.size
    if (r.status, r.mode, r.tables_added, r.partitions_added) != (
        "ok",
        "full",
        size.tables,
        size.total,
    ):
        raise RuntimeError(f"initial sync went wrong: {r.summary()}")
    return seconds


def run_peer(ctx: fx.Context) -> float:
    rows = ctx.peer_initial_rows()
    fx.remove_db(ctx.peer_db)
    seconds, _ = timed(lambda: fx.peer_initial(ctx.peer_db, rows))
    fx.expect_count(ctx.peer_db, ctx.size.total, "peer after the initial load")
    return seconds


def run_peer_postgres(ctx: fx.Context, pg: PgServer) -> float:
    rows = ctx.peer_initial_rows()
    pgfx.fresh_database(pg, pgfx.PEER)
    seconds, _ = timed(lambda: pgfx.peer_initial(pg, rows))
    pgfx.expect_count(pg, pgfx.PEER, ctx.size.total, "PostgreSQL peer after the initial load")
    return seconds


def run(ctx: fx.Context) -> list[dict[str, Any]]:
    ctx.ensure_built()
    if ctx.stage != "built":
        raise RuntimeError(f"{NAME} needs the unchanged domain catalog (stage {ctx.stage})")
    ctx.peer_initial_rows()  # materialised before any timing
    ours, peer = interleaved(ctx.size.reps, lambda: run_ours(ctx), lambda: run_peer(ctx), NAME)
    fx.check_peer_ddl(ctx.central_db)
    ctx.snapshot_initial()
    with running_server() as pg:
        pg_ours, pg_peer = interleaved(
            ctx.size.reps,
            lambda: run_ours_postgres(ctx, pg),
            lambda: run_peer_postgres(ctx, pg),
            f"{NAME} postgres",
        )
        pgfx.check_peer_ddl(pg)
        pg.drop_database(pgfx.PEER)
        ctx.drop_peer_rows()
        pg_classified = classification_seconds(ctx, pgfx.home(ctx))
    fx.remove_tree(pgfx.home(ctx))
    classified = classification_seconds(ctx, ctx.home)
    o, p = median(ours), median(peer)
    po, pp = median(pg_ours), median(pg_peer)
    return [
        result(
            NAME,
            "seconds",
            o,
            "s",
            peer=PEER,
            peer_value=p,
            target=f"ratio <= {TARGET}",
            meets=o / p <= TARGET,
        ),
        result(
            NAME,
            "after_sync_classification_seconds",
            classified,
            "s",
            target="info",
            meets=True,
        ),
        result(
            NAME,
            "seconds_postgres",
            po,
            "s",
            peer=PEER_POSTGRES,
            peer_value=pp,
            target=f"ratio <= {TARGET}",
            meets=po / pp <= TARGET,
        ),
        result(
            NAME,
            "after_sync_classification_seconds_postgres",
            pg_classified,
            "s",
            target="info",
            meets=True,
        ),
    ]


def classification_seconds(ctx: fx.Context, home: Path) -> float:
    """What classifying the initial sync's 100 new tables costs, on the last repetition's
    mesh (after its snapshot was taken, so the incremental benchmark starts unchanged)."""
    mesh = Mesh.open(home)
    try:
        session = mesh.gate.session(MESH_ADMIN)
        seconds, warnings = timed(lambda: mesh.classification.classify_due(fx.DOMAIN, session))
    finally:
        mesh.close()
    if len(warnings) != ctx.size.tables:
        raise RuntimeError(f"expected every table to be unreadable: {warnings[:3]}")
    return seconds
