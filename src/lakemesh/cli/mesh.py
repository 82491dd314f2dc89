"""Mesh lifecycle commands: init, migrate, and the demo story."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from lakemesh.cli._common import (
    MESH_ADMIN,
    command,
    out,
    print_json,
)

if TYPE_CHECKING:
    pass


# --------------------------------------------------------------------------- init


@command()
@click.option("--db", metavar="URL", help="Database URL (default: SQLite in the mesh home).")
def init(db: str | None, home: str | None, json_: bool) -> None:
    """Create a mesh home with its metadata store and the mesh admin."""
    from lakemesh.mesh import Mesh

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
            f"mesh admin is {MESH_ADMIN}"
        )
        out.print(f"mesh admin API token (shown once): {data['admin_token']}")


@command()
def migrate(home: str | None, json_: bool) -> None:
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


@command()
@click.option("--dir", "directory", metavar="DIR", help="An empty directory to use.")
@click.option(
    "--serve",
    "serve_ui",
    is_flag=True,
    help="After the story, leave the web UI running on the demo mesh (prints sign-in tokens).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="With --serve: address.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="With --serve."
)
def demo(
    directory: str | None,
    serve_ui: bool,
    host: str,
    port: int,
    home: str | None,
    json_: bool,
) -> None:
    """Tell the whole demo story, end to end, on the embedded defaults, then exit.

    Three domains, the German credit data curated into a product, crawl, sync,
    classification, a mask, products with contracts, search, access requests (approved
    by the rules and by a mailed link), governed queries on DuckDB and Spark, a model
    trained on the result, the audit chain verified and the events listed. --home places
    the demo's mesh (default: DIR/mesh); with --json the story goes to stderr and stdout
    gets {"dir": ..., "home": ...}. With --serve the web UI then stays up on the demo mesh
    until Ctrl-C, with a sign-in token printed for each demo user.
    """
    import contextlib

    from lakemesh.demo import run_demo

    if not json_:
        _, mesh_home = run_demo(directory, home)
    else:
        with contextlib.redirect_stdout(sys.stderr):
            base, mesh_home = run_demo(directory, home)
        print_json({"dir": str(base), "home": str(mesh_home)})
        sys.stdout.flush()  # before serving: a caller reads it while the UI runs
    if serve_ui:
        from lakemesh.demo.ui import serve

        with contextlib.redirect_stdout(sys.stderr) if json_ else contextlib.nullcontext():
            serve(mesh_home, host, port)
