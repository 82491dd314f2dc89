"""What every request is held to before any work is done: body size and request rate.

* ``BodyLimit`` (ASGI middleware) reads a request body in full before the application
  sees it and answers 413 as soon as it grows past the limit, whether the client sent a
  ``Content-Length`` or chunks: a lying or absent length cannot get more through.
* ``RateLimiter`` counts requests per key (the token's user, or the client's address
  before sign-in) in moving windows of the ``limits`` package, and raises
  ``RateLimited`` with the seconds until the window frees a slot.
"""

from __future__ import annotations

import json
import time
from typing import Any

from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lakemesh.errors import InvalidInput, RateLimited


class RateLimiter:
    """Moving-window limits per key, in this process's memory."""

    def __init__(self, spec: str) -> None:
        try:
            self.items = parse_many(spec)
        except ValueError as exc:
            raise InvalidInput(f"invalid api.rate_limit {spec!r}: {exc}") from None
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, key: str) -> None:
        """Count one request for ``key``; ``RateLimited`` if a window is full."""
        for item in self.items:
            if not self._limiter.hit(item, key):
                reset, _ = self._limiter.get_window_stats(item, key)
                raise RateLimited(max(1, int(reset - time.time()) + 1))


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, counting what arrives."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
            chunks.append(body)
            more = message.get("more_body", False)
        whole = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()  # then only the disconnect

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        from lakemesh.api.errors import CORRELATION_HEADER, new_correlation_id

        cid = new_correlation_id(scope)
        body = json.dumps(
            {
                "code": "payload_too_large",
                "message": f"request body larger than {self.max_bytes} bytes",
                "correlation_id": cid,
            }
        ).encode()
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (CORRELATION_HEADER.lower().encode(), cid.encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def client_key(scope: dict[str, Any]) -> str:
    client = scope.get("client")
    return f"addr:{client[0]}" if client else "addr:?"
