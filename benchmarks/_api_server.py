"""``python -m benchmarks._api_server HOME PORT``: the API as ``lakemesh serve`` runs it
(one process, the in-process event worker, the same uvicorn options), for the
api_read_throughput benchmark, plus ``GET /bench/noop`` (``add_noop``).

With ``LAKEMESH_BENCH_ALLOW_ALL=1`` (set only by the benchmark's launcher for its peer)
the authorizer is patched before the app is built so that every decision allows
everything: the same server, token lookup, policy refresh, audit records and routes,
without the cost of deciding. This lives under ``benchmarks/`` on purpose: nothing in
``src/`` can turn authorisation off.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

ALLOW_ALL_ENV = "LAKEMESH_BENCH_ALLOW_ALL"


def patch_allow_all() -> None:
    """Every ``check``, ``decide`` and ``filter_allowed`` allows (unknown tables stay
    unknown: there is nothing to show for them)."""
    from lakemesh.access.actions import Reason
    from lakemesh.access.authorizer import Authorizer, Decision, Permit

    allow_all = Reason("bench", "allow-all")

    def decide(
        self: Authorizer,
        principal: str,
        action: str,
        table: str,
        at: float | None = None,
        trace: dict[str, str] | None = None,
    ) -> Decision:
        tm = self.snapshot.tables.get(table)
        if tm is None:
            return Decision(False, principal, action, table, missing=f"unknown table {table}")
        permit = Permit(tm.colset, None, ())
        return Decision(
            True, principal, action, table, tm.columns, (permit,), determined_by=(allow_all,)
        )

    def check(self: Authorizer, principal: str, action: str, target: Any) -> Decision:
        if isinstance(target, str):
            return decide(self, principal, action, target)
        return Decision(True, principal, action, str(target), determined_by=(allow_all,))

    def filter_allowed(
        self: Authorizer,
        principal: str,
        action: str,
        tables: Iterable[str],
        at: float | None = None,
    ) -> list[str]:
        return [n for n in tables if n in self.snapshot.tables]

    Authorizer.decide = decide  # type: ignore[method-assign]
    Authorizer.check = check  # type: ignore[method-assign]
    Authorizer.filter_allowed = filter_allowed  # type: ignore[method-assign]


def add_noop(app: FastAPI) -> None:
    """``GET /bench/noop``: what every API call costs before its own work, through the
    same stack (middleware, the bearer token and rate limit, the mesh dependency, the
    thread pool, a gate session: the policy refresh and the actor resolved)."""
    from lakemesh.api.routes._common import Caller, MeshDep

    def noop(mesh: MeshDep, who: Caller) -> dict[str, str]:
        return {"actor": mesh.gate.session(who).actor.name}

    # this module's annotations are strings; FastAPI resolves them in its globals
    noop.__annotations__ = {"mesh": MeshDep, "who": Caller, "return": dict[str, str]}
    app.add_api_route("/bench/noop", noop, methods=["GET"])
    app.router.routes.insert(0, app.router.routes.pop())  # before the web UI's routes


def main(argv: list[str]) -> None:
    home, port = argv[0], int(argv[1])
    if os.environ.get(ALLOW_ALL_ENV) == "1":
        patch_allow_all()
    import uvicorn

    from lakemesh.api.app import create_app

    app = create_app(home, worker=True)
    add_noop(app)
    # the options of ``lakemesh serve --workers 1`` (src/lakemesh/cli/serve.py)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        server_header=False,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
