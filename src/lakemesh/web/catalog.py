"""Discovery and use: the catalog (search and browse), a table's page, the access-request
form, and the query page.

Each page makes a fixed number of facade calls however many rows it shows: the listing
is ``products.list`` (owner, tags, latest quality) plus one search or table listing, and
a table's page is one ``catalog.show``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from lakemesh.errors import InvalidInput, LakemeshError
from lakemesh.web.render import failed, mesh, page, path_of, redirect
from lakemesh.web.session import Posted, Signed, Viewer

router = APIRouter()

#: Rows of a query result shown on the page (the rest are counted, not shown).
SHOWN_ROWS = 500


@router.get("/", response_class=HTMLResponse)
def catalog(request: Request, who: Signed, q: str = Query("", max_length=500)) -> Response:
    """Products first (owner, tags, quality), then other tables the user may describe."""
    m = mesh(request)
    text = q.strip()
    try:
        products = {p["table"]: p for p in m.products.list(as_=who.name)}
        if text:
            hits = m.catalog.search(text, as_=who.name, limit=100)
        else:
            others = m.catalog.tables(as_=who.name)
            hits = [
                {"table": name, "description": p["description"], "product": True}
                for name, p in products.items()
            ] + [
                {"table": r["full_name"], "description": r["description"], "format": r["format"]}
                for r in others
                if r["full_name"] not in products
            ]
    except LakemeshError as exc:
        return page(
            request, "catalog.html", who, status=200, error=exc, title="Catalog", q=text, rows=[]
        )
    rows = []
    for hit in hits:
        product = products.get(hit["table"])
        rows.append(
            {
                "table": hit["table"],
                "product": product is not None,
                "description": (product or {}).get("description") or hit.get("description"),
                "owner": (product or {}).get("owner"),
                "tags": (product or {}).get("tags", []),
                "quality": (product or {}).get("quality"),
                "classification": (product or {}).get("classification"),
                "columns": hit.get("columns", []),
            }
        )
    rows.sort(key=lambda r: not r["product"])  # stable: the search's ranking within each
    return page(request, "catalog.html", who, title="Catalog", q=text, rows=rows)


@router.get("/tables/{name}", response_class=HTMLResponse)
def table(request: Request, name: str, who: Signed) -> Response:
    """Schema with tags and masks as this user sees them, product, quality, lineage,
    history. A table the user may not see reads like one that does not exist."""
    try:
        shown = mesh(request).catalog.show(name, as_=who.name, partitions=20)
    except LakemeshError as exc:
        return failed(request, who, exc)
    return page(request, "table.html", who, title=shown["name"], t=shown)


# --------------------------------------------------------------------------- requests


def _request_form(
    request: Request,
    who: Viewer,
    name: str,
    *,
    error: LakemeshError | None = None,
    chosen: list[str] | None = None,
    reason: str = "",
    duration: str = "30d",
) -> Response:
    try:
        shown = mesh(request).catalog.show(name, as_=who.name, partitions=0)
    except LakemeshError as exc:
        return failed(request, who, exc)
    columns = shown["columns"]
    return page(
        request,
        "request_form.html",
        who,
        error=error,
        title=f"Request access to {shown['name']}",
        t=shown,
        chosen=set(chosen) if chosen is not None else {c["name"] for c in columns},
        reason=reason,
        duration=duration,
    )


@router.get("/tables/{name}/request", response_class=HTMLResponse)
def request_form(request: Request, name: str, who: Signed) -> Response:
    return _request_form(request, who, name)


@router.post("/tables/{name}/request")
def request_access(
    request: Request,
    name: str,
    who: Posted,
    reason: Annotated[str, Form(max_length=4000)] = "",
    duration: Annotated[str, Form(max_length=40)] = "",
    columns: Annotated[list[str] | None, Form(max_length=2000)] = None,
    every: Annotated[list[str] | None, Form(max_length=2000)] = None,
    for_domain: Annotated[bool, Form()] = False,
) -> Response:
    """Ask for the checked columns (every column checked: the whole table)."""
    chosen = columns or []
    whole = set(every or ()) <= set(chosen)
    try:
        if not chosen:
            raise InvalidInput("check at least one column")
        ticket = mesh(request).requests.create(
            name,
            reason=reason,
            columns=None if whole else chosen,
            duration=duration.strip() or None,
            for_domain=for_domain,
            as_=who.name,
        )
    except LakemeshError as exc:
        return _request_form(
            request,
            who,
            name,
            error=exc,
            chosen=chosen,
            reason=reason,
            duration=duration,
        )
    return redirect(
        request, f"/requests/{path_of(ticket.id)}", f"Request {ticket.id} is {ticket.status}."
    )


# --------------------------------------------------------------------------- query


def _example(table: str | None) -> str:
    """The query a table page's "Query" link starts from."""
    return f"SELECT *\nFROM {table}\nLIMIT 100" if table else ""


@router.get("/query", response_class=HTMLResponse)
def query_form(
    request: Request,
    who: Signed,
    table: str | None = Query(None, max_length=400),
) -> Response:
    return page(
        request,
        "query.html",
        who,
        title="Query",
        sql=_example(table),
        engine="duckdb",
        result=None,
    )


@router.post("/query", response_class=HTMLResponse)
def run_query(
    request: Request,
    who: Posted,
    sql: Annotated[str, Form(max_length=100_000)] = "",
    engine: Annotated[Literal["duckdb", "spark"], Form()] = "duckdb",
) -> Response:
    """Governed SQL as the user; the result (or the refusal) on the same page. Nothing
    changes, so there is no redirect: reloading runs the query again, as it should."""
    from lakemesh.engines import Limits
    from lakemesh.query import output

    m = mesh(request)
    try:
        limits = Limits(max_rows=m.settings.api.query_max_rows)
        result = m.query(sql, as_=who.name, engine=engine, limits=limits)
        result = output.with_unique_names(result)
        rows = json.loads(output.to_json(result.slice(0, SHOWN_ROWS)))
    except LakemeshError as exc:
        return page(
            request,
            "query.html",
            who,
            error=exc,
            title="Query",
            sql=sql,
            engine=engine,
            result=None,
        )
    shown = {
        "columns": result.column_names,
        "rows": [[_cell(r.get(c)) for c in result.column_names] for r in rows],
        "total": result.num_rows,
    }
    return page(request, "query.html", who, title="Query", sql=sql, engine=engine, result=shown)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
