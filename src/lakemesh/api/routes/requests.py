"""Access requests as tickets (``lakemesh request ...``)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from lakemesh.api.routes._common import Body, Caller, MeshDep

router = APIRouter(tags=["requests"])

Status = Literal["pending", "approved", "rejected", "revoked", "expired"]


class CreateBody(Body):
    table: str = Field(..., min_length=1, max_length=400)
    reason: str = Field(..., min_length=1, max_length=4000)
    columns: list[str] | None = Field(None, max_length=2000)
    duration: str | None = Field(None, max_length=40)
    for_domain: bool = False


class ApproveBody(Body):
    exclude_columns: list[str] | None = Field(None, max_length=2000)
    row_filter: str | None = Field(None, max_length=10_000)
    comment: str | None = Field(None, max_length=4000)


class CommentBody(Body):
    comment: str | None = Field(None, max_length=4000)


def _ticket(ticket: Any, history: Any = None) -> dict[str, Any]:
    from lakemesh.service.requests import ticket_dict

    return ticket_dict(ticket, history)


@router.post("/requests", status_code=201, summary="Ask for access to a table")
def create(body: CreateBody, mesh: MeshDep, who: Caller) -> dict[str, Any]:
    ticket = mesh.requests.create(
        body.table,
        reason=body.reason,
        columns=body.columns,
        duration=body.duration,
        for_domain=body.for_domain,
        as_=who,
    )
    return _ticket(ticket)


@router.get("/requests", summary="Requests the caller may see, newest first")
def listing(
    mesh: MeshDep,
    who: Caller,
    status: Status | None = Query(None),  # noqa: B008
) -> list[dict[str, Any]]:
    return [_ticket(t) for t in mesh.requests.list(status=status, as_=who)]


@router.get("/requests/{request_id}", summary="A request and its history")
def show(request_id: str, mesh: MeshDep, who: Caller) -> dict[str, Any]:
    ticket, history = mesh.requests.show(request_id, as_=who)
    return _ticket(ticket, history)


@router.post("/requests/{request_id}/approve", summary="Approve (in full or narrowed)")
def approve(
    request_id: str, mesh: MeshDep, who: Caller, body: ApproveBody | None = None
) -> dict[str, Any]:
    body = body or ApproveBody()
    ticket = mesh.requests.approve(
        request_id,
        exclude_columns=body.exclude_columns,
        row_filter=body.row_filter,
        comment=body.comment,
        as_=who,
    )
    return _ticket(ticket)


@router.post("/requests/{request_id}/reject", summary="Reject")
def reject(
    request_id: str, mesh: MeshDep, who: Caller, body: CommentBody | None = None
) -> dict[str, Any]:
    body = body or CommentBody()
    return _ticket(mesh.requests.reject(request_id, comment=body.comment, as_=who))


@router.post("/requests/{request_id}/revoke", summary="End approved access early")
def revoke(
    request_id: str, mesh: MeshDep, who: Caller, body: CommentBody | None = None
) -> dict[str, Any]:
    body = body or CommentBody()
    return _ticket(mesh.requests.revoke(request_id, comment=body.comment, as_=who))
