"""Cold start of the authorizer: the policy snapshot of 100,000 grants loaded in a new process."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from benchmarks import _authz_fixture as af
from benchmarks._common import REPO, log, median, result

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
targets <= 2 s and <= 300 MiB.
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


def run(ctx: Any) -> list[dict[str, Any]]:
    fx = af.main_fixture(ctx)
    expected = len(fx.world.grants)
    runs = []
    for i in range(fx.size.cold_reps):
        out = _child(str(fx.home), "plain")
        if out["grants"] != expected or out["tables"] != len(fx.world.tables):
            raise RuntimeError(f"the snapshot holds {out}, expected {expected} grants")
        runs.append(out)
        log(
            f"{NAME} rep {i + 1}/{fx.size.cold_reps}: {out['seconds']:.3f} s, "
            f"peak RSS +{out['rss_growth_mib']:.0f} MiB"
        )
    traced = _child(str(fx.home), "trace")
    log(f"{NAME}: tracemalloc peak {traced['traced_peak_mib']:.0f} MiB")
    seconds = median([r["seconds"] for r in runs])
    mib = median([r["rss_growth_mib"] for r in runs])
    return [
        result(
            NAME,
            "seconds",
            seconds,
            "s",
            target=f"<= {TARGET_SECONDS:g}",
            meets=seconds <= TARGET_SECONDS,
        ),
        result(
            NAME,
            "peak_rss_growth_mib",
            mib,
            "MiB",
            target=f"<= {TARGET_MIB:g}",
            meets=mib <= TARGET_MIB,
        ),
        result(
            NAME,
            "tracemalloc_peak_mib",
            traced["traced_peak_mib"],
            "MiB",
            target="info",
            meets=True,
        ),
    ]
