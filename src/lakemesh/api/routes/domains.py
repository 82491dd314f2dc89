"""Domains, keeping the central catalog in sync with them, and the operators' alerts
(``lakemesh domain ...``, ``crawl``, ``sync``, ``sync status``, ``alerts ...``)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from lakemesh.api.routes._common import Body, Caller, MeshDep, Name, plain
from lakemesh.events.alerts import Alert

router = APIRouter(tags=["domains"])

#: Alert ids are store integers: anything larger is no alert, not an overflow.
MAX_ID = 2**53


class DomainCreate(Body):
    """A domain to register. Its storage root must exist: the API creates no folders on
    the server."""

    name: str = Field(..., min_length=2, max_length=63)
    storage: str = Field(..., min_length=1, max_length=2000, description="A folder or s3:// URI")
    catalog: str = Field("builtin", max_length=2000, description="builtin | iceberg:URI | delta")
    kind: Literal["producer", "consumer", "both"] = "producer"
    owners: list[Name] = Field(default_factory=list, max_length=100)
    endpoint: str | None = Field(None, max_length=2000, description="An S3-compatible endpoint")
    region: str | None = Field(None, max_length=100)


class DomainPublic(BaseModel):
    """A domain as every user of the mesh sees it (the mesh's directory)."""

    name: str
    storage: str
    catalog: str
    kind: str
    owners: list[str]
    storage_options: dict[str, str]
    created_at: str


class DomainDetail(DomainPublic):
    #: The domain's sync state, when the caller may see it (its operators).
    sync: dict[str, Any] | None
    #: The tables of the domain the caller may describe.
    tables: list[str]


class CrawlBody(Body):
    path: str = Field("", max_length=1000, description="A folder under the domain's root")
    database: str | None = Field(None, min_length=1, max_length=200)


class SyncBody(Body):
    domains: list[Name] | None = Field(None, max_length=1000, description="Default: all")
    full: bool = Field(False, description="Full repair: list everything, diff, report drift")
    force: bool = Field(False, description="Apply a listing the fail-safe refused")


@router.get("/domains", summary="Every domain of the mesh")
def listing(mesh: MeshDep, who: Caller) -> list[DomainPublic]:
    return [DomainPublic(**d.public()) for d in mesh.domains.all(as_=who)]


@router.post("/domains", status_code=201, summary="Register a domain (mesh admin)")
def create(body: DomainCreate, mesh: MeshDep, who: Caller) -> DomainPublic:
    d = mesh.domains.create(
        body.name,
        body.storage,
        catalog=body.catalog,
        kind=body.kind,
        owners=body.owners,
        endpoint=body.endpoint,
        region=body.region,
        as_=who,
    )
    return DomainPublic(**d.public())


@router.get("/domains/{name}", summary="A domain, its sync state and its tables")
def show(name: Name, mesh: MeshDep, who: Caller) -> DomainDetail:
    d = mesh.domains.get(name, as_=who)
    sync = next((s for s in mesh.domains.status(as_=who) if s["domain"] == d.name), None)
    tables = [t["full_name"] for t in mesh.catalog.tables(d.name, as_=who)]
    return DomainDetail(**d.public(), sync=plain(sync), tables=tables)


@router.post("/domains/{name}/crawl", summary="Crawl a builtin-catalog domain's files")
def crawl(name: Name, mesh: MeshDep, who: Caller, body: CrawlBody | None = None) -> dict[str, Any]:
    body = body or CrawlBody()
    report = mesh.domains.crawl(name, body.path, body.database, as_=who)
    return plain(report.as_dict())  # type: ignore[no-any-return]


@router.post("/sync", summary="Sync domain catalogs into the central catalog")
def sync(mesh: MeshDep, who: Caller, body: SyncBody | None = None) -> list[dict[str, Any]]:
    """One result per domain; a domain's failure is its result's status, not an error."""
    body = body or SyncBody()
    results = mesh.domains.sync(body.domains or None, full=body.full, force=body.force, as_=who)
    return [plain(r.summary()) for r in results]


@router.get("/sync/status", summary="Sync state, lag, counts and drift per domain")
def sync_status(mesh: MeshDep, who: Caller) -> list[dict[str, Any]]:
    return plain(mesh.domains.status(as_=who))  # type: ignore[no-any-return]


@router.get("/alerts", summary="Alerts the caller may see, newest first")
def alerts(
    mesh: MeshDep,
    who: Caller,
    all: bool = Query(False, description="Include resolved alerts"),
) -> list[Alert]:
    return mesh.alerts.all(include_resolved=all, as_=who)


@router.post("/alerts/{alert_id}/ack", summary="Resolve an open alert")
def acknowledge(mesh: MeshDep, who: Caller, alert_id: int = Path(..., ge=1, le=MAX_ID)) -> Alert:
    return mesh.alerts.acknowledge(alert_id, as_=who)
