"""``create_app``: the API, the web UI, their middleware and the in-process worker.

Middleware, outermost first: security headers and the correlation id on every response,
then the body-size limit. Routes authenticate themselves (``auth.caller`` for the API,
the session cookie for the UI) and call the ``Mesh`` facade as the caller.

Unless told not to, the app runs the event worker (routing, delivery, expiry and
unused-access revocation: ``service.bus.Worker``) on a thread for as long as it serves.
Several server processes may each run one: routing and delivery are compare-and-set.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import lakemesh
from lakemesh.api import errors
from lakemesh.api.auth import Server
from lakemesh.api.limits import BodyLimit, RateLimiter
from lakemesh.audit.chain import ORIGIN
from lakemesh.mesh import Mesh

if TYPE_CHECKING:
    from lakemesh.service.bus import Worker

log = logging.getLogger("lakemesh.api")

#: The page may load only what this server serves: no inline script, no third party.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # approval links carry their token in the path: never send it on as a referrer
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]

#: ``lakemesh serve --workers N`` starts processes that build the app from these.
HOME_ENV = "LAKEMESH_HOME"
NO_WORKER_ENV = "LAKEMESH_SERVE_NO_WORKER"


class Headers:
    """Security headers, ``Cache-Control`` and the correlation id on every response; the
    id also goes into every audit record the request writes (``audit.chain.ORIGIN``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cid = errors.new_correlation_id(scope)
        scope.setdefault("state", {})["correlation_id"] = cid
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                if b"x-correlation-id" not in names:
                    headers.append((b"x-correlation-id", cid.encode()))
                if b"cache-control" not in names:
                    cache = b"public, max-age=3600" if static else b"no-store"
                    headers.append((b"cache-control", cache))
                message = {**message, "headers": headers}
            await send(message)

        origin = ORIGIN.set({"via": "http", "correlation_id": cid})
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            ORIGIN.reset(origin)


def create_app(
    home: str | os.PathLike[str] | None = None,
    *,
    mesh: Mesh | None = None,
    worker: bool = True,
) -> FastAPI:
    """The ASGI app for the mesh at ``home`` (or an open ``mesh``); ``worker`` runs the
    event worker in-process."""
    mesh = mesh or Mesh.open(home)
    settings = mesh.settings.api

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        thread, stop = None, None
        if worker:
            from lakemesh.service.bus import Worker

            runner = Worker(mesh)
            stop = runner.stopped
            thread = threading.Thread(target=_run_worker, args=(runner,), daemon=True)
            thread.name = "lakemesh-worker"
            thread.start()
        try:
            yield
        finally:
            if stop is not None and thread is not None:
                stop.set()
                thread.join(timeout=10)

    app = FastAPI(
        title="lakemesh",
        version=lakemesh.__version__,
        description=(
            "The HTTP API of a lakemesh central governance node. Authenticate with "
            "`Authorization: Bearer <token>` (the token `lakemesh user create` printed). "
            "Every call is authorised by the same action registry as the CLI and audited."
        ),
        openapi_url="/openapi.json",
        docs_url=None,  # Swagger UI loads its script from a CDN: not with our CSP
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.server = Server(
        mesh, RateLimiter(settings.rate_limit), int(settings.session_hours * 3600)
    )
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(Headers)

    from lakemesh.api.routes import router

    app.include_router(router, prefix="/api/v1", responses=errors.RESPONSES)
    from lakemesh.web import install as install_web

    install_web(app)
    return app


def app_from_environment() -> FastAPI:
    """The app of ``lakemesh serve --workers N``: each process builds its own."""
    return create_app(Path(os.environ[HOME_ENV]), worker=os.environ.get(NO_WORKER_ENV) != "1")


def _run_worker(runner: Worker) -> None:
    while not runner.stopped.is_set():
        try:
            runner.run()
        except Exception:  # a store outage must not end delivery for good
            log.exception("event worker pass failed; retrying in 1 s")
            runner.stopped.wait(1.0)
