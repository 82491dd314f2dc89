"""How the error hierarchy becomes HTTP responses: one handler, one body shape.

Every error response is ``{"code", "message", "correlation_id"}`` with the status its
class maps to. A ``LakemeshError``'s message is the one the CLI prints: the library
words it for the caller already (a hidden table reads like a missing one, a query's
refusal carries only a correlation id: SPEC 2.8). Outages and bugs get a generic message;
their detail goes to the server's log under the correlation id, never to the client.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from lakemesh import errors
from lakemesh.errors import first_line

log = logging.getLogger("lakemesh.api")

#: (class, status, code), first match wins: subclasses before their bases.
STATUS: list[tuple[type[BaseException], int, str]] = [
    (errors.Unauthenticated, 401, "unauthenticated"),
    (errors.RateLimited, 429, "rate_limited"),
    (errors.PayloadTooLarge, 413, "payload_too_large"),
    (errors.MissingKey, 500, "internal"),
    (errors.QueryDenied, 403, "forbidden"),
    (errors.QueryUnavailable, 503, "unavailable"),
    (errors.QueryError, 422, "query_failed"),
    (errors.PermissionDenied, 403, "forbidden"),
    (errors.PathOutsideRoot, 403, "forbidden"),
    (errors.NotFound, 404, "not_found"),
    (errors.AlreadyExists, 409, "conflict"),
    (errors.Conflict, 409, "conflict"),
    (errors.QueryRefused, 400, "invalid"),
    (errors.InvalidInput, 400, "invalid"),
    (errors.SchemaConflict, 400, "invalid"),
    (errors.EngineError, 422, "query_failed"),
    (errors.MissingExtra, 501, "not_installed"),
    (errors.BackendUnavailable, 503, "unavailable"),
    (errors.StoreError, 503, "unavailable"),
    (errors.LakemeshError, 400, "refused"),
]

#: Statuses whose message is ours, not the exception's: an outage's text may name a
#: path or a database URL.
GENERIC = {
    500: "internal error",
    503: "a backend of the mesh is unavailable; try again later",
}

_CORRELATION = re.compile(r"[A-Za-z0-9._-]{1,64}")
CORRELATION_HEADER = "X-Correlation-ID"


class ErrorBody(BaseModel):
    """Every error response of the API."""

    code: str
    message: str
    correlation_id: str


#: The error responses every API route may give, for the OpenAPI document.
RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "Bad input (the message says what)"),
        (401, "No valid bearer token"),
        (403, "Not allowed"),
        (404, "Unknown, or not visible to the caller"),
        (409, "Conflict with the current state"),
        (413, "Request body too large"),
        (422, "Request does not match the schema"),
        (429, "Rate limit exceeded (see Retry-After)"),
        (503, "A backend is unavailable"),
    )
}


def new_correlation_id(scope: Any) -> str:
    """The client's ``X-Correlation-ID`` when it is a plain token, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == CORRELATION_HEADER.lower().encode():
            given = value.decode("latin-1")
            if _CORRELATION.fullmatch(given):
                return str(given)
    return str(uuid.uuid4().hex)


def correlation_id(request: Request) -> str:
    """The request's correlation id: the client's ``X-Correlation-ID`` when it is a
    plain token, else a new one (set once by the middleware)."""
    cid = getattr(request.state, "correlation_id", None)
    if cid is None:
        cid = new_correlation_id(request.scope)
        request.state.correlation_id = cid
    return str(cid)


def classify(exc: BaseException) -> tuple[int, str]:
    for cls, status, code in STATUS:
        if isinstance(exc, cls):
            return status, code
    return 500, "internal"


def error_response(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    cid = correlation_id(request)
    body = ErrorBody(code=code, message=message, correlation_id=cid)
    return JSONResponse(
        body.model_dump(), status, headers={CORRELATION_HEADER: cid, **(headers or {})}
    )


def for_exception(request: Request, exc: BaseException) -> tuple[int, str, str, dict[str, str]]:
    """Status, code, message and headers for ``exc``."""
    status, code = classify(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, errors.Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, errors.RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, errors.QueryRefused):
        message = exc.public or "query refused"
    elif status in GENERIC:
        message = GENERIC[status]
        log.warning(
            "%s %s failed [%s]: %s: %s",
            request.method,
            request.url.path,
            correlation_id(request),
            type(exc).__name__,
            first_line(exc),
            exc_info=status == 500,
        )
    else:
        message = first_line(exc, 500)
    return status, code, message, headers


async def _lakemesh(request: Request, exc: Exception) -> JSONResponse:
    status, code, message, headers = for_exception(request, exc)
    return error_response(request, status, code, message, headers)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for e in exc.errors()[:5]:
        if e.get("type") == "json_invalid":
            at = next((p for p in e.get("loc", ()) if isinstance(p, int)), None)
            error = (e.get("ctx") or {}).get("error", "")
            where = f" at character {at}" if at is not None else ""
            problems.append(f"the body is not valid JSON{where}" + (f": {error}" if error else ""))
            continue
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        problems.append(f"{where}: {e.get('msg', 'invalid')}")
    return error_response(request, 422, "invalid_request", "; ".join(problems) or "invalid")


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "request refused"
    return error_response(request, exc.status_code, code, message, dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    status, code, message, headers = for_exception(request, exc)
    return error_response(request, status, code, message, headers)


def install(app: FastAPI) -> None:
    """Register the handlers: the hierarchy, validation, Starlette's own, and the rest."""
    app.add_exception_handler(errors.LakemeshError, _lakemesh)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
