"""``mesh.domains``: the domains of the mesh, and keeping the central catalog in sync
with their own catalogs (crawl a builtin catalog, sync any catalog, sync status)."""

from __future__ import annotations

import builtins
import threading
from typing import TYPE_CHECKING, Any

from lakemesh.access.actions import Target
from lakemesh.access.principals import MESH_ADMIN
from lakemesh.errors import InvalidInput
from lakemesh.events import DomainCrawled, emit
from lakemesh.metadata.domains import Domain, get_domain, list_domains

if TYPE_CHECKING:
    from lakemesh.mesh import Mesh
    from lakemesh.metadata.crawler import CrawlReport
    from lakemesh.metadata.crawler import Progress as CrawlProgress
    from lakemesh.metadata.sync import Progress as SyncProgress
    from lakemesh.metadata.sync import SyncResult
    from lakemesh.service.session import Session


def domain_target(name: str) -> Target:
    return Target("domain", name, name)


class Domains:
    def __init__(self, mesh: Mesh) -> None:
        self._mesh = mesh

    def create(self, name: str, storage: str, *, as_: str = MESH_ADMIN, **options: Any) -> Domain:
        """Register a domain (mesh admin). ``options``: catalog, kind, owners, endpoint,
        region, create (see ``CreateDomain``)."""
        if "owners" in options:
            options["owners"] = tuple(options["owners"] or ())
        from lakemesh.service.commands import CreateDomain  # not for a query

        command = CreateDomain(name=name, storage=storage, **options)
        return self._mesh.gate.session(as_).execute(command)

    def get(self, name: str, *, as_: str = MESH_ADMIN) -> Domain:
        session = self._mesh.gate.session(as_)
        with session.read() as conn:
            domain = get_domain(conn, name)
        session.require("domain.read", domain_target(name))
        return domain

    def all(self, *, as_: str = MESH_ADMIN) -> builtins.list[Domain]:
        """Every domain ``as_`` may see (the mesh's directory: every user)."""
        session = self._mesh.gate.session(as_)
        with session.read() as conn:
            found = list_domains(conn)
        return [d for d in found if session.allowed("domain.read", domain_target(d.name))]

    def crawl(
        self,
        domain: str,
        path: str = "",
        database: str | None = None,
        progress: CrawlProgress | None = None,
        *,
        as_: str = MESH_ADMIN,
    ) -> CrawlReport:
        """Crawl a builtin-catalog domain's files into its catalog (its stewards/admins)."""
        session = self._mesh.gate.session(as_)
        with session.read() as conn:
            d = get_domain(conn, domain)
        decision = session.require("domain.crawl", domain_target(domain), audit_as="domain.crawl")
        if d.catalog_kind != "builtin":
            raise InvalidInput(
                f"domain {domain!r} uses a {d.catalog_kind} catalog: its tables are "
                "registered by its own tools; run 'lakemesh sync' to pick them up"
            )
        storage = d.storage()
        from lakemesh.catalog.builtin import BuiltinCatalog
        from lakemesh.metadata.crawler import Crawler

        report = Crawler(storage, BuiltinCatalog(storage), progress=progress).crawl(path, database)
        event = DomainCrawled(
            domain=domain,
            actor=session.actor.name,
            added=len(report.added),
            updated=len(report.updated),
            removed=len(report.removed),
            warnings=len(report.warnings),
        )

        def record(conn: Any) -> CrawlReport:
            emit(conn, event)
            return report

        return session.audited(
            "domain.crawl",
            domain,
            record,
            lambda r: event.model_dump(include={"added", "updated", "removed", "warnings"}),
            decision,
        )

    def sync(
        self,
        domains: builtins.list[str] | None = None,
        *,
        full: bool = False,
        force: bool = False,
        progress: SyncProgress | None = None,
        stop: threading.Event | None = None,
        as_: str = MESH_ADMIN,
    ) -> builtins.list[SyncResult]:
        """Sync the named domains (all by default); one result per domain, never raising
        for one domain's failure so the others still sync."""
        session = self._mesh.gate.session(as_)
        with session.read() as conn:
            targets = [get_domain(conn, n) for n in domains] if domains else list_domains(conn)
        for d in targets:
            session.require("domain.sync", domain_target(d.name), audit_as="domain.sync")
        from lakemesh.metadata.sync import Syncer, SyncOptions

        options = SyncOptions(
            max_removal_ratio=self._mesh.settings.sync.max_removal_ratio, force=force
        )
        syncer = Syncer(
            self._mesh.store,
            options,
            progress=progress,
            should_stop=stop.is_set if stop else None,
            actor=session.actor.name,
        )
        results = []
        for d in targets:
            if stop is not None and stop.is_set():
                break
            result = syncer.sync(d, full=full)
            if result.status == "ok":
                result.warnings += self._after_sync(d.name, session)
            results.append(result)
        self._mesh.gate.checkpoint_if_due()
        return results

    def _after_sync(self, domain: str, session: Session) -> builtins.list[str]:
        """What a sync sets off on the tables it added or changed: classification, and the
        contract and quality check of products. Each runs on its own and only warns when
        it cannot: the catalog change is already committed and stays."""
        settings = self._mesh.settings.products
        warnings: builtins.list[str] = []
        if settings.classify_on_sync:
            warnings += self._mesh.classification.classify_due(domain, session)
        if settings.check_on_sync:
            warnings += self._mesh.products.check_due(domain, session)
        return warnings

    def status(self, *, as_: str = MESH_ADMIN) -> builtins.list[dict[str, Any]]:
        """Per domain ``as_`` runs: state, last success and error, lag, counts, drift."""
        from lakemesh.metadata.sync import sync_status

        session = self._mesh.gate.session(as_)
        return [
            row
            for row in sync_status(self._mesh.store)
            if session.allowed("domain.status", domain_target(row["domain"]))
        ]
