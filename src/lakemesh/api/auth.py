"""Who is calling: bearer tokens for the API, signed session cookies for the web UI.

A token is looked up by its SHA-256 (``principals.authenticate``), never stored or
logged. The web UI exchanges a token once for a session cookie (HttpOnly, SameSite=Strict,
signed with ``keys.session_key``) that carries the user and the token's hash, so issuing
a new token ends the sessions opened with the old one. Every form carries a CSRF token
derived from the session by HMAC; a POST without the right one is refused.

Every authenticated request is counted against its user's rate limit before anything
else runs.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from itsdangerous import BadSignature, URLSafeTimedSerializer

from lakemesh import keys
from lakemesh.access import principals
from lakemesh.errors import PermissionDenied, Unauthenticated

if TYPE_CHECKING:
    from lakemesh.access.principals import User
    from lakemesh.api.limits import RateLimiter
    from lakemesh.mesh import Mesh

SESSION_COOKIE = "lakemesh_session"
_BEARER = HTTPBearer(auto_error=False, description="The token `lakemesh user create` printed")


@dataclass
class Server:
    """What the routes share: the mesh, the rate limiter, the session signer."""

    mesh: Mesh
    limiter: RateLimiter
    session_seconds: int

    def __post_init__(self) -> None:
        key = keys.session_key(self.mesh.home)
        self._signer = URLSafeTimedSerializer(key, salt="lakemesh.web.session")
        self._csrf_key = hashlib.sha256(b"lakemesh.web.csrf" + key).digest()

    # ------------------------------------------------------------------ tokens

    def authenticate(self, token: str) -> User:
        """The user of a bearer token, or ``Unauthenticated``."""
        if not token or len(token) > 512:
            raise Unauthenticated("a valid bearer token is required")
        with self.mesh.store.read() as conn:
            user = principals.authenticate(conn, token)
        if user is None:
            raise Unauthenticated("a valid bearer token is required")
        return user

    # ------------------------------------------------------------------ web sessions

    def open_session(self, token: str) -> tuple[User, str]:
        """Sign in with a token: the user and the cookie value for its session."""
        user = self.authenticate(token)
        return user, str(self._signer.dumps({"u": user.name, "t": principals.token_hash(token)}))

    def session_user(self, cookie: str | None) -> User | None:
        """The user of a session cookie, or None (expired, forged, or its token replaced)."""
        if not cookie or len(cookie) > 2048:
            return None
        try:
            data: Any = self._signer.loads(cookie, max_age=self.session_seconds)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("t"), str):
            return None
        with self.mesh.store.read() as conn:
            user = principals.authenticate_digest(conn, data["t"])
        return user if user is not None and user.name == data.get("u") else None

    def csrf_token(self, cookie: str) -> str:
        """The CSRF token of a session: forms carry it, POSTs must send it back."""
        return hmac.new(self._csrf_key, cookie.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, cookie: str | None, sent: str | None) -> None:
        if not cookie or not sent or not hmac.compare_digest(self.csrf_token(cookie), sent):
            raise PermissionDenied("the form has expired or did not come from this site; reload")


def server(request: Request) -> Server:
    srv: Server = request.app.state.server
    return srv


def caller(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_BEARER),  # noqa: B008
) -> str:
    """The API's authentication: the bearer token's user, counted against its rate limit.
    Tokens are accepted only in the ``Authorization`` header, never in the URL."""
    srv = server(request)
    if credentials is None or credentials.scheme.lower() != "bearer":
        srv.limiter.hit(_address(request))
        raise Unauthenticated("a valid bearer token is required")
    try:
        user = srv.authenticate(credentials.credentials)
    except Unauthenticated:
        srv.limiter.hit(_address(request))  # guessing tokens is rate limited too
        raise
    srv.limiter.hit("user:" + user.name)
    request.state.principal = user.name
    return user.name


def _address(request: Request) -> str:
    return f"addr:{request.client.host}" if request.client else "addr:?"
