"""The hash-chained audit log: list, verify, checkpoint (``lakemesh audit ...``)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from lakemesh.api.routes._common import Caller, MeshDep
from lakemesh.audit import AuditRecord, Checkpoint
from lakemesh.audit.walk import Problem
from lakemesh.typedef import Frozen

router = APIRouter(tags=["audit"])

Outcome = Literal["allowed", "denied", "ok", "refused", "failed", "aborted"]


class Verification(Frozen):
    """``audit verify``: what was checked and every problem found."""

    ok: bool
    records_checked: int
    last_seq: int
    checkpoints_checked: int
    problems: list[Problem]
    omitted: int = 0


@router.get("/audit", summary="Audit records, newest first (mesh admin)")
def records(
    mesh: MeshDep,
    who: Caller,
    principal: str | None = Query(None, max_length=400),
    resource: str | None = Query(None, max_length=1000, description="It, or what is under it"),
    action: str | None = Query(None, max_length=200),
    outcome: Outcome | None = Query(None),  # noqa: B008
    since: AwareDatetime | None = Query(None, description="ISO 8601 with a zone, inclusive"),  # noqa: B008
    until: AwareDatetime | None = Query(None, description="ISO 8601 with a zone, exclusive"),  # noqa: B008
    limit: int = Query(50, ge=1, le=10_000),
) -> list[AuditRecord]:
    return mesh.audit.records(
        as_=who,
        principal=principal,
        resource=resource,
        action=action,
        outcome=outcome,
        since=since,
        until=until,
        limit=limit,
    )


@router.get("/audit/verify", summary="Check the hash chain and the signed checkpoints")
def verify(mesh: MeshDep, who: Caller) -> Verification:
    """200 whatever the verdict: ``ok`` says whether the chain verified."""
    report = mesh.audit.verify(as_=who)
    return Verification(ok=report.ok, **report.model_dump())


@router.post("/audit/checkpoint", summary="Sign the chain's head now")
def checkpoint(mesh: MeshDep, who: Caller) -> Checkpoint:
    return mesh.audit.checkpoint(as_=who)
