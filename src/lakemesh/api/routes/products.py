"""Data products, the lineage graph and the business glossary (``lakemesh product ...``,
``lineage show``, ``glossary ...``). A contract arrives as text in the body: the API
never reads a file its client names."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from lakemesh.api.routes._common import Body, Caller, MeshDep, Name, plain

router = APIRouter(tags=["products"])


class ProductRegister(Body):
    """Register a table as a product, or update it; a contract is validated before
    anything is written, then checked at once."""

    model_config = Body.model_config | {"str_max_length": 1_000_000}

    table: Name
    description: str | None = Field(None, max_length=10_000)
    contract: str | None = Field(
        None, min_length=1, max_length=1_000_000, description="An ODCS v3 contract (YAML text)"
    )
    owner: str | None = Field(None, min_length=3, max_length=200, description="Default: you")
    classification: Literal["public", "internal", "confidential", "restricted"] | None = None
    sensitivity: Literal["low", "medium", "high"] | None = None


class TermDefine(Body):
    term: str = Field(..., min_length=1, max_length=200)
    definition: str = Field(..., min_length=1, max_length=10_000)
    owner: str | None = Field(None, min_length=3, max_length=200, description="Default: you")


class TermLink(Body):
    resource: Name = Field(..., description="TABLE or TABLE.COLUMN")


@router.get("/products", summary="Every registered data product (discoverable by all)")
def listing(mesh: MeshDep, who: Caller) -> list[dict[str, Any]]:
    return plain(mesh.products.list(as_=who))  # type: ignore[no-any-return]


@router.post("/products", summary="Register (or update) a data product")
def register(body: ProductRegister, mesh: MeshDep, who: Caller) -> dict[str, Any]:
    done = mesh.products.register(
        body.table,
        description=body.description,
        contract=body.contract,
        owner=body.owner,
        classification=body.classification,
        sensitivity=body.sensitivity,
        as_=who,
    )
    return plain(done)  # type: ignore[no-any-return]


@router.get("/products/{table}", summary="A product: contract, quality, lineage, terms")
def show(table: Name, mesh: MeshDep, who: Caller) -> dict[str, Any]:
    return plain(mesh.products.show(table, as_=who))  # type: ignore[no-any-return]


@router.post("/products/{table}/check", summary="Check a product's contract and quality now")
def check(table: Name, mesh: MeshDep, who: Caller) -> dict[str, Any]:
    return plain(mesh.products.check(table, as_=who))  # type: ignore[no-any-return]


@router.get("/lineage/{table}", summary="A table's upstream and downstream")
def lineage(
    table: Name, mesh: MeshDep, who: Caller, depth: int = Query(5, ge=1, le=50)
) -> dict[str, Any]:
    return plain(mesh.lineage.show(table, as_=who, depth=depth))  # type: ignore[no-any-return]


@router.get("/glossary", summary="Every term, linked to what the caller may see")
def glossary(mesh: MeshDep, who: Caller) -> list[dict[str, Any]]:
    return plain(mesh.glossary.list(as_=who))  # type: ignore[no-any-return]


@router.post("/glossary", summary="Define (or redefine) a glossary term")
def define_term(body: TermDefine, mesh: MeshDep, who: Caller) -> dict[str, Any]:
    done = mesh.glossary.add(body.term, body.definition, owner=body.owner, as_=who)
    return plain(done)  # type: ignore[no-any-return]


@router.post("/glossary/{term}/links", summary="Link a term to a table or column")
def link_term(term: Name, body: TermLink, mesh: MeshDep, who: Caller) -> dict[str, Any]:
    return plain(mesh.glossary.link(term, body.resource, as_=who))  # type: ignore[no-any-return]
