"""What governance costs a Spark query on a standalone cluster: lakemesh query vs the same
answer by hand (``query_enforcement_overhead_spark``'s measurement, on a cluster)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from benchmarks._common import FULL, QUICK, REPO
from benchmarks._sparkcluster import standalone_cluster

NAME = "query_enforcement_overhead_spark_cluster"
TARGET_RATIO = 1.05
DESCRIPTION = """
`query_enforcement_overhead_spark`'s measurement (the same four queries, policy, 24
million orders, handwritten peer, interleaving and medians), on a Spark standalone cluster
the benchmark starts on this machine: a master and one worker (2 cores, 2 GiB; executors
of Spark's default 1 GiB) from PySpark's own launcher, on loopback. Ours and the peer
run in one driver process whose `$LAKEMESH_SPARK_MASTER` is the cluster (a process's
Spark JVM is fixed at its first query, so not the benchmark runner's); the executors read
the Parquet files themselves. The target is on the geometric mean of the ratios: <= 1.05.
"""


def run(ctx: Any) -> list[dict[str, Any]]:
    quick = ctx.size.tables < 100
    with standalone_cluster() as master:
        env = {**os.environ, "LAKEMESH_SPARK_MASTER": master, "PYSPARK_PYTHON": sys.executable}
        driver = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{NAME}", *(["--quick"] if quick else [])],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,  # the rows; progress goes to stderr, as it arrives
            text=True,
            check=False,
        )
    if driver.returncode != 0:
        raise RuntimeError(f"{NAME}: the driver process failed (exit {driver.returncode})")
    rows: list[dict[str, Any]] = json.loads(driver.stdout.strip().splitlines()[-1])
    return rows


def _drive(quick: bool) -> list[dict[str, Any]]:
    """The measurement itself, in the driver process (on its own scratch directory)."""
    from benchmarks._common import DATA
    from benchmarks._fixture import Context
    from benchmarks.query_enforcement_overhead_spark import measure

    ctx = Context(QUICK if quick else FULL, DATA)
    try:
        return measure(ctx.orders(), NAME, TARGET_RATIO, pairs=2 if quick else 5)
    finally:
        ctx.close()


if __name__ == "__main__":
    print(json.dumps(_drive("--quick" in sys.argv[1:])))
