"""Who is calling: bearer tokens for the API, signed session cookies for the web UI.

A token is looked up by its SHA-256 (``principals.authenticate``), never stored or
logged. The web UI exchanges a token once for a session cookie (HttpOnly, SameSite=Strict,
signed with ``keys.session_key``) that carries the user and the token's hash, so issuing
a new token ends the sessions opened with the old one. Every form carries a CSRF token
derived from the session by HMAC; a POST without the right one is refused.

Every authenticated request is counted against its user's rate limit before anything
else runs.

The API remembers a bearer token it has looked up for ``TOKEN_TTL_SECONDS`` (by its
hash, in this process, successes only), so a client's calls do not each cost a store
read: a token replaced by ``lakemesh user token`` keeps working for at most that long
through the API (a web session ends at once: it is checked against the store on every
request). What the user may do is not cached here: every operation resolves the user
and its grants from the freshly refreshed policy snapshot.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool

from lakemesh import keys
from lakemesh.access import principals
from lakemesh.errors import PermissionDenied, Unauthenticated

if TYPE_CHECKING:
    from lakemesh.access.principals import User
    from lakemesh.api.limits import RateLimiter
    from lakemesh.mesh import Mesh

SESSION_COOKIE = "lakemesh_session"
#: How long a looked-up bearer token is trusted without another store read: the bound
#: on how long a replaced token still works through the API.
TOKEN_TTL_SECONDS = 1.0
#: Tokens remembered at most (all are forgotten when the table is full).
TOKEN_CACHE_SIZE = 4096
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
        self._tokens: dict[str, tuple[float, User]] = {}  # token hash -> (until, user)

    # ------------------------------------------------------------------ tokens

    def authenticate(self, token: str) -> User:
        """The user of a bearer token, or ``Unauthenticated``."""
        if not token or len(token) > 512:
            raise Unauthenticated("a valid bearer token is required")
        user = self.mesh.access.authenticate(token)
        if user is None:
            raise Unauthenticated("a valid bearer token is required")
        return user

    def remembered(self, token: str) -> User | None:
        """The user of a bearer token looked up less than ``TOKEN_TTL_SECONDS`` ago, or
        None (then ``authenticate_bearer`` asks the store)."""
        if not token or len(token) > 512:
            return None
        found = self._tokens.get(principals.token_hash(token))
        if found is None or found[0] <= time.monotonic():
            return None
        return found[1]

    def authenticate_bearer(self, token: str) -> User:
        """``authenticate``, remembering a success for ``TOKEN_TTL_SECONDS`` (a failure is
        never remembered: a new token works at once)."""
        user = self.authenticate(token)
        if len(self._tokens) >= TOKEN_CACHE_SIZE:
            self._tokens.clear()
        self._tokens[principals.token_hash(token)] = (time.monotonic() + TOKEN_TTL_SECONDS, user)
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
        user = self.mesh.access.authenticate_digest(data["t"])
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


async def caller(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_BEARER),  # noqa: B008
) -> str:
    """The API's authentication: the bearer token's user, counted against its rate limit.
    Tokens are accepted only in the ``Authorization`` header, never in the URL.

    Runs on the event loop: a remembered token costs no thread hop and no store read;
    only a lookup goes to the thread pool."""
    srv = server(request)
    if credentials is None or credentials.scheme.lower() != "bearer":
        srv.limiter.hit(_address(request))
        raise Unauthenticated("a valid bearer token is required")
    user = srv.remembered(credentials.credentials)
    if user is None:
        try:
            user = await run_in_threadpool(srv.authenticate_bearer, credentials.credentials)
        except Unauthenticated:
            srv.limiter.hit(_address(request))  # guessing tokens is rate limited too
            raise
    srv.limiter.hit("user:" + user.name)
    request.state.principal = user.name
    return user.name


def _address(request: Request) -> str:
    return f"addr:{request.client.host}" if request.client else "addr:?"
