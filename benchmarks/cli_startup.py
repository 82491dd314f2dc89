"""How long the command line takes to answer: --help, and a trivial governed query."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks._common import interleaved, log, median, result

NAME = "cli_startup"
TARGET_HELP = 0.3
TARGET_QUERY = 0.7
TARGET_FLOOR_RATIO = 1.5
#: What any governed query must import: the store, Arrow, the engine, the SQL parser.
FLOOR = (
    "import sqlalchemy, pyarrow, pyarrow.compute, duckdb, sqlglot, pydantic, click, os; os._exit(0)"
)
DESCRIPTION = """
Wall time of whole `lakemesh` processes, as a user types them: `lakemesh --help`, and
`lakemesh query "SELECT count(*) AS n FROM shop.db.orders"` (as the mesh admin) on a
mesh with one domain, one 3-row Parquet table and a SELECT grant (a trivial governed
query: start-up, opening the store, the policy, the audit record, a DuckDB connection,
the result printed as a table). Peer: `python -c pass` with the same interpreter (the
floor any Python command line pays). The third row compares the same query with a
process that only imports the libraries every governed query needs (SQLAlchemy, pyarrow
with compute, DuckDB, sqlglot with its DuckDB dialect, pydantic, click), which shows
lakemesh's own share on a machine whose speed varies from minute to minute. Each command
runs 20 times interleaved with its peer, after one warm-up run; medians. Targets: --help
<= 0.3 s, the query <= 0.7 s and <= 1.5 x the library floor.
"""


def run(ctx: Any) -> list[dict[str, Any]]:
    home, lakemesh = _mesh(ctx.work / "cli-startup")
    reps = 7 if ctx.size.tables < 100 else 20
    rows = []
    commands = {
        "help_seconds": ([lakemesh, "--help"], TARGET_HELP),
        "query_seconds": (
            [
                lakemesh,
                "query",
                "SELECT count(*) AS n FROM shop.db.orders",
                "--home",
                str(home),
            ],
            TARGET_QUERY,
        ),
    }
    peer = [sys.executable, "-c", "pass"]
    query = commands["query_seconds"][0]
    for metric, (argv, target) in commands.items():
        _wall(argv)  # warm the page cache and the bytecode
        ours, floor = interleaved(
            reps, lambda argv=argv: _wall(argv), lambda: _wall(peer), f"{NAME} {metric}"
        )
        value, peer_value = median(ours), median(floor)
        log(f"{metric}: {value:.3f} s (python -c pass {peer_value:.3f} s)")
        rows.append(
            result(
                NAME,
                metric,
                value,
                "s",
                target=f"<= {target} s",
                meets=value <= target,
                peer="python -c pass",
                peer_value=peer_value,
            )
        )
    floor = [sys.executable, "-c", FLOOR]
    _wall(floor)
    ours, libs = interleaved(
        reps, lambda: _wall(query), lambda: _wall(floor), f"{NAME} query_vs_library_floor"
    )
    value, peer_value = median(ours), median(libs)
    rows.append(
        result(
            NAME,
            "query_vs_library_floor",
            value,
            "s",
            target=f"<= {TARGET_FLOOR_RATIO} x floor",
            meets=value <= TARGET_FLOOR_RATIO * peer_value,
            peer="importing the libraries a query needs",
            peer_value=peer_value,
        )
    )
    return rows


def _wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _mesh(base: Path) -> tuple[Path, str]:
    """A mesh with one granted 3-row table; returns its home and the lakemesh command."""
    lakemesh = str(Path(sys.executable).parent / "lakemesh")
    home, root = base / "mesh", base / "shop"
    part = root / "db" / "orders" / "part-0.parquet"
    part.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": [1, 2, 3], "amount": [9.5, 3.0, 12.25]}), part)
    for args in (
        ["init"],
        ["domain", "create", "shop", "--storage", str(root)],
        ["crawl", "shop"],
        ["sync"],
        ["grant", "SELECT", "--on", "shop.db.orders", "--to", "admin@central"],
    ):
        subprocess.run(
            [lakemesh, *args, "--home", str(home)], check=True, stdout=subprocess.DEVNULL
        )
    return home, lakemesh
