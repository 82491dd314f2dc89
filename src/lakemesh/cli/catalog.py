"""Catalog commands: init, domains, crawl, sync, search, show, events, demo."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from lakemesh.cli._common import As, Home, Json, app, err, out, print_json, progress_bar, warn
from lakemesh.errors import LakemeshError
from lakemesh.mesh import Mesh
from lakemesh.principals import MESH_ADMIN
from lakemesh.sync import SyncResult

domain_app = typer.Typer(no_args_is_help=True, help="Create and inspect domains.")
events_app = typer.Typer(no_args_is_help=True, help="Events written by every change.")
app.add_typer(domain_app, name="domain")
app.add_typer(events_app, name="events")


# --------------------------------------------------------------------------- init


@app.command()
def init(
    home: Home = None,
    json_: Json = False,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: SQLite).")] = None,
) -> None:
    """Create a mesh home with its metadata store and the mesh admin."""
    mesh = Mesh.init(home, db)
    data = {
        "admin_token": mesh.admin_token,
        "home": str(mesh.home),
        "store": mesh.store.dialect,
        "admin": MESH_ADMIN,
        "revision": mesh.store.revision(),
    }
    mesh.close()
    if json_:
        print_json(data)
    else:
        out.print(
            f"initialised mesh at {data['home']} ({data['store']} store); "
            f"mesh admin is {MESH_ADMIN}",
            markup=False,
        )
        out.print(f"mesh admin API token (shown once): {data['admin_token']}", markup=False)


@app.command()
def migrate(home: Home = None, json_: Json = False) -> None:
    """Upgrade an existing mesh home's store to this version's schema."""
    from lakemesh.home import load_settings, resolve_home
    from lakemesh.store import Store

    path = resolve_home(home)
    store = Store(load_settings(path).store_url(path), check=False)
    store.migrate()
    revision = store.revision()
    store.dispose()
    if json_:
        print_json({"revision": revision})
    else:
        out.print(f"store at revision {revision}")


# --------------------------------------------------------------------------- domains


@domain_app.command("create")
def domain_create(
    name: str,
    storage: Annotated[str, typer.Option("--storage", help="A local path or s3://bucket/prefix.")],
    catalog: Annotated[str, typer.Option(help="builtin | iceberg:URI | delta")] = "builtin",
    kind: Annotated[str, typer.Option("--kind", help="producer | consumer | both")] = "producer",
    owner: Annotated[list[str] | None, typer.Option("--owner", help="Owner (repeatable).")] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="S3 endpoint URL.")] = None,
    region: Annotated[str | None, typer.Option("--region", help="S3 region.")] = None,
    home: Home = None,
    json_: Json = False,
) -> None:
    """Register a domain with its storage root and catalog."""
    with Mesh.open(home) as mesh:
        d = mesh.create_domain(
            name,
            storage,
            catalog=catalog,
            kind=kind,
            owners=tuple(owner or ()),
            endpoint=endpoint,
            region=region,
        )
    if json_:
        print_json(d.public())
    else:
        out.print(
            f"created domain {d.name} ({d.kind}, {d.catalog_spec} catalog, "
            f"storage {d.storage_uri})",
            markup=False,
        )


@domain_app.command("list")
def domain_list(home: Home = None, json_: Json = False) -> None:
    """List domains."""
    with Mesh.open(home) as mesh:
        domains = [d.public() for d in mesh.domains()]
    if json_:
        print_json(domains)
        return
    table = Table("name", "kind", "catalog", "storage", "owners")
    for d in domains:
        table.add_row(d["name"], d["kind"], d["catalog"], d["storage"], ", ".join(d["owners"]))
    out.print(table)


@domain_app.command("show")
def domain_show(name: str, home: Home = None, json_: Json = False) -> None:
    """Show one domain with its sync state."""
    with Mesh.open(home) as mesh:
        data = mesh.domain(name).public()
        data["sync"] = next((s for s in mesh.sync_status() if s["domain"] == name), None)
        data["tables"] = [t["full_name"] for t in mesh.tables(name)]
    if json_:
        print_json(data)
        return
    for key in ("name", "kind", "catalog", "storage", "owners", "created_at"):
        out.print(f"{key:>10}: {data[key]}", markup=False)
    sync = data["sync"] or {}
    out.print(
        f"{'sync':>10}: {sync.get('status')} (last success {sync.get('last_success_at')})",
        markup=False,
    )
    out.print(f"{'tables':>10}: {len(data['tables'])}", markup=False)
    for t in data["tables"]:
        out.print(f"            {t}", markup=False)


# --------------------------------------------------------------------------- crawl, sync


@app.command()
def crawl(
    domain: str,
    path: Annotated[str, typer.Argument(help="Folder under the domain root.")] = "",
    database: Annotated[
        str | None, typer.Option(help="Put every table found into this DB.")
    ] = None,
    home: Home = None,
    json_: Json = False,
) -> None:
    """Infer tables from files under a domain's storage root into its builtin catalog."""
    with Mesh.open(home) as mesh, progress_bar(not json_) as progress:
        report = mesh.crawl(domain, path, database, progress=progress)
    warn(report.warnings)
    if json_:
        print_json(report.as_dict())
        return
    out.print(
        f"crawled {domain}: {len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.removed)} removed "
        f"({report.files_read} files read, {report.files_cached} cached)",
        markup=False,
    )


@app.command()
def sync(
    domains: Annotated[
        list[str] | None, typer.Argument(help="Domains (default all) or 'status'.")
    ] = None,
    full: Annotated[bool, typer.Option(help="Full repair: list all, diff, report drift.")] = False,
    watch: Annotated[bool, typer.Option(help="Keep syncing until Ctrl-C.")] = False,
    force: Annotated[bool, typer.Option(help="Apply a listing the fail-safe refused.")] = False,
    interval: Annotated[
        float | None, typer.Option(help="Watch: incremental every N s.", min=0.1)
    ] = None,
    repair_interval: Annotated[
        float | None, typer.Option(help="Watch: full every N s.", min=1)
    ] = None,
    as_: As = MESH_ADMIN,
    home: Home = None,
    json_: Json = False,
) -> None:
    """Sync domain catalogs into the central catalog; 'sync status' shows sync health."""
    names = list(domains or [])
    if "status" in names:
        if len(names) > 1 or full or watch or force:
            raise typer.BadParameter("'sync status' takes no other arguments")
        _sync_status(home, json_)
        return
    with Mesh.open(home) as mesh:
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
            results = mesh.sync(names or None, full=full, force=force, progress=progress, as_=as_)
    _show_results(results, json_)
    bad = [r for r in results if r.status != "ok"]
    if bad:
        raise LakemeshError(f"sync {bad[0].status} for {bad[0].domain}: {bad[0].error}")


def _show_results(results: list[SyncResult], json_: bool, *, quiet: bool = False) -> None:
    if json_:
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
        out.print(line, markup=False)
        if r.drift is not None:
            out.print(
                f"  drift: {len(r.drift['missing'])} missing, {len(r.drift['stale'])} "
                f"stale, {len(r.drift['extra'])} extra centrally",
                markup=False,
            )
            for kind in ("missing", "stale", "extra"):
                for name in r.drift[kind]:
                    out.print(f"    {kind}: {name}", markup=False)
        for name in r.breaking_changes:
            out.print(f"  breaking schema change: {name}", markup=False)
        if r.error:
            err.print(f"{r.domain}: {r.error}", markup=False)


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
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    next_repair = time.monotonic() + repair_interval
    err.print(
        f"watching {', '.join(names) or 'all domains'}: incremental every {interval:g}s, "
        f"full repair every {repair_interval:g}s; Ctrl-C stops",
        markup=False,
    )
    while not stop.is_set():
        full = time.monotonic() >= next_repair
        if full:
            next_repair = time.monotonic() + repair_interval
        results = mesh.sync(names or None, full=full, force=force, stop=stop, as_=as_)
        if json_:
            for r in results:
                sys.stdout.write(json.dumps(r.summary(), default=str) + "\n")
            sys.stdout.flush()
        else:
            _show_results(results, False, quiet=True)
        stop.wait(interval)
    err.print("stopped", markup=False)


def _sync_status(home: str | None, json_: bool) -> None:
    with Mesh.open(home) as mesh:
        rows = mesh.sync_status()
    if json_:
        print_json(rows)
        return
    table = Table(
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
            _when(r["last_success_at"]),
            "-" if r["lag_seconds"] is None else f"{r['lag_seconds']:.0f}",
            str(r["tables"]),
            str(r["partitions"]),
            "-" if drift is None else f"{drift['missing']}/{drift['stale']}/{drift['extra']}",
            str(r["open_alerts"]),
        )
    out.print(table)
    for r in rows:
        if r["last_error"]:
            out.print(
                f"{r['domain']}: last error at {_when(r['last_error_at'])}: {r['last_error']}",
                markup=False,
            )


def _when(iso: str | None) -> str:
    return "-" if iso is None else iso[:19].replace("T", " ")


# --------------------------------------------------------------------------- discovery


@app.command("search")
def search_cmd(text: str, as_: As = MESH_ADMIN, home: Home = None, json_: Json = False) -> None:
    """Full-text search over table names, column names and descriptions."""
    with Mesh.open(home) as mesh:
        hits = mesh.search(text, as_=as_)
    if json_:
        print_json(hits)
        return
    if not hits:
        out.print("no tables match")
    for h in hits:
        cols = f"  (columns: {', '.join(h['columns'])})" if h["columns"] else ""
        out.print(f"{h['table']}  [{h['format']}]  {h['description'] or ''}{cols}", markup=False)


@app.command()
def show(
    table: str,
    as_: As = MESH_ADMIN,
    home: Home = None,
    json_: Json = False,
    partitions: Annotated[int, typer.Option(help="How many partitions to list.", min=0)] = 20,
) -> None:
    """One table: schema, partitions and schema history."""
    with Mesh.open(home) as mesh:
        data = mesh.show(table, as_=as_, partitions=partitions)
    if json_:
        print_json(data)
        return
    out.print(f"{data['name']}  ({data['format']}, schema v{data['schema_version']})", markup=False)
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
            out.print(f"  {key}: {data[key]}", markup=False)
    if data["tags"]:
        out.print(f"  tags: {_tag_text(data['tags'])}", markup=False)
    if data["product"]:
        out.print("  registered data product", markup=False)
    cols = Table("column", "type", "null", "part", "tags", "mask", "description", title="schema")
    for c in data["columns"]:
        own = {k: v for k, v in c["tags"].items() if data["tags"].get(k) != v}
        cols.add_row(
            c["name"],
            c["type"],
            "yes" if c.get("nullable", True) else "no",
            "yes" if c.get("partition") else "",
            _tag_text(own),
            c["mask"] or "",
            c.get("description") or "",
        )
    out.print(cols)
    out.print(
        f"partitions: {data['partition_count']} "
        f"({', '.join(data['partition_keys']) or 'unpartitioned'})",
        markup=False,
    )
    for p in data["partitions"]:
        out.print(
            f"  {p['key']}  files={p['file_count']} bytes={p['size_bytes']}"
            + (f" rows={p['row_count']}" if p["row_count"] is not None else ""),
            markup=False,
        )
    out.print("history:")
    for v in data["history"]:
        changes = "; ".join(_change_text(c) for c in v["changes"]) or "created"
        out.print(f"  v{v['version']} {v['created_at']}: {changes}", markup=False)


def _tag_text(tags: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))


def _change_text(change: dict[str, Any]) -> str:
    breaking = " (breaking)" if change["breaking"] else ""
    return f"{change['kind']} {change.get('column') or ''}".strip() + breaking


@events_app.command("list")
def events_list(
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    type_: Annotated[
        str | None, typer.Option("--type", help="Only types with this prefix.")
    ] = None,
    home: Home = None,
    json_: Json = False,
) -> None:
    """The newest events, newest first."""
    from lakemesh import events

    with Mesh.open(home) as mesh, mesh.store.read() as conn:
        rows = events.recent(conn, limit, type_)
    if json_:
        print_json(rows)
        return
    for r in rows:
        out.print(
            f"{r['id']:>6} {r['created_at']} {r['type']:<24} {r['subject'] or ''}", markup=False
        )


@app.command()
def demo(
    directory: Annotated[
        str | None, typer.Option("--dir", help="An empty directory to use.")
    ] = None,
    home: Home = None,
    json_: Json = False,
) -> None:
    """The whole story of SPEC section 4, end to end, on the embedded defaults.

    ``--home`` places the demo's mesh (default: DIR/mesh); with ``--json`` the story goes
    to stderr and stdout gets ``{"dir": ..., "home": ...}``.
    """
    import contextlib

    from lakemesh.demo import run_demo

    if not json_:
        run_demo(directory, home)
        return
    with contextlib.redirect_stdout(sys.stderr):
        base, mesh_home = run_demo(directory, home)
    print_json({"dir": str(base), "home": str(mesh_home)})
