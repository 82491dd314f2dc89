"""Governance pages: domains (sync status, drift, alerts), the classification queue,
grants and ``access explain``, the audit log with its verification, events and the
dead-letter queue.

These pages show whatever the facade lets the user see: a steward sees its domain's
queue and alerts, the mesh admin the audit log and the outbox; for anyone else the
facade's refusal is the page's one-line message (the page itself still renders).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from lakemesh.errors import LakemeshError
from lakemesh.typedef import parse_instant
from lakemesh.web.render import failed, mesh, page, path_of, redirect
from lakemesh.web.session import Posted, Signed, Viewer

router = APIRouter()

#: Tables of a domain whose schema changes the domain page lists (newest versions first).
DRIFT_TABLES = 20


# --------------------------------------------------------------------------- domains


@router.get("/domains", response_class=HTMLResponse)
def domains(request: Request, who: Signed) -> Response:
    """Every domain with its sync status and open alerts (where the user may see them)."""
    m = mesh(request)
    try:
        listed = m.domains.all(as_=who.name)
        status = {s["domain"]: s for s in m.domains.status(as_=who.name)}
        alerts = m.alerts.all(as_=who.name)
    except LakemeshError as exc:
        return page(
            request,
            "domains.html",
            who,
            status=200,
            error=exc,
            title="Domains",
            domains=[],
            sync={},
            alerts=[],
        )
    return page(
        request, "domains.html", who, title="Domains", domains=listed, sync=status, alerts=alerts
    )


@router.get("/domains/{name}", response_class=HTMLResponse)
def domain(request: Request, name: str, who: Signed) -> Response:
    return _domain(request, who, name)


def _domain(
    request: Request, who: Viewer, name: str, error: LakemeshError | None = None
) -> Response:
    m = mesh(request)
    try:
        found = m.domains.get(name, as_=who.name)
        sync = next((s for s in m.domains.status(as_=who.name) if s["domain"] == name), None)
        alerts = [a for a in m.alerts.all(as_=who.name) if a.domain == name]
        tables = m.catalog.tables(name, as_=who.name)
    except LakemeshError as exc:
        return failed(request, who, exc)
    changed = sorted(
        (t for t in tables if (t.get("schema_version") or 1) > 1),
        key=lambda t: t["updated_at"],
        reverse=True,
    )[:DRIFT_TABLES]
    drift: list[dict[str, Any]] = []
    for t in changed:  # only tables whose schema changed, at most DRIFT_TABLES
        try:
            history = m.catalog.schema_history(t["full_name"], as_=who.name)
        except LakemeshError:
            continue
        for version in history[1:]:
            drift += [
                {
                    "table": t["full_name"],
                    "version": version["version"],
                    "at": version["created_at"],
                    "breaking": version.get("breaking"),
                    **c,
                }
                for c in version.get("changes", [])
            ]
    drift.sort(key=lambda d: str(d["at"]), reverse=True)
    return page(
        request,
        "domain.html",
        who,
        error=error,
        title=f"Domain {found.name}",
        d=found,
        sync=sync,
        alerts=alerts,
        tables=tables,
        drift=drift,
    )


@router.post("/alerts/{alert_id}/ack")
def acknowledge(
    request: Request,
    alert_id: int,
    who: Posted,
    domain: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    back = f"/domains/{path_of(domain)}" if domain else "/domains"
    try:
        mesh(request).alerts.acknowledge(alert_id, as_=who.name)
    except LakemeshError as exc:
        if domain:
            return _domain(request, who, domain, exc)
        return failed(request, who, exc)
    return redirect(request, back, f"Alert {alert_id} acknowledged.")


# --------------------------------------------------------------------------- classification


@router.get("/classification", response_class=HTMLResponse)
def classification(request: Request, who: Signed) -> Response:
    return _classification(request, who)


def _classification(request: Request, who: Viewer, error: LakemeshError | None = None) -> Response:
    status = None if error is not None else 200
    queue: list[Any] = []
    try:
        queue = mesh(request).classification.queue(as_=who.name)
    except LakemeshError as exc:
        if error is None:  # the queue itself is refused: the page says so
            error, status = exc, 200
    return page(
        request,
        "classification.html",
        who,
        status=status,
        error=error,
        title="Classification queue",
        queue=queue,
    )


@router.post("/classification/decide")
def decide_classification(
    request: Request,
    who: Posted,
    column: Annotated[str, Form(max_length=400)] = "",
    tag: Annotated[str, Form(max_length=200)] = "",
    decision: Annotated[Literal["accept", "reject"], Form()] = "accept",
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Accept (the tag is assigned at once) or reject a recommendation."""
    c = mesh(request).classification
    act = c.accept if decision == "accept" else c.reject
    try:
        act(column, tag.strip() or None, as_=who.name, comment=comment.strip() or None)
    except LakemeshError as exc:
        return _classification(request, who, exc)
    done = "accepted" if decision == "accept" else "rejected"
    return redirect(request, "/classification", f"{tag or 'Recommendation'} on {column} {done}.")


# --------------------------------------------------------------------------- access


@router.get("/access", response_class=HTMLResponse)
def access(
    request: Request,
    who: Signed,
    table: str = Query("", max_length=400),
    action: Literal["SELECT", "DESCRIBE", "ALTER", "DROP"] = Query("SELECT"),
) -> Response:
    """Grants (on a table, or every one the user may see) and why the user can or cannot
    take ``action`` on the table."""
    m = mesh(request)
    name = table.strip()
    explained, error = None, None
    try:
        grants = m.access.grants(on=name or None, as_=who.name)
        if name:
            explained = m.access.explain(name, as_=who.name, action=action)
    except LakemeshError as exc:
        grants, error = [], exc
    return page(
        request,
        "access.html",
        who,
        status=200,
        error=error,
        title="Access",
        table=name,
        action=action,
        grants=grants,
        explained=explained,
    )


# --------------------------------------------------------------------------- audit


def _stamp(text: str) -> datetime | None:
    if not text.strip():
        return None
    return parse_instant(text)


@router.get("/audit", response_class=HTMLResponse)
def audit(
    request: Request,
    who: Signed,
    principal: str = Query("", max_length=200),
    action: str = Query("", max_length=200),
    resource: str = Query("", max_length=400),
    outcome: str = Query("", max_length=40),
    since: str = Query("", max_length=60),
    limit: int = Query(100, ge=1, le=1000),
    verify: bool = Query(False),
) -> Response:
    """Audit records by filter, newest first; the chain verified on request."""
    m = mesh(request)
    filters = {
        "principal": principal,
        "action": action,
        "resource": resource,
        "outcome": outcome,
        "since": since,
        "limit": limit,
    }
    records: list[Any] = []
    report, error = None, None
    try:
        records = m.audit.records(
            as_=who.name,
            principal=principal.strip() or None,
            action=action.strip() or None,
            resource=resource.strip() or None,
            outcome=outcome.strip() or None,
            since=_stamp(since),
            limit=limit,
        )
        if verify:
            report = m.audit.verify(as_=who.name)
    except LakemeshError as exc:
        error = exc
    return page(
        request,
        "audit.html",
        who,
        status=200,
        error=error,
        title="Audit log",
        records=records,
        report=report,
        f=filters,
    )


# --------------------------------------------------------------------------- events


@router.get("/events", response_class=HTMLResponse)
def events(request: Request, who: Signed, type: str = Query("", max_length=200)) -> Response:
    return _events(request, who, type)


def _events(
    request: Request, who: Viewer, prefix: str = "", error: LakemeshError | None = None
) -> Response:
    m = mesh(request)
    status = None if error is not None else 200
    recent: list[dict[str, Any]] = []
    dead: list[dict[str, Any]] = []
    try:
        recent = m.events.recent(100, prefix.strip() or None, as_=who.name)
        dead = m.bus.dead_letters(as_=who.name)
    except LakemeshError as exc:
        if error is None:
            error, status = exc, 200
    return page(
        request,
        "events.html",
        who,
        status=status,
        error=error,
        title="Events",
        recent=recent,
        dead=dead,
        prefix=prefix,
    )


@router.post("/events/redrive")
def redrive(
    request: Request,
    who: Posted,
    ids: Annotated[list[int] | None, Form(max_length=1000)] = None,
) -> Response:
    """Send dead-lettered deliveries again (the checked ones, or all)."""
    try:
        done = mesh(request).bus.redrive(ids or None, as_=who.name)
    except LakemeshError as exc:
        return _events(request, who, "", exc)
    return redirect(request, "/events", f"{len(done)} deliveries queued again.")
