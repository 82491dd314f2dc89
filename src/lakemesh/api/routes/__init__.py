"""The API's routes under ``/api/v1``, one module per concept, mirroring the CLI.

Every route depends on ``auth.caller`` (bearer token, rate limit) and calls the ``Mesh``
facade as the caller: the facade's session decides and audits. Request bodies are
``Body`` models, which refuse unknown fields: a client cannot set what the route does
not name (no mass assignment). Blocking calls run in FastAPI's thread pool (plain
``def`` routes).
"""

from __future__ import annotations

from fastapi import APIRouter

from lakemesh.api.routes import (
    access,
    audit,
    catalog,
    classification,
    domains,
    events,
    lineage,
    products,
    query,
    requests,
    rules,
)

router = APIRouter()
for module in (
    catalog,
    query,
    requests,
    domains,
    access,
    classification,
    products,
    lineage,
    audit,
    events,
    rules,
):
    router.include_router(module.router)
