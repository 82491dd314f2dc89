"""Signing in and out, the signed-in user of a page, and the CSRF check of every form.

A token is typed into a form and exchanged once for a session cookie (``Server``
signs it; HttpOnly, SameSite=Strict, Path=/, Secure over https); it never travels in a
URL. Every POST form carries the session's CSRF token. The sign-in form itself has no
session yet, so it is bound to a random pre-session cookie the same way: a cross-site
form can neither read that cookie nor produce the token.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lakemesh.access.principals import User
from lakemesh.api.auth import SESSION_COOKIE
from lakemesh.errors import PermissionDenied, RateLimited, Unauthenticated
from lakemesh.web.render import PageError, SignInRequired, page, server

router = APIRouter()

PRESESSION_COOKIE = "lakemesh_signin"


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of a page, and what its forms carry."""

    user: User
    cookie: str
    csrf: str

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def role(self) -> str:
        return str(self.user.role)

    @property
    def domain(self) -> str:
        return self.user.domain


def viewer(request: Request) -> Viewer:
    """The page's user, or a redirect to the sign-in page (then back here)."""
    srv = server(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    user = srv.session_user(cookie)
    if user is None or cookie is None:
        wanted = request.url.path if request.method == "GET" else "/"
        if request.method == "GET" and request.url.query:
            wanted += "?" + request.url.query
        raise SignInRequired(wanted)
    try:
        srv.limiter.hit("user:" + user.name)
    except RateLimited as exc:
        raise PageError(429, f"too many requests; try again in {exc.retry_after} s") from exc
    request.state.principal = user.name
    return Viewer(user, cookie, srv.csrf_token(cookie))


def form_viewer(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Viewer:
    """The user of a POST form whose CSRF token is the session's (else 403, nothing done)."""
    who = viewer(request)
    try:
        server(request).check_csrf(who.cookie, csrf)
    except PermissionDenied as exc:
        raise PageError(403, str(exc)) from exc
    return who


#: A page's signed-in user.
Signed = Annotated[Viewer, Depends(viewer)]
#: A form's signed-in user, its CSRF token checked.
Posted = Annotated[Viewer, Depends(form_viewer)]


def local(next_path: str | None) -> str:
    """Where to go after signing in: a path on this site only (no ``//host``)."""
    if not next_path or not next_path.startswith("/") or next_path.startswith("//"):
        return "/"
    if "\\" in next_path or any(ord(c) < 32 for c in next_path):
        return "/"
    return next_path


@router.get("/signin", response_class=HTMLResponse)
def sign_in_form(request: Request, next: str = "/") -> Response:
    """The sign-in form, bound to a fresh pre-session cookie."""
    srv = server(request)
    if srv.session_user(request.cookies.get(SESSION_COOKIE)) is not None:
        return RedirectResponse(local(next), 303)
    return _form(request, next)


def _form(
    request: Request, next_path: str, status: int = 200, error: str | None = None
) -> Response:
    pre = secrets.token_urlsafe(24)
    response = page(
        request,
        "signin.html",
        None,
        status=status,
        error=error,
        title="Sign in",
        next_path=local(next_path),
        signin_csrf=server(request).csrf_token(pre),
    )
    response.set_cookie(
        PRESESSION_COOKIE,
        pre,
        max_age=3600,
        path="/signin",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/signin")
def sign_in(
    request: Request,
    token: Annotated[str, Form(max_length=600)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Exchange a token for a session cookie; a wrong token says only that it is wrong."""
    srv = server(request)
    try:
        srv.check_csrf(request.cookies.get(PRESESSION_COOKIE), csrf)
    except PermissionDenied as exc:
        return _form(request, next, 403, str(exc))
    address = f"addr:{request.client.host}" if request.client else "addr:?"
    try:
        srv.limiter.hit(address)  # guessing tokens is rate limited
        user, cookie = srv.open_session(token.strip())
    except RateLimited as exc:
        return _form(request, next, 429, f"too many attempts; try again in {exc.retry_after} s")
    except Unauthenticated:
        return _form(request, next, 401, "that token is not valid")
    _audit(request, user.name, "session.open")
    response = RedirectResponse(local(next), 303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=srv.session_seconds,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(PRESESSION_COOKIE, path="/signin")
    request.state.principal = user.name
    return response


@router.post("/signout")
def sign_out(request: Request, who: Posted) -> Response:
    """End the browser's session (the token itself stays valid for the API)."""
    _audit(request, who.name, "session.close")
    response = RedirectResponse("/signin", 303)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def _audit(request: Request, user: str, action: str) -> None:
    """A web sign-in or sign-out in the audit log, as the user's own record (CloudTrail
    logs console sign-ins too); its origin carries the request's correlation id."""
    server(request).mesh.gate.session(user).audited(
        action, user, lambda conn: None, lambda _: {"via": "web"}
    )
