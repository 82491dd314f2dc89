"""Central catalog commands: domains, crawl, sync and its status, search, show."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from lakemesh.cli._common import (
    command,
    err,
    group,
    open_mesh,
    out,
    print_json,
    progress_bar,
    warn,
    when,
)
from lakemesh.cli._table import TextTable
from lakemesh.errors import LakemeshError

if TYPE_CHECKING:
    from lakemesh.mesh import Mesh
    from lakemesh.metadata.sync import SyncResult

domain_app = group("domain", "Create and inspect domains.")


# --------------------------------------------------------------------------- domains


@command(domain_app, "create", acts=True)
@click.argument("name")
@click.option("--storage", required=True, metavar="URI", help="A local path or s3://bucket/prefix.")
@click.option("--create", is_flag=True, help="Create the storage folder if it does not exist.")
@click.option(
    "--catalog", default="builtin", show_default=True, help="builtin | iceberg:URI | delta"
)
@click.option("--kind", default="producer", show_default=True, help="producer | consumer | both")
@click.option(
    "--owner",
    "owners",
    multiple=True,
    metavar="USER",
    help="An owner: an existing user, or a user of the new domain (repeatable).",
)
@click.option("--endpoint", metavar="URL", help="S3 endpoint URL.")
@click.option("--region", help="S3 region.")
def domain_create(
    name: str,
    storage: str,
    create: bool,
    catalog: str,
    kind: str,
    owners: tuple[str, ...],
    endpoint: str | None,
    region: str | None,
    as_: str,
    home: str | None,
    json_: bool,
) -> None:
    """Register a domain with its storage root and catalog."""
    with open_mesh(home) as mesh:
        d = mesh.domains.create(
            name,
            storage,
            catalog=catalog,
            kind=kind,
            owners=owners,
            endpoint=endpoint,
            region=region,
            create=create,
            as_=as_,
        )
    if json_:
        print_json(d.public())
    else:
        out.print(
            f"created domain {d.name} ({d.kind}, {d.catalog_spec} catalog, storage {d.storage_uri})"
        )


@command(domain_app, "list")
def domain_list(home: str | None, json_: bool) -> None:
    """List domains."""
    with open_mesh(home) as mesh:
        domains = [d.public() for d in mesh.domains.all()]
    if json_:
        print_json(domains)
        return
    table = TextTable("name", "kind", "catalog", "storage", "owners")
    for d in domains:
        table.add_row(d["name"], d["kind"], d["catalog"], d["storage"], ", ".join(d["owners"]))
    out.print(table)


@command(domain_app, "show")
@click.argument("name")
def domain_show(name: str, home: str | None, json_: bool) -> None:
    """Show one domain with its sync state."""
    with open_mesh(home) as mesh:
        data = mesh.domains.get(name).public()
        data["sync"] = next((s for s in mesh.domains.status() if s["domain"] == name), None)
        data["tables"] = [t["full_name"] for t in mesh.catalog.tables(name)]
    if json_:
        print_json(data)
        return
    for key in ("name", "kind", "catalog", "storage", "owners", "created_at"):
        out.print(f"{key:>10}: {data[key]}")
    sync = data["sync"] or {}
    out.print(f"{'sync':>10}: {sync.get('status')} (last success {sync.get('last_success_at')})")
    out.print(f"{'tables':>10}: {len(data['tables'])}")
    for t in data["tables"]:
        out.print(f"            {t}")


# --------------------------------------------------------------------------- crawl, sync


@command(acts=True)
@click.argument("domain")
@click.argument("path", default="")
@click.option("--database", metavar="DB", help="Put every table found into this database.")
def crawl(
    domain: str, path: str, database: str | None, as_: str, home: str | None, json_: bool
) -> None:
    """Infer tables from files under a domain's storage root into its builtin catalog.

    The layout is PATH/<database>/<table>/[key=value/...]files, or PATH/<table>/... with
    --database. A crawl that finds no table exits 1 and says why.
    """
    with open_mesh(home) as mesh, progress_bar(not json_) as progress:
        report = mesh.domains.crawl(domain, path, database, progress=progress, as_=as_)
    warn(report.warnings)
    if json_:
        print_json(report.as_dict())
    else:
        out.print(
            f"crawled {domain}: {len(report.added)} added, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged, {len(report.removed)} removed "
            f"({report.files_read} files read, {report.files_cached} cached)"
        )
    if report.hint is not None and report.warnings:
        raise LakemeshError(f"crawl found no table: {report.hint}")
    if report.hint is not None:
        err.print(f"note: no table found: {report.hint}")


@command(acts=True)
@click.argument("domains", nargs=-1)
@click.option("--full", is_flag=True, help="Full repair: list everything, diff, report drift.")
@click.option("--watch", is_flag=True, help="Keep syncing until Ctrl-C.")
@click.option("--force", is_flag=True, help="Apply a listing the fail-safe refused.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    metavar="SECONDS",
    help="Watch: incremental every N s.",
)
@click.option(
    "--repair-interval",
    type=click.FloatRange(min=1),
    metavar="SECONDS",
    help="Watch: full every N s.",
)
def sync(
    domains: tuple[str, ...],
    full: bool,
    watch: bool,
    force: bool,
    interval: float | None,
    repair_interval: float | None,
    as_: str,
    home: str | None,
    json_: bool,
) -> None:
    """Sync domain catalogs (default all) into the central catalog.

    'lakemesh sync status' shows per domain the sync state, lag, counts, drift and open
    alerts.
    """
    names = list(domains)
    if "status" in names:
        if len(names) > 1 or full or watch or force:
            raise click.UsageError("'sync status' takes no other arguments")
        _sync_status(home, json_)
        return
    with open_mesh(home) as mesh:
        if watch:
            _watch(
                mesh,
                names,
                json_,
                force,
                interval or mesh.settings.sync.interval_seconds,
                repair_interval or mesh.settings.sync.repair_interval_seconds,
                as_,
            )
            return
        with progress_bar(not json_) as progress:
            results = mesh.domains.sync(
                names or None, full=full, force=force, progress=progress, as_=as_
            )
    _show_results(results, json_)
    bad = [r for r in results if r.status != "ok"]
    if bad:
        raise LakemeshError(f"sync {bad[0].status} for {bad[0].domain}: {bad[0].error}")


def _show_results(results: list[SyncResult], json_: bool, *, quiet: bool = False) -> None:
    if json_:
        for r in results:
            warn(r.warnings)
        print_json([r.summary() for r in results])
        return
    for r in results:
        warn(r.warnings)
        if quiet and r.status == "ok" and not r.changed:
            continue
        line = (
            f"{r.domain}: {r.mode} sync {r.status}: tables +{r.tables_added} "
            f"~{r.tables_updated} -{r.tables_removed}, partitions +{r.partitions_added} "
            f"~{r.partitions_changed} -{r.partitions_removed} ({r.seconds:.2f}s)"
        )
        out.print(line)
        if r.drift is not None:
            out.print(
                f"  drift: {len(r.drift['missing'])} missing, {len(r.drift['stale'])} "
                f"stale, {len(r.drift['extra'])} extra centrally"
            )
            for kind in ("missing", "stale", "extra"):
                for name in r.drift[kind]:
                    out.print(f"    {kind}: {name}")
        for name in r.breaking_changes:
            out.print(f"  breaking schema change: {name}")
        if r.error:
            err.print(f"{r.domain}: {r.error}")


def _watch(
    mesh: Mesh,
    names: list[str],
    json_: bool,
    force: bool,
    interval: float,
    repair_interval: float,
    as_: str,
) -> None:
    """Incremental every ``interval`` s, full repair every ``repair_interval`` s; a
    signal stops it between tables (each table's transaction is whole)."""
    import signal
    import threading
    import time

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    next_repair = time.monotonic() + repair_interval
    err.print(
        f"watching {', '.join(names) or 'all domains'}: incremental every {interval:g}s, "
        f"full repair every {repair_interval:g}s; Ctrl-C stops"
    )
    while not stop.is_set():
        full = time.monotonic() >= next_repair
        results = mesh.domains.sync(names or None, full=full, force=force, stop=stop, as_=as_)
        if full:  # counted from the repair's end: a repair slower than the interval
            next_repair = time.monotonic() + repair_interval  # still leaves room for others
        if json_:
            for r in results:
                sys.stdout.write(json.dumps(r.summary(), default=str) + "\n")
            sys.stdout.flush()
        else:
            _show_results(results, False, quiet=True)
        stop.wait(interval)
    err.print("stopped")


def _sync_status(home: str | None, json_: bool) -> None:
    with open_mesh(home) as mesh:
        rows = mesh.domains.status()
    if json_:
        print_json(rows)
        return
    table = TextTable(
        "domain",
        "status",
        "last success (UTC)",
        "lag s",
        "tables",
        "parts",
        "drift m/s/e",
        "alerts",
    )
    for r in rows:
        drift = r["drift"]
        table.add_row(
            r["domain"],
            r["status"],
            when(r["last_success_at"]),
            "-" if r["lag_seconds"] is None else f"{r['lag_seconds']:.0f}",
            str(r["tables"]),
            str(r["partitions"]),
            "-" if drift is None else f"{drift['missing']}/{drift['stale']}/{drift['extra']}",
            str(r["open_alerts"]),
        )
    out.print(table)
    for r in rows:
        if r["last_error"]:
            out.print(f"{r['domain']}: last error at {when(r['last_error_at'])}: {r['last_error']}")
    if any(r["open_alerts"] for r in rows):
        out.print("open alerts: lakemesh alerts list")


# --------------------------------------------------------------------------- discovery


@command(name="search", acts=True)
@click.argument("text")
def search_cmd(text: str, as_: str, home: str | None, json_: bool) -> None:
    """Search names, descriptions, columns, tags and glossary terms (products first)."""
    with open_mesh(home) as mesh:
        hits = mesh.catalog.search(text, as_=as_)
    if json_:
        print_json(hits)
        return
    if not hits:
        out.print("no tables match")
    for h in hits:
        cols = f"  (columns: {', '.join(h['columns'])})" if h["columns"] else ""
        kind = "product" if h.get("product") else h["format"]
        out.print(f"{h['table']}  [{kind}]  {h['description'] or ''}{cols}")


@command(acts=True)
@click.argument("table")
@click.option(
    "--partitions",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    metavar="N",
    help="How many partitions to list.",
)
def show(table: str, partitions: int, as_: str, home: str | None, json_: bool) -> None:
    """One table: schema, partitions, tags, masks, product info and schema history."""
    with open_mesh(home) as mesh:
        data = mesh.catalog.show(table, as_=as_, partitions=partitions)
    if json_:
        print_json(data)
        return
    out.print(f"{data['name']}  ({data['format']}, schema v{data['schema_version']})")
    for key in (
        "location",
        "description",
        "owner",
        "row_count",
        "file_count",
        "size_bytes",
        "updated_at",
    ):
        if data.get(key) is not None:
            out.print(f"  {key}: {data[key]}")
    if data["tags"]:
        out.print(f"  tags: {_tag_text(data['tags'])}")
    out.print(
        f"  pii: {'yes' if data['pii'] else 'no'} (database: "
        f"{'yes' if data['database_pii'] else 'no'})"
    )
    cols = TextTable(
        "column", "type", "null", "part", "tags", "mask", "glossary", "description", title="schema"
    )
    for c in data["columns"]:
        own = {k: v for k, v in c["tags"].items() if data["tags"].get(k) != v}
        cols.add_row(
            _column_text(c),
            c["type"],
            "yes" if c.get("nullable", True) else "no",
            "yes" if c.get("partition") else "",
            _tag_text(own),
            c["mask"] or "",
            ", ".join(c.get("glossary") or []),
            c.get("description") or "",
        )
    out.print(cols)
    out.print(
        f"partitions: {data['partition_count']} "
        f"({', '.join(data['partition_keys']) or 'unpartitioned'})"
    )
    for p in data["partitions"]:
        out.print(
            f"  {p['key']}  files={p['file_count']} bytes={p['size_bytes']}"
            + (f" rows={p['row_count']}" if p["row_count"] is not None else "")
        )
    out.print("history:")
    for v in data["history"]:
        changes = "; ".join(_change_text(c) for c in v["changes"]) or "created"
        out.print(f"  v{v['version']} {v['created_at']}: {changes}")
    from lakemesh.cli.products import print_product, print_recommendations, print_stewardship

    if data["product_info"]:
        print_product(data)
    else:
        print_stewardship(data)
    pending = [r for r in data.get("classification", []) if r["status"] == "pending"]
    if pending:
        out.print("classification recommendations (pending):")
        print_recommendations(pending)


def _column_text(column: dict[str, Any]) -> str:
    """The catalog name, and the files' spelling beside it when they differ:
    ``entry_id ("Entry ID")``."""
    source = column.get("source_name")
    if source is None:
        return str(column["name"])
    return f"{column['name']} ({json.dumps(source, ensure_ascii=False)})"


def _tag_text(tags: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))


def _change_text(change: dict[str, Any]) -> str:
    breaking = " (breaking)" if change["breaking"] else ""
    return f"{change['kind']} {change.get('column') or ''}".strip() + breaking
