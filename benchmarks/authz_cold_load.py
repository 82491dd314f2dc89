"""Cold start of the authorizer: the policy snapshot of 100,000 grants loaded in a new process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks import _authz_fixture as af
from benchmarks import _pgfixture as pgfx
from benchmarks._common import REPO, log, median, result, timed
from benchmarks._pgserver import PgServer, running_server
from lakemesh.mesh import Mesh

NAME = "authz_cold_load"
TARGET_SECONDS = 2.0
TARGET_MIB = 300.0
DESCRIPTION = """
On the store of authz_check_p99_100k (20,000 tables with their columns, 5,000 users,
tags, 100,000 named and 1,000 tag-expression grants), each repetition starts a new Python
process that imports lakemesh, opens the mesh (Mesh.open) and runs one query, so that
imports, the connection and the SQLite file are warm. It then resets its peak RSS to the
current RSS (echo 5 > /proc/self/clear_refs: VmHWM, the counter ru_maxrss reports, which
otherwise keeps import-time peaks and, after vfork/exec, even the parent's), takes VmRSS
as the baseline and times Snapshot.load(conn) + Authorizer(snapshot) inside one read
transaction (with mesh.store.read() as conn). Memory: VmHWM afterwards minus the
baseline, i.e. what holding the policy costs plus the transient peak of building it. One
more process repeats the load under tracemalloc for the peak of Python allocations (info;
tracemalloc slows the load, so its time is not used). Values: median over 3 processes;
targets <= 2 s and <= 300 MiB. The *_postgres rows measure the same with a PostgreSQL 15
server as the store, started by the benchmark from the machine's binaries (durable
defaults, clients on its unix socket) and stopped at the end: a mesh initialised on a fresh
database there receives every row of the SQLite fixture's store (not timed; each table
must then count the same on both), and its processes alternate with the SQLite ones.
"""

CHILD = r"""
import gc, json, sys, time
from pathlib import Path

from lakemesh.access.authorizer import Authorizer
from lakemesh.mesh import Mesh
from lakemesh.access.snapshot import Snapshot

mesh = Mesh.open(Path(sys.argv[1]))
with mesh.store.read() as conn:
    conn.exec_driver_sql("SELECT count(*) FROM grants").scalar()
trace = sys.argv[2] == "trace"
if trace:
    import tracemalloc

    tracemalloc.start()
gc.collect()


def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])  # KiB
    raise KeyError(key)


Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
base = status("VmRSS")
start = time.perf_counter()
with mesh.store.read() as conn:
    authz = Authorizer(Snapshot.load(conn))
seconds = time.perf_counter() - start
peak = status("VmHWM")
out = {
    "seconds": seconds,
    "rss_growth_mib": (peak - base) / 1024,
    "grants": len(authz.snapshot.by_id),
    "tables": len(authz.snapshot.tables),
}
if trace:
    out["traced_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
print(json.dumps(out))
"""


def _child(home: str, mode: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, home, mode],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cold-load child failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _postgres_copy(fx: af.Fixture, pg: PgServer, home: Path) -> None:
    """A mesh at ``home`` on a fresh database holding the fixture store's rows."""
    shutil.rmtree(home, ignore_errors=True)
    pg.create_database(pgfx.CENTRAL)
    src, dst = fx.open(), Mesh.init(home, pg.url(pgfx.CENTRAL))
    try:
        seconds, _ = timed(lambda: pgfx.copy_store(src.store, dst.store))
    finally:
        src.close()
        dst.close()
    log(f"fixture: authz store copied to PostgreSQL in {seconds:.1f} s (not timed)")


def run(ctx: Any) -> list[dict[str, Any]]:
    fx = af.main_fixture(ctx)
    expected = (len(fx.world.grants), len(fx.world.tables))
    pg_home = Path(ctx.work) / "authz-main-postgres"
    runs: dict[str, list[dict[str, Any]]] = {"sqlite": [], "postgres": []}
    traced: dict[str, dict[str, Any]] = {}
    try:
        with running_server() as pg:
            _postgres_copy(fx, pg, pg_home)
            homes = {"sqlite": str(fx.home), "postgres": str(pg_home)}
            for i in range(fx.size.cold_reps):
                order = list(homes) if i % 2 == 0 else list(homes)[::-1]
                for store in order:
                    out = _child(homes[store], "plain")
                    if (out["grants"], out["tables"]) != expected:
                        raise RuntimeError(
                            f"the {store} snapshot holds {out}, expected {expected} "
                            "grants and tables"
                        )
                    runs[store].append(out)
                    log(
                        f"{NAME} rep {i + 1}/{fx.size.cold_reps} {store}: "
                        f"{out['seconds']:.3f} s, peak RSS +{out['rss_growth_mib']:.0f} MiB"
                    )
            for store, home in homes.items():
                traced[store] = _child(home, "trace")
                log(f"{NAME} {store}: tracemalloc peak {traced[store]['traced_peak_mib']:.0f} MiB")
    finally:
        shutil.rmtree(pg_home, ignore_errors=True)
    rows = []
    for store, suffix in (("sqlite", ""), ("postgres", "_postgres")):
        seconds = median([r["seconds"] for r in runs[store]])
        mib = median([r["rss_growth_mib"] for r in runs[store]])
        rows += [
            result(
                NAME,
                f"seconds{suffix}",
                seconds,
                "s",
                target=f"<= {TARGET_SECONDS:g}",
                meets=seconds <= TARGET_SECONDS,
            ),
            result(
                NAME,
                f"peak_rss_growth_mib{suffix}",
                mib,
                "MiB",
                target=f"<= {TARGET_MIB:g}",
                meets=mib <= TARGET_MIB,
            ),
            result(
                NAME,
                f"tracemalloc_peak_mib{suffix}",
                traced[store]["traced_peak_mib"],
                "MiB",
                target="info",
                meets=True,
            ),
        ]
    return rows
