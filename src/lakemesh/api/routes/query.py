"""Governed SQL (``lakemesh query``): rows as JSON, by the CLI's JSON rules."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import Field

from lakemesh.api.routes._common import Body, Caller, MeshDep

router = APIRouter(tags=["query"])


class QueryBody(Body):
    sql: str = Field(..., min_length=1, max_length=100_000)
    engine: Literal["duckdb", "spark"] = "duckdb"


class QueryResult(Body):
    columns: list[str]
    rows: list[dict[str, Any]]
    row_count: int


@router.post("/query", summary="Run governed SQL as the caller")
def run(body: QueryBody, mesh: MeshDep, who: Caller, request: Request) -> QueryResult:
    from lakemesh.engines import Limits
    from lakemesh.query import output

    limits = Limits(max_rows=mesh.settings.api.query_max_rows)
    table = mesh.query(body.sql, as_=who, engine=body.engine, limits=limits)
    table = output.with_unique_names(table)
    rows = json.loads(output.to_json(table))
    return QueryResult(columns=table.column_names, rows=rows, row_count=len(rows))
