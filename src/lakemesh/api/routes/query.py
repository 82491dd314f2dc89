"""Governed SQL (``lakemesh query``): ``{"sql": ...}`` in, the rows out.

The body of the answer is exactly what ``lakemesh query --format json`` prints: a JSON
array of row objects by SPEC 3's rules (exact integers and decimals, ISO dates, base64
binary, duplicate names made unique). The column names, in order, are also in the
``X-Lakemesh-Columns`` header (a JSON array), since an empty result has no rows to show
them."""

from __future__ import annotations

import json
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import Field

from lakemesh.api.routes._common import Body, Caller, MeshDep

router = APIRouter(tags=["query"])


class QueryBody(Body):
    sql: str = Field(..., min_length=1, max_length=100_000)
    engine: Literal["duckdb", "spark"] = "duckdb"


@router.post(
    "/query",
    summary="Run governed SQL as the caller; the rows as a JSON array of objects",
    response_class=Response,
    responses={
        200: {
            "description": "The rows, as `lakemesh query --format json` prints them",
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}}
            },
        }
    },
)
def run(body: QueryBody, mesh: MeshDep, who: Caller) -> Response:
    from lakemesh.engines import Limits
    from lakemesh.query import output

    limits = Limits(max_rows=mesh.settings.api.query_max_rows)
    table = mesh.query(body.sql, as_=who, engine=body.engine, limits=limits)
    table = output.with_unique_names(table)
    return Response(
        output.to_json(table),
        media_type="application/json",
        headers={"X-Lakemesh-Columns": json.dumps(table.column_names, ensure_ascii=True)},
    )
