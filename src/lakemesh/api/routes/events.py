"""The event bus: the outbox, its backlog and dead letters, webhooks, subscriptions and
inboxes (``lakemesh events ...``, ``webhook ...``, ``subscription ...``, ``inbox``)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from lakemesh.api.routes._common import Body, Caller, MeshDep, Name, plain

router = APIRouter(tags=["events"])

Topic = Literal["data", "schema", "contract", "breaking", "quality"]
#: Outbox ids are store integers: anything larger is no event, not an overflow.
MAX_ID = 2**53


class RedriveBody(Body):
    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(
        None, max_length=10_000, description="Dead letters to re-send (default: all)"
    )


class Redriven(BaseModel):
    redriven: list[int]


class WebhookAdd(Body):
    url: str = Field(..., min_length=8, max_length=2000)
    pattern: dict[str, Any] = Field(
        ..., description='An EventBridge-style pattern, e.g. {"type": [{"prefix": "request."}]}'
    )


class SubscriptionAdd(Body):
    table: Name
    events: list[Topic] | None = Field(None, min_length=1, max_length=5, description="All")
    via: Literal["inbox", "email", "webhook"] = "inbox"
    url: str | None = Field(None, min_length=8, max_length=2000, description="With via webhook")


@router.get("/events", summary="The newest outbox events (mesh admin)")
def recent(
    mesh: MeshDep,
    who: Caller,
    limit: int = Query(50, ge=1, le=10_000),
    type: str | None = Query(None, max_length=200, description="A type prefix"),
) -> list[dict[str, Any]]:
    return plain(mesh.events.recent(limit, type, as_=who))  # type: ignore[no-any-return]


@router.get("/events/status", summary="The bus's backlog: waiting, retrying, dead")
def status(mesh: MeshDep, who: Caller) -> dict[str, int]:
    return mesh.bus.backlog(as_=who)


@router.get("/events/dlq", summary="The dead-letter queue")
def dead_letters(mesh: MeshDep, who: Caller) -> list[dict[str, Any]]:
    return plain(mesh.bus.dead_letters(as_=who))  # type: ignore[no-any-return]


@router.post("/events/redrive", summary="Re-send dead-lettered deliveries")
def redrive(mesh: MeshDep, who: Caller, body: RedriveBody | None = None) -> Redriven:
    ids = body.ids if body is not None else None
    return Redriven(redriven=mesh.bus.redrive(ids or None, as_=who))


@router.get("/webhooks", summary="Webhooks the caller added (the mesh admin: all)")
def webhooks(mesh: MeshDep, who: Caller) -> list[dict[str, Any]]:
    return plain(mesh.bus.targets(kind="webhook", as_=who))  # type: ignore[no-any-return]


@router.post("/webhooks", status_code=201, summary="Add a webhook; its secret is shown once")
def add_webhook(body: WebhookAdd, mesh: MeshDep, who: Caller) -> dict[str, Any]:
    hook = mesh.bus.add_webhook(body.url, json.dumps(body.pattern), as_=who)
    return plain(hook)  # type: ignore[no-any-return]


@router.delete("/webhooks/{target_id}", summary="Remove a webhook")
def remove_webhook(target_id: Name, mesh: MeshDep, who: Caller) -> dict[str, Any]:
    return plain(mesh.bus.remove(target_id, as_=who))  # type: ignore[no-any-return]


@router.get("/subscriptions", summary="The caller's subscriptions (the mesh admin: all)")
def subscriptions(mesh: MeshDep, who: Caller) -> list[dict[str, Any]]:
    return plain(mesh.bus.targets(kind="subscription", as_=who))  # type: ignore[no-any-return]


@router.post("/subscriptions", status_code=201, summary="Subscribe to a table's changes")
def subscribe(body: SubscriptionAdd, mesh: MeshDep, who: Caller) -> dict[str, Any]:
    topics: list[str] | None = list(body.events) if body.events else None
    sub = mesh.bus.subscribe(body.table, topics=topics, via=body.via, url=body.url, as_=who)
    return plain(sub)  # type: ignore[no-any-return]


@router.delete("/subscriptions/{target_id}", summary="End a subscription")
def unsubscribe(target_id: Name, mesh: MeshDep, who: Caller) -> dict[str, Any]:
    return plain(mesh.bus.remove(target_id, as_=who))  # type: ignore[no-any-return]


@router.get("/inbox", summary="Events delivered to an inbox: the caller's, or its domain's")
def inbox(
    mesh: MeshDep,
    who: Caller,
    owner: str | None = Query(None, min_length=1, max_length=400, description="DOMAIN|USER"),
    limit: int = Query(50, ge=1, le=10_000),
) -> list[dict[str, Any]]:
    return plain(mesh.bus.inbox(owner, as_=who)[:limit])  # type: ignore[no-any-return]
