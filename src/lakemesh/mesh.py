"""``Mesh``: the Python API of a central governance node, and what the CLI calls.

One object per mesh home. Every operation the CLI offers is a method here, so the CLI,
the Python API and (later) the HTTP API share one code path.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from lakemesh import search as fulltext
from lakemesh.catalog.builtin import BuiltinCatalog
from lakemesh.central import CentralCatalog, TableDetail
from lakemesh.crawler import Crawler, CrawlReport
from lakemesh.crawler import Progress as CrawlProgress
from lakemesh.domains import Domain, create_domain, get_domain, list_domains
from lakemesh.errors import InvalidInput, NotFound
from lakemesh.home import (
    Settings,
    create_home,
    load_settings,
    remove_home,
    resolve_home,
    write_settings,
)
from lakemesh.store import Store
from lakemesh.sync import Progress as SyncProgress
from lakemesh.sync import Syncer, SyncOptions, SyncResult, sync_status
from lakemesh.typedef import TableName, check_principal

#: The mesh admin that ``init`` creates (SPEC 1).
MESH_ADMIN = "admin@central"


class Mesh:
    def __init__(self, home: Path, settings: Settings, store: Store) -> None:
        self.home, self.settings, self.store = home, settings, store
        self.catalog = CentralCatalog(store)

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def init(cls, home: str | os.PathLike[str] | None = None, db_url: str | None = None) -> Mesh:
        path = resolve_home(home)
        settings, made = create_home(path, db_url)
        try:
            store = Store(settings.db_url, check=False)
            store.migrate()
            store.check()
            write_settings(path, settings)
        except BaseException:
            remove_home(path, made)
            raise
        return cls(path, settings, store)

    @classmethod
    def open(cls, home: str | os.PathLike[str] | None = None) -> Mesh:
        path = resolve_home(home)
        settings = load_settings(path)
        return cls(path, settings, Store(settings.db_url))

    def close(self) -> None:
        self.store.dispose()

    def __enter__(self) -> Mesh:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ domains

    def create_domain(self, name: str, storage: str, **kw: Any) -> Domain:
        with self.store.write() as conn:
            return create_domain(conn, name, storage, **kw)

    def domain(self, name: str) -> Domain:
        with self.store.read() as conn:
            return get_domain(conn, name)

    def domains(self) -> list[Domain]:
        with self.store.read() as conn:
            return list_domains(conn)

    # ------------------------------------------------------------------ crawl and sync

    def crawl(
        self,
        domain: str,
        path: str = "",
        database: str | None = None,
        progress: CrawlProgress | None = None,
    ) -> CrawlReport:
        d = self.domain(domain)
        if d.catalog_kind != "builtin":
            raise InvalidInput(
                f"domain {domain!r} uses a {d.catalog_kind} catalog: its tables are "
                "registered by its own tools; run 'lakemesh sync' to pick them up"
            )
        storage = d.storage()
        return Crawler(storage, BuiltinCatalog(storage), progress=progress).crawl(path, database)

    def sync(
        self,
        domains: list[str] | None = None,
        *,
        full: bool = False,
        force: bool = False,
        progress: SyncProgress | None = None,
        stop: threading.Event | None = None,
    ) -> list[SyncResult]:
        """Sync the named domains (all by default); one result per domain, never raising
        for one domain's failure so the others still sync."""
        targets = [self.domain(n) for n in domains] if domains else self.domains()
        options = SyncOptions(max_removal_ratio=self.settings.sync.max_removal_ratio, force=force)
        syncer = Syncer(
            self.store, options, progress=progress, should_stop=stop.is_set if stop else None
        )
        results = []
        for d in targets:
            if stop is not None and stop.is_set():
                break
            results.append(syncer.sync(d, full=full))
        return results

    def sync_status(self) -> list[dict[str, Any]]:
        return sync_status(self.store)

    # ------------------------------------------------------------------ discovery

    def check_principal(self, principal: str) -> str:
        """Until identities exist, the mesh admin is the only principal (issue: governance)."""
        check_principal(principal)
        if principal != MESH_ADMIN:
            raise NotFound(f"unknown principal {principal!r}")
        return principal

    def search(self, text: str, *, as_: str = MESH_ADMIN, limit: int = 50) -> list[dict[str, Any]]:
        self.check_principal(as_)
        with self.store.read() as conn:
            hits = fulltext.search(conn, text, limit)
        for hit in hits:
            detail = self.catalog.table(hit["table"])
            hit["columns"] = fulltext.matching_columns(hit["table"], detail.schema, text)
        return hits

    def table(self, name: str, *, as_: str = MESH_ADMIN) -> TableDetail:
        self.check_principal(as_)
        return self.catalog.table(TableName.parse(name))

    def show(self, name: str, *, as_: str = MESH_ADMIN, partitions: int = 20) -> dict[str, Any]:
        """Everything ``lakemesh show`` prints: details, columns, partitions, history."""
        detail = self.table(name, as_=as_)
        out = detail.as_dict()
        out["partitions"] = [p._asdict() for p in self.catalog.partitions(name, limit=partitions)]
        out["history"] = self.catalog.schema_history(name)
        return out
