"""The classifier's loop: classify a table, the stewards' queue, accept and reject
(``lakemesh classify ...``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import Field

from lakemesh.api.routes._common import Body, Caller, MeshDep, Name, Text, plain

router = APIRouter(tags=["classification"])


class Decision(Body):
    column: str = Field(..., min_length=3, max_length=400, description="TABLE.COLUMN")
    tag: str | None = Field(
        None, min_length=3, max_length=800, description="KEY=VALUE (default: the recommended)"
    )
    comment: Text | None = None


@router.post("/tables/{name}/classify", summary="Classify a table now (its operators)")
def classify(name: Name, mesh: MeshDep, who: Caller) -> dict[str, Any]:
    return plain(mesh.classification.classify(name, as_=who))  # type: ignore[no-any-return]


@router.get("/classification/queue", summary="Pending recommendations for the stewards")
def queue(
    mesh: MeshDep,
    who: Caller,
    domain: str | None = Query(None, min_length=1, max_length=200, description="Default: own"),
) -> list[dict[str, Any]]:
    return [r.as_dict() for r in mesh.classification.queue(domain, as_=who)]


@router.post("/classification/accept", summary="Accept a recommendation: the tag applies now")
def accept(body: Decision, mesh: MeshDep, who: Caller) -> dict[str, Any]:
    done = mesh.classification.accept(body.column, body.tag, as_=who, comment=body.comment)
    return plain(done)  # type: ignore[no-any-return]


@router.post("/classification/reject", summary="Reject a column's recommendations")
def reject(body: Decision, mesh: MeshDep, who: Caller) -> dict[str, Any]:
    done = mesh.classification.reject(body.column, body.tag, as_=who, comment=body.comment)
    return plain(done)  # type: ignore[no-any-return]
