"""Outbound webhooks, signed the Standard Webhooks way (standardwebhooks.com): the body
is POSTed with ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (HMAC-SHA256
of ``id.timestamp.body`` under the target's secret), so a receiver can check where a
call came from and refuse replays with any Standard Webhooks library.

A target is a URL a user registered, and the mesh must not become their way into the
network it runs in. Unless the mesh settings allow private targets, every address the
target's host resolves to must be public. That is checked when the target is registered
and again at each delivery, on the very addresses the connection then uses (the check
resolves the name, and the connection goes to an address the check passed), so a name
whose DNS answer changes in between cannot reach a private address. Redirects are not
followed for the same reason.

``deliver`` never raises for network trouble: its result says whether a retry could
help, for the bus's retry schedule.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import math
import secrets
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import SplitResult, urlsplit

import httpcore
import httpx
from standardwebhooks.webhooks import Webhook

from lakemesh.errors import InvalidInput, first_line
from lakemesh.typedef import now

MAX_URL: Final = 2048
#: How much of a receiver's answer is read: enough for any acknowledgement.
MAX_RESPONSE: Final = 64 * 1024
#: Any timeout asked for is brought into this range: long enough for a slow receiver,
#: short enough that one dead receiver cannot hold up the worker.
MIN_TIMEOUT: Final = 5.0
MAX_TIMEOUT: Final = 10.0
USER_AGENT: Final = "lakemesh-webhooks/1"
_ALLOW = (
    "set events.allow_private_targets to true in the mesh settings to allow loopback "
    "and private targets"
)
#: NAT64's well-known prefix: its addresses stand for the IPv4 address in their low bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one delivery attempt. ``retryable`` is False when trying again
    cannot help: the target is refused, or the receiver answered 410 Gone."""

    ok: bool
    status: int | None
    error: str | None
    retryable: bool
    elapsed_ms: float


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 32 random bytes in base64, the form
    Standard Webhooks libraries take."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def check_target(url: str, *, allow_private: bool) -> None:
    """Refuse a URL that is not a webhook target: not http(s), credentials in it, a
    fragment, a host that does not resolve, or (unless ``allow_private``) a host with a
    loopback, private, link-local, multicast, reserved or otherwise non-public address."""
    target = _Target.parse(url)
    _resolve(target.host, target.port, target.origin, allow_private=allow_private)


def deliver(
    url: str,
    secret: str,
    msg_id: str,
    body: str,
    *,
    timeout: float = 10.0,
    allow_private: bool,
    at: datetime | None = None,
) -> DeliveryResult:
    """POST ``body`` (JSON text) to ``url``, signed with ``secret`` as message
    ``msg_id`` sent at ``at`` (default: now). A bad secret, id or time is the caller's
    mistake and raises ``InvalidInput``; anything the network or the receiver does is
    in the result."""
    headers = _signed_headers(secret, msg_id, body, at)
    limit = min(max(timeout, MIN_TIMEOUT), MAX_TIMEOUT)
    started = time.perf_counter()

    def result(status: int | None, error: str | None, retryable: bool) -> DeliveryResult:
        elapsed = (time.perf_counter() - started) * 1000
        return DeliveryResult(error is None, status, error, retryable, round(elapsed, 3))

    try:
        target = _Target.parse(url)
        _resolve(target.host, target.port, target.origin, allow_private=allow_private)
    except _Unresolved as error:
        return result(None, str(error), True)
    except InvalidInput as error:
        return result(None, str(error), False)
    transport = _CheckedTransport(target.origin, allow_private=allow_private)
    try:
        with (
            httpx.Client(
                transport=transport, timeout=limit, follow_redirects=False, trust_env=False
            ) as client,
            client.stream("POST", url, content=body.encode("utf-8"), headers=headers) as response,
        ):
            _drain(response, started + limit)
            status, location = response.status_code, response.headers.get("location")
    except _Unresolved as error:
        return result(None, str(error), True)
    except InvalidInput as error:  # the check at connection time refused an address
        return result(None, str(error), False)
    except httpx.TimeoutException:
        return result(None, f"{target.origin} did not answer within {limit:g} s", True)
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as error:
        return result(None, f"cannot deliver to {target.origin}: {_reason(error)}", True)
    if 200 <= status < 300:
        return result(status, None, False)
    if 300 <= status < 400:
        where = f"to {_shown(location)}" if location else "without a location"
        return result(status, f"redirect refused ({status} {where})", True)
    if status == 410:
        return result(status, "HTTP 410 Gone: the receiver wants no more deliveries", False)
    return result(status, f"HTTP {status} {response.reason_phrase}".strip(), True)


# --------------------------------------------------------------------------- targets


class _Unresolved(InvalidInput):
    """The host does not resolve now: refused when registering, retried when delivering
    (DNS trouble passes)."""


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    #: ``scheme://host[:port]``: what messages name, as the path or query of a webhook
    #: URL often carries a token.
    origin: str

    @classmethod
    def parse(cls, url: str) -> _Target:
        if not isinstance(url, str) or not url:
            raise InvalidInput("webhook target: a URL is required")
        if len(url) > MAX_URL:
            raise InvalidInput(f"webhook target: longer than {MAX_URL} characters")
        if any(c.isspace() or not c.isprintable() for c in url):
            raise InvalidInput("webhook target: spaces and control characters are not allowed")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise InvalidInput(f"webhook target: not a valid URL ({first_line(error)})") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            got = f"not {_shown(scheme, 20)}" if scheme else "no scheme given"
            raise InvalidInput(f"webhook target: must be an http or https URL ({got})")
        if "@" in parts.netloc:
            raise InvalidInput(
                "webhook target: must not carry a user name or password (user:password@)"
            )
        if "#" in url:
            raise InvalidInput("webhook target: must not have a fragment (#...)")
        if not parts.hostname:
            raise InvalidInput("webhook target: a host is required")
        if port == 0:
            raise InvalidInput("webhook target: port 0 is not a port")
        return cls(
            host=parts.hostname,
            port=port or (443 if scheme == "https" else 80),
            origin=_origin(parts, scheme),
        )


def _origin(parts: SplitResult, scheme: str) -> str:
    return f"{scheme}://{parts.netloc.lower()}"


def _resolve(host: str, port: int, origin: str, *, allow_private: bool) -> list[str]:
    """The addresses ``host`` resolves to, each checked against the policy."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        reason = getattr(error, "strerror", None) or first_line(error)
        raise _Unresolved(f"webhook target {origin}: cannot resolve {host} ({reason})") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not addresses:
        raise _Unresolved(f"webhook target {origin}: cannot resolve {host} (no address)")
    if not allow_private:
        for address in addresses:
            kind = _non_public(address)
            if kind is not None:
                raise InvalidInput(
                    f"webhook target {origin} refused: {address} is {kind} address ({_ALLOW})"
                )
    return addresses


def _non_public(address: str) -> str | None:
    """What makes ``address`` unfit for a public target (with its article), or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else ip.sixtofour
        )
        if embedded is not None:
            kind = _kind(embedded)
            if kind is not None:
                how = "IPv4-mapped" if ip.ipv4_mapped else "IPv4-embedding"
                return f"an {how} {kind}"
    kind = _kind(ip)
    if kind is None:
        return None
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    # most specific first: 127.0.0.1 is also "private" to the ipaddress module
    for kind, test in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("non-public", not ip.is_global),
    ):
        if test:
            return kind
    return None


# --------------------------------------------------------------------------- sending


def _signed_headers(secret: str, msg_id: str, body: str, at: datetime | None) -> dict[str, str]:
    if not msg_id or len(msg_id) > 255 or any(not ("!" <= c <= "~") for c in msg_id):
        raise InvalidInput("webhook message id must be 1 to 255 printable ASCII characters")
    if at is not None and at.tzinfo is None:
        raise InvalidInput("webhook time must be timezone-aware")
    try:
        signer = Webhook(secret)
    except Exception:  # the library raises binascii.Error, RuntimeError or its own
        raise InvalidInput("webhook secret is not a whsec_ base64 secret") from None
    stamp = math.floor((at or now()).timestamp())
    signature = signer.sign(msg_id, datetime.fromtimestamp(stamp, UTC), body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def _drain(response: httpx.Response, deadline: float) -> None:
    """Read at most ``MAX_RESPONSE`` bytes of the answer, and not past the deadline: the
    status is what counts, and a receiver must not keep the worker reading."""
    read = 0
    for chunk in response.iter_raw(16384):
        read += len(chunk)
        if read >= MAX_RESPONSE or time.perf_counter() >= deadline:
            break


class _CheckedBackend(httpcore.NetworkBackend):
    """Connects only to addresses that pass the policy: resolves the host itself, checks
    every address, then connects to the checked address (no second lookup)."""

    def __init__(self, origin: str, *, allow_private: bool) -> None:
        self._origin = origin
        self._allow_private = allow_private
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = _resolve(host, port, self._origin, allow_private=self._allow_private)
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as error:  # refused: try the next address
                failure = error
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("a webhook target is never a unix socket")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _CheckedTransport(httpx.HTTPTransport):
    """httpx's transport with the checking backend underneath. httpx has no public way to
    choose the network backend, so the pool is replaced; the DNS-rebinding test fails if
    a new httpx stops using it."""

    def __init__(self, origin: str, *, allow_private: bool) -> None:
        super().__init__(verify=_ssl_context(), trust_env=False, retries=0)
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=1,
            retries=0,
            network_backend=_CheckedBackend(origin, allow_private=allow_private),
        )


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """httpx's default verification (certifi's roots), built once: loading the roots
    costs more than a delivery to a nearby receiver."""
    return httpx.create_ssl_context(trust_env=False)


def _reason(error: BaseException) -> str:
    reason = first_line(error) or type(error).__name__
    return _shown(reason, 200)


def _shown(text: str, limit: int = 200) -> str:
    """Text from outside (a header, an error) made fit for a one-line message."""
    clean = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."
