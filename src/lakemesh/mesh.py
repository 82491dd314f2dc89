"""``Mesh``: the Python API of a central governance node, and what the CLI calls.

One object per mesh home. It keeps the lifecycle (``init``, ``open``, ``close``) and
hands out one API per context, each of which returns typed objects:

* ``mesh.domains``: create, get, list, crawl, sync, sync status;
* ``mesh.catalog``: search, describe, tables, partitions, schema history and diff, show;
* ``mesh.access``: users, tags, grants, revokes, masks, decisions and ``explain``;
* ``mesh.audit``: the hash-chained log, verification, checkpoints;
* ``mesh.events`` and ``mesh.alerts``;
* ``mesh.classification``: classify a table, the stewards' queue, accept and reject;
* ``mesh.products``, ``mesh.lineage``, ``mesh.glossary``: data products with contracts
  and quality, the lineage graph, the business glossary;
* ``mesh.requests`` and ``mesh.rules``: access requests as tickets, decided by the
  approval rules; ``mesh.bus``: routing and delivery of events, webhooks, subscriptions,
  inboxes and the dead-letter queue (``Worker`` runs it);
* ``mesh.query(sql, as_=...)``: governed SQL over shared data in place.

Every operation opens one session on the ``Gate`` (``lakemesh.service.session``): the
acting principal is resolved and the policy refreshed once, the action registry decides,
and a change runs as a typed command with its audit record and event in one
transaction. The CLI, the Python API and the HTTP API share this one code path.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakemesh import audit, keys
from lakemesh.access import principals
from lakemesh.access.principals import MESH_ADMIN
from lakemesh.access.snapshot import changed
from lakemesh.home import (
    Settings,
    create_home,
    load_settings,
    remove_home,
    resolve_home,
    write_settings,
)
from lakemesh.metadata.central import CentralCatalog
from lakemesh.service.access import Access
from lakemesh.service.audit import Audit
from lakemesh.service.catalog import Catalog
from lakemesh.service.classification import Classification
from lakemesh.service.domains import Domains
from lakemesh.service.events import Alerts, Events
from lakemesh.service.products import Glossary, Lineage, Products
from lakemesh.service.session import Gate
from lakemesh.store import Store

if TYPE_CHECKING:
    from lakemesh.service.bus import EventBus
    from lakemesh.service.requests import Requests, Rules


class Mesh:
    def __init__(self, home: Path, settings: Settings, store: Store) -> None:
        self.home, self.settings, self.store = home, settings, store
        self.gate = Gate(store, home)
        self.domains = Domains(self)
        self.catalog = Catalog(self, CentralCatalog(store))
        self.access = Access(self)
        self.audit = Audit(self)
        self.events = Events(self)
        self.alerts = Alerts(self)
        self.classification = Classification(self)
        self.products = Products(self)
        self.lineage = Lineage(self)
        self.glossary = Glossary(self)
        #: Set by ``init`` only: the mesh admin's API token, shown once.
        self.admin_token: str | None = None

    # The workflow and the bus load on first use: a query never needs them, and every CLI
    # command pays for what ``import lakemesh.mesh`` imports.

    @functools.cached_property
    def requests(self) -> Requests:
        from lakemesh.service.requests import Requests

        return Requests(self)

    @functools.cached_property
    def rules(self) -> Rules:
        from lakemesh.service.requests import Rules

        return Rules(self)

    @functools.cached_property
    def bus(self) -> EventBus:
        from lakemesh.service.bus import EventBus

        return EventBus(self)

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def init(cls, home: str | os.PathLike[str] | None = None, db_url: str | None = None) -> Mesh:
        path = resolve_home(home)
        settings, made = create_home(path, db_url)
        try:
            store = Store(settings.store_url(path), check=False)
            store.migrate()
            store.check()
            keys.ensure_keys(path)
            with store.write() as conn:
                _, token = principals.create_user(conn, MESH_ADMIN, "admin", MESH_ADMIN)
                changed(conn, "user", MESH_ADMIN)
                audit.record(
                    conn,
                    principal=MESH_ADMIN,
                    action="mesh.init",
                    resource=None,
                    outcome="ok",
                    details={"store": store.dialect},
                )
            write_settings(path, settings)
        except BaseException:
            remove_home(path, made)
            raise
        mesh = cls(path, settings, store)
        mesh.admin_token = token
        audit.checkpoint(store, path)
        return mesh

    @classmethod
    def open(cls, home: str | os.PathLike[str] | None = None) -> Mesh:
        path = resolve_home(home)
        settings = load_settings(path)
        return cls(path, settings, Store(settings.store_url(path)))

    def close(self) -> None:
        self.store.dispose()

    def __enter__(self) -> Mesh:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ queries

    def query(self, sql: str, *, as_: str, engine: str = "duckdb", limits: Any = None) -> Any:
        """Run a consumer's SQL over shared data in place, under the gate's policy;
        returns a pyarrow Table (``.to_pandas()`` for pandas)."""
        from lakemesh.query.governed import run_query

        return run_query(self, sql, principal=as_, engine=engine, limits=limits)

    def query_stream(
        self, sql: str, *, as_: str, engine: str = "duckdb", limits: Any = None
    ) -> Any:
        """``query``, its result read batch by batch inside a ``with`` block (a context
        manager of ``lakemesh.query.governed.QueryResult``: ``.schema``, then iterate):
        a result larger than memory can be written out as it arrives."""
        from lakemesh.query.governed import open_query

        return open_query(self, sql, principal=as_, engine=engine, limits=limits)
