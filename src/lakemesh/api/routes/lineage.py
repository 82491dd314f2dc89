"""An OpenLineage endpoint: ``POST /api/v1/lineage``, where the openlineage-python
client's HTTP transport sends by default (``Authorization: Bearer <api_key>``, one run
event as JSON, gzip-compressed with ``Content-Encoding: gzip`` when configured).

The body is the client's own JSON, not one of our models, so it is read raw: decoded
within the API's body limit (a compressed body may not expand past what an uncompressed
one may be), then handed to ``mesh.lineage.ingest_events`` as the caller, which decides
who may report lineage for which tables and audits it, as ``lakemesh lineage ingest``.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from lakemesh.api.routes._common import Caller, MeshDep, plain
from lakemesh.errors import InvalidInput, PayloadTooLarge

router = APIRouter(tags=["lineage"])

#: Run events one request may carry (an array; the client sends one at a time).
MAX_EVENTS = 1000

_BODY = {
    "required": True,
    "description": "One OpenLineage RunEvent, or an array of them",
    "content": {
        "application/json": {
            "schema": {
                "anyOf": [
                    {"type": "object"},
                    {"type": "array", "items": {"type": "object"}, "maxItems": MAX_EVENTS},
                ]
            }
        }
    },
}


@router.post(
    "/lineage",
    status_code=201,
    summary="Ingest OpenLineage run events (the openlineage-python HTTP transport)",
    openapi_extra={"requestBody": _BODY},
)
async def ingest(request: Request, mesh: MeshDep, who: Caller) -> dict[str, Any]:
    limit = mesh.settings.api.max_body_bytes
    raw = _decoded(await request.body(), request.headers.get("content-encoding", ""), limit)
    events = _events(raw)
    done = await run_in_threadpool(
        mesh.lineage.ingest_events, events, source="openlineage http", as_=who
    )
    return plain(done)  # type: ignore[no-any-return]


def _decoded(raw: bytes, encoding: str, limit: int) -> bytes:
    """The body as sent, or gunzipped: never more than ``limit`` bytes of it."""
    coding = encoding.strip().lower()
    if coding in ("", "identity"):
        return raw
    if coding not in ("gzip", "x-gzip"):
        raise InvalidInput(f"unsupported Content-Encoding {encoding[:40]!r}: send gzip or none")
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflate.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(f"the body is not valid gzip: {exc}") from None
    if len(out) > limit or inflate.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed request body larger than {limit} bytes")
    if not inflate.eof or inflate.unused_data:
        raise InvalidInput("the body is not one complete gzip stream")
    return out


def _events(raw: bytes) -> list[Any]:
    """One event (an object) or an array of events, as decoded JSON."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"the body is not JSON: {str(exc)[:200]}") from None
    events = data if isinstance(data, list) else [data]
    if len(events) > MAX_EVENTS:
        raise InvalidInput(f"at most {MAX_EVENTS} events per request")
    return events
