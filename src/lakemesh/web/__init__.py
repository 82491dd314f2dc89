"""The web UI: server-rendered pages over the same ``Mesh`` facade as the API.

Every page acts as the signed-in user through the facade, whose session decides and
audits; the UI only renders what it is given and never reads the store. Pages are plain
HTML forms (POST, then redirect to a GET) styled by one static stylesheet: the strict
CSP allows no inline script or style, and charts are SVG markup rendered here.

* ``session``: sign-in with a token, the session cookie, the CSRF check of every form;
* ``render``: templates, flash messages, one-line error pages;
* ``catalog``: search, a table's page, the request form, the query page;
* ``workflow``: my requests, a request's history, the stewards' inbox, approval links;
* ``governance``: domains, the classification queue, grants and ``access explain``,
  the audit log, events and the dead-letter queue;
* ``charts``: quality over time and lineage as SVG.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

STATIC = Path(__file__).resolve().parent / "static"


def install(app: FastAPI) -> None:
    """Mount the UI's pages and static files on ``app`` (after the API's state is set)."""
    from fastapi.staticfiles import StaticFiles

    from lakemesh.web import catalog, governance, render, session, workflow

    app.state.ui = render.UI(app.state.server.mesh.home)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (session, catalog, workflow, governance):
        app.include_router(module.router, include_in_schema=False)
    render.install(app)
