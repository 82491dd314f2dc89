"""Pages as HTML: the templates, flash messages, and failures as one-line pages.

Templates are autoescaped Jinja2: whatever a user typed (a product's description, a
request's reason, a SQL error) reaches the page as text, never as markup. A failure of
the facade becomes one line on the page with the status the API would give it; the
detail of an outage stays in the server's log (``api.errors.for_exception``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from lakemesh import keys
from lakemesh.api import errors as api_errors
from lakemesh.web import charts

if TYPE_CHECKING:
    from lakemesh.api.auth import Server
    from lakemesh.mesh import Mesh
    from lakemesh.web.session import Viewer

FLASH_COOKIE = "lakemesh_flash"
#: A flash message lives for the redirect that follows the POST, not longer.
FLASH_SECONDS = 120

ENV = Environment(
    loader=PackageLoader("lakemesh.web", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def when(value: Any) -> str:
    """A timestamp (datetime or ISO-8601 text) to the minute, in UTC as stored."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        return str(value.strftime("%Y-%m-%d %H:%M UTC"))
    return str(value)


def percent(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 100:.1f}%"


ENV.filters["when"] = when


def breakable(value: Any) -> Markup:
    """A dotted name (``domain.database.table``, ``user@domain``) that may wrap after its
    dots and before its ``@`` in a narrow column, each part escaped."""
    text = str(value)
    parts = re.split(r"(?<=\.)|(?=@)", text)
    return Markup("<wbr>").join(escape(p) for p in parts)


ENV.filters["breakable"] = breakable
ENV.filters["percent"] = percent
ENV.globals["quality_chart"] = charts.quality_chart
ENV.globals["lineage_graph"] = charts.lineage_graph


class UI:
    """What the pages share beyond the API's ``Server``: the flash signer (derived from
    the mesh's session key)."""

    def __init__(self, home: Path) -> None:
        key = keys.session_key(home)
        self.flash = URLSafeTimedSerializer(key, salt="lakemesh.web.flash")


@dataclass(frozen=True)
class Flash:
    text: str
    kind: str = "ok"  # ok | error


class PageError(Exception):
    """A request the UI refuses before the facade is asked (a bad form, no session)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class SignInRequired(Exception):
    """No valid session: the browser goes to the sign-in page, then back to ``next``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def ui(request: Request) -> UI:
    state: UI = request.app.state.ui
    return state


def server(request: Request) -> Server:
    srv: Server = request.app.state.server
    return srv


def mesh(request: Request) -> Mesh:
    return server(request).mesh


def page(
    request: Request,
    template: str,
    viewer: Viewer | None,
    *,
    status: int | None = None,
    error: BaseException | str | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render ``template``; a flash left by the last POST (or ``error``) shows on top.
    Without ``status``: 200, or the status ``error`` maps to (a failed POST)."""
    flash, used = _take_flash(request)
    if isinstance(error, str):
        flash = Flash(error, "error")
    elif error is not None:
        code, message = explain(request, error)
        flash, status = Flash(message, "error"), status or code
    title = context.pop("title", "")
    html = ENV.get_template(template).render(
        request=request,
        viewer=viewer,
        flash=flash,
        title=title,
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status or 200)
    if used:
        response.delete_cookie(FLASH_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def explain(request: Request, exc: BaseException) -> tuple[int, str]:
    """The status and the one-line message of a failure, as the API words it."""
    status, _, message, _ = api_errors.for_exception(request, exc)
    return status, message


def failed(request: Request, viewer: Viewer | None, exc: BaseException) -> HTMLResponse:
    """A page that cannot be shown at all: one line, the right status."""
    status, message = explain(request, exc)
    return page(
        request, "error.html", viewer, status=status, title="Not available", message=message
    )


def redirect(request: Request, to: str, flash: str | None = None) -> RedirectResponse:
    """POST-redirect-GET, with a one-line message for the next page."""
    response = RedirectResponse(to, status_code=303)
    if flash:
        response.set_cookie(
            FLASH_COOKIE,
            str(ui(request).flash.dumps(flash[:500])),
            max_age=FLASH_SECONDS,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return response


def _take_flash(request: Request) -> tuple[Flash | None, bool]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None, False
    try:
        text = ui(request).flash.loads(raw, max_age=FLASH_SECONDS)
    except BadSignature:
        return None, True
    return (Flash(text) if isinstance(text, str) else None), True


def path_of(name: str) -> str:
    """A resource name as a URL path segment."""
    return quote(name, safe="@")


ENV.filters["url"] = path_of


def install(app: FastAPI) -> None:
    """The handlers that turn the UI's own refusals into pages."""

    async def to_sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return RedirectResponse("/signin?next=" + quote(exc.next_path, safe="/"), 303)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        return page(
            request, "error.html", None, status=exc.status, title="Refused", message=exc.message
        )

    app.add_exception_handler(SignInRequired, to_sign_in)
    app.add_exception_handler(PageError, refused)
