"""``python -m benchmarks [--only NAME] [--quick]``: run, write results, regenerate the table.

Full-size results go to ``benchmarks/results/<name>.json`` and ``BENCHMARKS.md``. A
``--quick`` smoke run writes to ``benchmarks/data/quick/`` instead, so it never replaces
real numbers. Scratch data lives in ``benchmarks/data/run-*`` and is deleted at the end.
"""

from __future__ import annotations

import argparse
import sys
import time

from benchmarks import (
    api_read_throughput,
    authz_check_p99_100k,
    authz_cold_load,
    authz_filter_100k_tables,
    authz_revoke_visible,
    classify_precision,
    classify_recall,
    cli_startup,
    crawl_100k_files,
    events_throughput,
    partition_lookup_p99,
    query_enforcement_overhead_duckdb,
    query_enforcement_overhead_spark,
    query_enforcement_overhead_spark_cluster,
    query_lakehouse_scan,
    query_policy_cost_duckdb,
    request_auto_approve_p99,
    rewrite_latency_p99,
    sync_incremental_1pct,
    sync_initial_1m_partitions,
)
from benchmarks._common import (
    DATA,
    FULL,
    MARKDOWN,
    QUICK,
    RESULTS,
    log,
    render_markdown,
    write_results,
)
from benchmarks._fixture import Context

#: In run order: each later benchmark reuses the state the earlier ones leave.
BENCHMARKS = (
    sync_initial_1m_partitions,
    sync_incremental_1pct,
    partition_lookup_p99,
    crawl_100k_files,
    authz_check_p99_100k,
    authz_filter_100k_tables,
    authz_cold_load,
    authz_revoke_visible,
    rewrite_latency_p99,
    query_enforcement_overhead_duckdb,
    query_policy_cost_duckdb,
    query_lakehouse_scan,
    query_enforcement_overhead_spark,
    query_enforcement_overhead_spark_cluster,
    cli_startup,
    classify_precision,
    classify_recall,
    request_auto_approve_p99,
    events_throughput,
    api_read_throughput,
)
NAMES = [m.NAME for m in BENCHMARKS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=NAMES,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(NAMES)}",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke size ({QUICK.tables} tables x {QUICK.partitions} "
        "partitions), results under benchmarks/data/quick/",
    )
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    results_dir = DATA / "quick" / "results" if args.quick else RESULTS
    markdown = DATA / "quick" / "BENCHMARKS.md" if args.quick else MARKDOWN
    selected = [m for m in BENCHMARKS if not args.only or m.NAME in args.only]
    started = time.perf_counter()
    ctx = Context(size, DATA)
    missed = []
    try:
        for module in selected:
            log(f"{module.NAME}: {size.tables} tables x {size.partitions} partitions")
            rows = module.run(ctx)
            path = write_results(results_dir, module.NAME, rows)
            for r in rows:
                ratio = "" if r["ratio"] is None else f" (ratio {r['ratio']:.2f})"
                flag = "ok" if r["meets_target"] else "MISSED"
                log(
                    f"  {r['metric']} = {r['value']:.3f} {r['unit']}{ratio}, target "
                    f"{r['target']}: {flag}"
                )
                if not r["meets_target"]:
                    missed.append(f"{r['name']}.{r['metric']}")
            log(f"  wrote {path}")
    finally:
        ctx.close()
    note = "" if not args.quick else "**Smoke run (`--quick`): not representative.**"
    render_markdown(results_dir, {m.NAME: m.DESCRIPTION for m in BENCHMARKS}, markdown, note)
    log(
        f"wrote {markdown}; total {time.perf_counter() - started:.0f} s"
        + (f"; targets missed: {', '.join(missed)}" if missed else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
