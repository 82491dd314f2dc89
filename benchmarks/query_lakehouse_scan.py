"""Governed queries over Iceberg and Delta tables vs DuckDB reading their live files."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import duckdb

from benchmarks._common import REPO, interleaved, log, median, result
from benchmarks._lakehouse import (
    ANALYST,
    CUSTOMERS_TABLE,
    DELTA,
    ICEBERG,
    ROW_FILTER,
    LakehouseMesh,
    Query,
    admits,
    queries,
    same_rows,
)
from lakemesh.engines import Limits
from lakemesh.errors import LakemeshError

NAME = "query_lakehouse_scan"
TARGET_RATIO = 1.5
TARGET_FILES = 2.0
MEMORY_LIMIT_MB = 512
#: RSS a query may add beyond the engine's memory limit: Arrow batches in flight between
#: the table reader, the reading instance and the consumer connection (about one data
#: file's projected columns each), the allocators' retained pages, Python objects.
ALLOWANCE_MB = 256
DESCRIPTION = f"""
An Iceberg table and a Delta table of 20 million generated events each (20 data files of
1,000,000 rows in event id order, 125,000-row groups), plus a 100,000-row Parquet
customers table, in one producer domain (builtin catalog, crawled). The Iceberg table
changed schema half way (`amt` renamed `amount`, `discount` added) and has positional
delete files removing 1% of the rows of every data file (written as merge-on-read
engines write them). The analyst's policy: a row filter hiding one region of four
(`{ROW_FILTER}`), no masks. Three queries per table: a selective one (10,000 event ids),
a full aggregate (count and sum by channel), a join to customers by segment.

Ours: `Mesh.query` end to end with `Limits(memory_limit="512MB", threads=2)`: pyiceberg
plans the Iceberg files (row filter against manifests), the Delta table's current files
are listed with their partitions, and the reading DuckDB instance reads those Parquet
files itself (Iceberg columns by field id, positional deletes as an anti-join), streamed
into the sealed consumer connection. Peer: one DuckDB connection (2 threads, 512MB)
running the same query by hand over the tables' live Parquet files with `read_parquet`
(Iceberg: the current snapshot's data files, `amt AS amount` for the old ones, deleted
rows removed by an anti-join of (filename, file_row_number) with the delete files; Delta:
`DeltaTable.file_uris()`), same filter; same answers checked first. Medians of
interleaved runs, target ratio <= {TARGET_RATIO:g} (a governed query that fails, e.g.
out of memory, is timed until its error and misses the target). Selective query: data
files read, ours (of the files handed to DuckDB, those with a row group whose statistics
admit the range) vs the peer's (the same measure over all live files), target
<= {TARGET_FILES:g}x. Memory: each governed query once in a fresh process after a warm-up
query on the customers table; peak RSS growth (VmHWM after resetting it, minus VmRSS
before), target: no error and <= {MEMORY_LIMIT_MB} MB + {ALLOWANCE_MB} MB for Arrow
batches in flight, allocator retention and Python objects (the peer's growth, same
way, for reference).
"""

#: Quick: 4 files of 100,000 rows; full: 20 files of 1,000,000.
QUICK_SHAPE = {"files": 4, "rows_per_file": 100_000, "row_group": 25_000}
FULL_SHAPE = {"files": 20, "rows_per_file": 1_000_000, "row_group": 125_000}
PEER = "DuckDB read_parquet over the live data files (deletes and rename by hand)"


def limits() -> Limits:
    return Limits(memory_limit="512MB", threads=2, timeout_seconds=600, max_rows=100_000)


def run(ctx: Any) -> list[dict[str, Any]]:
    quick = ctx.size.tables < 100
    lake = LakehouseMesh(ctx.work, **(QUICK_SHAPE if quick else FULL_SHAPE))
    try:
        return _run(lake, quick)
    finally:
        lake.close()


def _run(lake: LakehouseMesh, quick: bool) -> list[dict[str, Any]]:
    mesh = lake.ensure_mesh()
    lo = int(lake.rows * 0.3) + 1_000
    hi = lo + 9_999
    peer = duckdb.connect(config={"threads": 2, "memory_limit": "512MB"})
    rows: list[dict[str, Any]] = []
    try:
        for table in (ICEBERG, DELTA):
            kind = "iceberg" if table == ICEBERG else "delta"
            for query in queries(lo, hi):
                ours_sql = query.sql.format(t=table, customers=CUSTOMERS_TABLE)
                peer_sql = lake.peer_sql(query, table)
                failed = check_same_answer(mesh, peer, ours_sql, peer_sql, f"{kind} {query.name}")
                gov, hand = measure(mesh, peer, ours_sql, peer_sql, f"{kind} {query.name}", quick)
                g50, h50 = median(gov), median(hand)
                log(
                    f"{NAME} {kind} {query.name}: ours {g50:.1f} ms, peer {h50:.1f} ms"
                    + (f"; ours failed: {failed}" if failed else "")
                )
                rows.append(
                    result(
                        NAME,
                        f"{kind}_{query.name}_median_ms",
                        g50,
                        "ms",
                        peer=PEER,
                        peer_value=h50,
                        target=f"ratio <= {TARGET_RATIO:g}"
                        + (f" (ours failed after this long: {failed})" if failed else ""),
                        meets=not failed and g50 / h50 <= TARGET_RATIO,
                    )
                )
            selective = queries(lo, hi)[0]
            ours_files = files_read(mesh, table, selective, lo, hi)
            peer_files = lake.peer_files_read(table, lo, hi)
            log(f"{NAME} {kind} selective: data files read {ours_files} vs {peer_files}")
            rows.append(
                result(
                    NAME,
                    f"{kind}_selective_data_files_read",
                    ours_files,
                    "files",
                    peer="files with a row group the peer's read_parquet reads",
                    peer_value=peer_files,
                    target=f"<= {TARGET_FILES:g}x peer",
                    meets=ours_files <= TARGET_FILES * max(peer_files, 1),
                )
            )
    finally:
        peer.close()
    rows.extend(memory_results(lake, lo, hi))
    return rows


def check_same_answer(
    mesh: Any, peer: duckdb.DuckDBPyConnection, ours_sql: str, peer_sql: str, label: str
) -> str | None:
    """None when both answer alike; why ours failed when it failed (a governed query may
    fail, e.g. out of memory: that is a result); raises when the answers differ."""
    try:
        ours = mesh.query(ours_sql, as_=ANALYST, limits=limits()).to_pylist()
    except LakemeshError as e:
        return _reason(e)
    theirs = peer.sql(peer_sql).to_arrow_table().to_pylist()
    if not ours or not same_rows(ours, theirs):
        raise AssertionError(
            f"{label}: governed and handwritten answers differ ({len(ours)} vs "
            f"{len(theirs)} rows): {ours[:3]} vs {theirs[:3]}"
        )
    return None


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0][:80]}"


def measure(
    mesh: Any,
    peer: duckdb.DuckDBPyConnection,
    ours_sql: str,
    peer_sql: str,
    label: str,
    quick: bool,
) -> tuple[list[float], list[float]]:
    """Milliseconds per call, interleaved (order alternating), after one warm-up each
    (ours until its error, when it fails)."""
    query_limits = limits()

    def ours() -> float:
        t0 = time.perf_counter()
        with suppress(LakemeshError):
            mesh.query(ours_sql, as_=ANALYST, limits=query_limits)
        return time.perf_counter() - t0

    def theirs() -> float:
        t0 = time.perf_counter()
        peer.sql(peer_sql).to_arrow_table()
        return time.perf_counter() - t0

    ours()
    theirs()
    gov, hand = interleaved(3 if quick else 5, ours, theirs, label)
    return [s * 1000 for s in gov], [s * 1000 for s in hand]


def files_read(mesh: Any, table: str, query: Query, lo: int, hi: int) -> int:
    """Data files our scan reads for the selective query, as the engine runs it. When
    the table hands its local Parquet files to DuckDB (``plan``: pyiceberg's pruned
    files for Iceberg, the current version's files for Delta), the handed files with a
    row group whose statistics admit the range: what DuckDB's reader reads, measured as
    the peer's is. Otherwise pyiceberg's planned files (Iceberg) or the files pyarrow's
    dataset opens for the filter DuckDB pushes into it (Delta)."""
    from lakemesh.engines.duckdb import DuckDBEngine
    from lakemesh.query.governed import prepare

    plan, sources = prepare(
        mesh, query.sql.format(t=table, customers=CUSTOMERS_TABLE), principal=ANALYST
    )
    scan = sources[table].lakehouse
    assert scan is not None
    relation = next(r for r in plan.relations if r.table == table)
    where = relation.select.args.get("where")
    handed = scan.plan(where.this if where is not None else None)  # type: ignore[attr-defined]
    if handed is not None:
        DuckDBEngine().run(plan, sources, limits())
        paths = [p for group in handed.groups for p in group.files]
        return sum(1 for path in paths if admits(path, "event_id", lo, hi))
    if table == ICEBERG:
        DuckDBEngine().run(plan, sources, limits())
        return int(scan.files_planned)  # type: ignore[attr-defined]
    with _recording_local_files() as opened:
        DuckDBEngine().run(plan, sources, limits())
    return len({p for p in opened if p.endswith(".parquet")})


@contextmanager
def _recording_local_files() -> Iterator[list[str]]:
    """Every file pyarrow opens through a ``pyarrow.fs.LocalFileSystem()`` made meanwhile
    (the Delta scan makes one per open), by path."""
    import pyarrow.fs as pafs
    from fsspec.implementations.local import LocalFileSystem  # type: ignore[import-untyped]

    opened: list[str] = []

    class Recording(LocalFileSystem):  # type: ignore[misc]
        cachable = False

        def _open(self, path: str, *args: Any, **kwargs: Any) -> Any:
            opened.append(str(path))
            return super()._open(path, *args, **kwargs)

    real = pafs.LocalFileSystem
    pafs.LocalFileSystem = lambda: pafs.PyFileSystem(pafs.FSSpecHandler(Recording()))
    try:
        yield opened
    finally:
        pafs.LocalFileSystem = real


# --------------------------------------------------------------------------- memory


def memory_results(lake: LakehouseMesh, lo: int, hi: int) -> list[dict[str, Any]]:
    """Peak RSS growth of each governed query, once, in a fresh process (and the peer's)."""
    out = []
    budget = MEMORY_LIMIT_MB + ALLOWANCE_MB
    for table in (ICEBERG, DELTA):
        kind = "iceberg" if table == ICEBERG else "delta"
        for query in queries(lo, hi):
            ours = _in_child(
                {
                    "who": "ours",
                    "home": str(lake.home),
                    "sql": query.sql.format(t=table, customers=CUSTOMERS_TABLE),
                }
            )
            theirs = _in_child({"who": "peer", "sql": lake.peer_sql(query, table)})
            log(f"{NAME} {kind} {query.name} memory: ours {ours}, peer {theirs}")
            ok = ours.get("error") is None
            growth = float(ours.get("growth_mb", float("nan")))
            out.append(
                result(
                    NAME,
                    f"{kind}_{query.name}_rss_growth_mb",
                    growth,
                    "MB",
                    peer="the peer's query, same measurement",
                    peer_value=theirs.get("growth_mb"),
                    target=f"no error, <= {MEMORY_LIMIT_MB} + {ALLOWANCE_MB} MB",
                    meets=ok and growth <= budget,
                )
            )
    return out


def _in_child(job: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.query_lakehouse_scan"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()[-3:]
        return {"error": f"exit {done.returncode}: {' | '.join(tail)}"}
    report: dict[str, Any] = json.loads(lines[-1])
    return report


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _child() -> None:
    """One query in this fresh process: warm up, reset the peak RSS, run, report."""
    job = json.loads(sys.stdin.read())
    run_query: Any
    if job["who"] == "ours":
        import deltalake  # noqa: F401  (the reader's imports are not the query's memory)
        import pyiceberg.table  # noqa: F401

        from lakemesh.mesh import Mesh

        mesh = Mesh.open(Path(job["home"]))
        query_limits = limits()
        mesh.query(f"SELECT count(*) AS n FROM {CUSTOMERS_TABLE}", as_=ANALYST, limits=query_limits)

        def run_query() -> int:
            return int(mesh.query(job["sql"], as_=ANALYST, limits=query_limits).num_rows)

    else:
        con = duckdb.connect(config={"threads": 2, "memory_limit": "512MB"})
        con.sql("SELECT 1").fetchall()

        def run_query() -> int:
            return int(con.sql(job["sql"]).to_arrow_table().num_rows)

    time.sleep(0.5)  # the engine's pool opens its next connection in the background
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = _status_kb("VmRSS")
    error = None
    t0 = time.perf_counter()
    try:
        n = run_query()
    except Exception as e:  # reported, not raised: the parent records the failure
        error, n = _reason(e), 0
    seconds = time.perf_counter() - t0
    peak = _status_kb("VmHWM")
    report = {
        "rows": n,
        "seconds": round(seconds, 2),
        "rss_before_mb": round(before / 1024, 1),
        "peak_mb": round(peak / 1024, 1),
        "growth_mb": round((peak - before) / 1024, 1),
        "error": error,
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    _child()
