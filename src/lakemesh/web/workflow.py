"""The access workflow: my requests and their history, the stewards' approvals inbox and
its decisions, and the page behind an approval link.

Who may see or decide a ticket is the facade's to say (``mesh.requests``): the inbox only
sorts what ``requests.list`` returned, and a decision the user may not take is refused
by the facade and shown as one line. A ticket the user may not see reads like an
unknown one, page and status alike.

An approval link is its own credential (no session): mail scanners fetch links, so its
GET only shows what would be decided, and only the POST of that page's form (carrying an
HMAC of the link token, so another site cannot submit it) decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from lakemesh import keys
from lakemesh.api.auth import SESSION_COOKIE
from lakemesh.errors import Conflict, LakemeshError, PermissionDenied
from lakemesh.web.render import failed, mesh, page, path_of, redirect, server
from lakemesh.web.session import Posted, Signed, Viewer

if TYPE_CHECKING:
    from lakemesh.workflow.tickets import Ticket

router = APIRouter()

Status = Literal["", "pending", "approved", "rejected", "revoked", "expired"]
Back = Literal["inbox", "request"]


@router.get("/requests", response_class=HTMLResponse)
def my_requests(request: Request, who: Signed, status: Annotated[Status, Query()] = "") -> Response:
    """The user's own requests, then the others it may see (its domain's, as admin)."""
    try:
        tickets = mesh(request).requests.list(status=status or None, as_=who.name)
    except LakemeshError as exc:
        return page(
            request,
            "requests.html",
            who,
            status=200,
            error=exc,
            title="My requests",
            mine=[],
            others=[],
            chosen=status,
        )
    mine = [t for t in tickets if who.name in (t.requester, t.requested_by)]
    others = [t for t in tickets if who.name not in (t.requester, t.requested_by)]
    return page(
        request,
        "requests.html",
        who,
        title="My requests",
        mine=mine,
        others=others,
        chosen=status,
    )


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def request_page(request: Request, request_id: str, who: Signed) -> Response:
    return _request_page(request, who, request_id)


def _request_page(
    request: Request, who: Viewer, request_id: str, error: LakemeshError | None = None
) -> Response:
    m = mesh(request)
    try:
        ticket, history = m.requests.show(request_id, as_=who.name)
    except LakemeshError as exc:
        return failed(request, who, exc)
    pii = _pii_columns(request, who, [ticket]) if ticket.status == "pending" else {}
    return page(
        request,
        "request.html",
        who,
        error=error,
        title=f"Request {ticket.id}",
        ticket=ticket,
        history=history,
        pii=pii,
    )


@router.get("/approvals", response_class=HTMLResponse)
def approvals(request: Request, who: Signed) -> Response:
    return _approvals(request, who)


def _approvals(request: Request, who: Viewer, error: LakemeshError | None = None) -> Response:
    """Pending tickets the user may see and did not ask for, with the one-click
    decisions; the facade still decides whether the user may take them."""
    try:
        pending = mesh(request).requests.list(status="pending", as_=who.name)
    except LakemeshError as exc:
        return page(
            request,
            "approvals.html",
            who,
            status=200,
            error=exc,
            title="Approvals",
            inbox=[],
            pii={},
        )
    inbox = [
        t
        for t in pending
        if who.name not in (t.requester, t.requested_by)
        and (who.domain in ("central", t.domain) or (t.route and who.name in _to(t.route.to)))
    ]
    return page(
        request,
        "approvals.html",
        who,
        error=error,
        title="Approvals",
        inbox=inbox,
        pii=_pii_columns(request, who, inbox),
    )


def _to(to: str | tuple[str, ...]) -> tuple[str, ...]:
    return (to,) if isinstance(to, str) else to


def _pii_columns(request: Request, who: Viewer, tickets: Sequence[Ticket]) -> dict[str, list[str]]:
    """Per ticket: the requested columns tagged ``pii=true``, which "approve without PII"
    leaves out. One ``catalog.show`` per distinct table, not per ticket."""
    m = mesh(request)
    tagged: dict[str, list[str]] = {}
    out: dict[str, list[str]] = {}
    for t in tickets:
        table = t.table
        if table not in tagged:
            try:
                shown = m.catalog.show(table, as_=who.name, partitions=0)
            except LakemeshError:
                tagged[table] = []
            else:
                tagged[table] = [
                    c["name"] for c in shown["columns"] if c["tags"].get("pii") == "true"
                ]
        asked = t.columns
        out[t.id] = [c for c in tagged[table] if asked is None or c in asked]
    return out


def _back(
    request: Request, who: Viewer, back: Back, request_id: str, exc: LakemeshError
) -> Response:
    if back == "inbox":
        return _approvals(request, who, exc)
    return _request_page(request, who, request_id, exc)


def _after(back: Back, request_id: str) -> str:
    return "/approvals" if back == "inbox" else f"/requests/{path_of(request_id)}"


@router.post("/requests/{request_id}/approve")
def approve(
    request: Request,
    request_id: str,
    who: Posted,
    mode: Annotated[Literal["full", "without-pii", "filter"], Form()] = "full",
    exclude: Annotated[list[str] | None, Form(max_length=2000)] = None,
    row_filter: Annotated[str, Form(max_length=10_000)] = "",
    comment: Annotated[str, Form(max_length=4000)] = "",
    back: Annotated[Back, Form()] = "request",
) -> Response:
    """Approve in full, without the PII columns, or with a row filter."""
    try:
        ticket = mesh(request).requests.approve(
            request_id,
            exclude_columns=(exclude or None) if mode == "without-pii" else None,
            row_filter=row_filter.strip() if mode == "filter" else None,
            comment=comment.strip() or None,
            as_=who.name,
        )
    except LakemeshError as exc:
        return _back(request, who, back, request_id, exc)
    return redirect(request, _after(back, request_id), f"Request {ticket.id} is {ticket.status}.")


@router.post("/requests/{request_id}/reject")
def reject(
    request: Request,
    request_id: str,
    who: Posted,
    comment: Annotated[str, Form(max_length=4000)] = "",
    back: Annotated[Back, Form()] = "request",
) -> Response:
    try:
        ticket = mesh(request).requests.reject(
            request_id, comment=comment.strip() or None, as_=who.name
        )
    except LakemeshError as exc:
        return _back(request, who, back, request_id, exc)
    return redirect(request, _after(back, request_id), f"Request {ticket.id} is {ticket.status}.")


@router.post("/requests/{request_id}/revoke")
def revoke(
    request: Request,
    request_id: str,
    who: Posted,
    comment: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    try:
        ticket = mesh(request).requests.revoke(
            request_id, comment=comment.strip() or None, as_=who.name
        )
    except LakemeshError as exc:
        return _request_page(request, who, request_id, exc)
    return redirect(request, _after("request", request_id), f"Request {ticket.id} is revoked.")


# --------------------------------------------------------------------------- approval links


def _maybe_viewer(request: Request) -> Viewer | None:
    """The signed-in user, if any, for the navigation bar only: a link needs no session."""
    srv = server(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    user = srv.session_user(cookie)
    return Viewer(user, cookie, srv.csrf_token(cookie)) if user and cookie else None


#: What the confirmation form's token is bound to, besides the link's own token.
_LINK_FORM = "approval-link:"


def _confirmed(request: Request, token: str, sent: str) -> bool:
    """Whether ``sent`` is the confirmation page's token for this link: bound to the link
    as a session's forms are to the session (``Server.csrf_token``), so a cross-site POST
    cannot produce it."""
    try:
        server(request).check_csrf(_LINK_FORM + token, sent)
    except PermissionDenied:
        return False
    return True


@router.get("/links/{token}", response_class=HTMLResponse)
def link_preview(request: Request, token: str) -> Response:
    """What following the link would decide, on which request, as whom. Decides nothing."""
    from lakemesh.service.requests import read_ticket
    from lakemesh.workflow import links

    m, who = mesh(request), _maybe_viewer(request)
    try:
        link = links.read(keys.link_key(m.home), token)
        ticket = read_ticket(m, link.request_id)
    except LakemeshError as exc:
        return failed(request, who, exc)
    if ticket.status != "pending" or ticket.version != link.version:
        done = Conflict(
            f"request {ticket.id} was already decided ({ticket.status}): this link "
            "can no longer be used"
        )
        if ticket.status == "pending":
            done = Conflict(
                f"request {ticket.id} changed since this link was sent: decide it "
                "in the approvals inbox"
            )
        return failed(request, who, done)
    return page(
        request,
        "link.html",
        who,
        title="Confirm the decision",
        link=link,
        ticket=ticket,
        token=token,
        confirm=server(request).csrf_token(_LINK_FORM + token),
    )


@router.post("/links/{token}", response_class=HTMLResponse)
def link_follow(
    request: Request,
    token: str,
    confirm: Annotated[str, Form(max_length=200)] = "",
    comment: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Record the link's decision as its approver (``requests.follow``)."""
    from lakemesh.workflow import links

    m, who = mesh(request), _maybe_viewer(request)
    if len(token) > links.MAX_TOKEN or not _confirmed(request, token, confirm):
        return page(
            request,
            "error.html",
            who,
            status=403,
            title="Refused",
            message="the form has expired or did not come from this site; open the link again",
        )
    try:
        ticket = m.requests.follow(
            links.url(m.settings.workflow.base_url, token), comment=comment.strip() or None
        )
    except LakemeshError as exc:
        return failed(request, who, exc)
    return page(request, "link_done.html", who, title="Decision recorded", ticket=ticket)
