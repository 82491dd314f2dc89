"""Discovery: search, tables, a table's page (``lakemesh search``, ``show``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from lakemesh.api.routes._common import Caller, MeshDep, plain

router = APIRouter(tags=["catalog"])


@router.get("/search", summary="Search tables and products the caller may see")
def search(
    mesh: MeshDep,
    who: Caller,
    q: str = Query(..., max_length=1000, description="Words to look for"),
    limit: int = Query(50, ge=1, le=500),
) -> list[dict[str, Any]]:
    return plain(mesh.catalog.search(q, as_=who, limit=limit))  # type: ignore[no-any-return]


@router.get("/tables", summary="Tables the caller may describe")
def tables(
    mesh: MeshDep,
    who: Caller,
    domain: str | None = Query(None, max_length=200),
) -> list[dict[str, Any]]:
    return plain(mesh.catalog.tables(domain, as_=who))  # type: ignore[no-any-return]


@router.get("/tables/{name}", summary="A table as the caller may see it (lakemesh show)")
def table(
    name: str,
    mesh: MeshDep,
    who: Caller,
    partitions: int = Query(20, ge=0, le=1000),
) -> dict[str, Any]:
    return plain(mesh.catalog.show(name, as_=who, partitions=partitions))  # type: ignore[no-any-return]
