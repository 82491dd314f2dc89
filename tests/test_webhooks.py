"""Webhooks against real HTTP servers on loopback: signatures a Standard Webhooks
receiver accepts, how each kind of failure is reported (and whether it is worth a
retry), and the target policy that keeps the mesh out of its own network.

No test reaches DNS: the resolver is replaced by one that knows IP literals, localhost
and the names a test scripts, which is also how a name that changes its answer between
the check and the connection (DNS rebinding) is played."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from lakemesh.errors import InvalidInput
from lakemesh.events.webhooks import (
    MIN_TIMEOUT,
    USER_AGENT,
    DeliveryResult,
    check_target,
    deliver,
    new_secret,
)
from tests.pgserver import free_port

ALLOW = (
    "set events.allow_private_targets to true in the mesh settings to allow loopback "
    "and private targets"
)
PUBLIC = "93.184.215.14"
BODY = json.dumps({"id": "evt-1", "type": "catalog.table.created", "table": "sales.db.orders"})


# --------------------------------------------------------------------------- resolver


@pytest.fixture(autouse=True)
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[str]]]:
    """Names a test makes resolvable: each lookup of a name takes the next answer (the
    last one repeats). IP literals and localhost resolve as usual; any other name does
    not exist."""
    answers: dict[str, list[list[str]]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in answers:
            queue = answers[name]
            addresses = queue.pop(0) if len(queue) > 1 else queue[0]
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    socket.IPPROTO_TCP,
                    "",
                    (a, int(port)),
                )
                for a in addresses
            ]
        try:
            ip_address(name.split("%")[0])
        except ValueError:
            if name != "localhost":
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


# --------------------------------------------------------------------------- receivers


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    #: What Standard Webhooks verification returned (the parsed body), or its error.
    verified: Any = None


@dataclass
class Receiver:
    """A real HTTP server on loopback answering every POST the same way."""

    secret: str | None = None
    status: int = 204
    delay: float = 0.0
    location: str | None = None
    endless: bool = False
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                got = Received(self.path, headers, body)
                if receiver.secret is not None:
                    try:
                        got.verified = Webhook(receiver.secret).verify(body, headers)
                    except WebhookVerificationError as error:
                        got.verified = error
                receiver.received.append(got)
                if receiver.delay:
                    receiver.release.wait(receiver.delay)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.answer()  # the client may have given up, as it should have

            def answer(self) -> None:
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("location", receiver.location)
                if receiver.endless:
                    self.end_headers()
                    chunk = b"x" * 65536
                    while not receiver.release.is_set():
                        self.wfile.write(chunk)
                    return
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/lakemesh?token=t0ken"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(**options: Any) -> Receiver:
        started.append(Receiver(**options).start())
        return started[-1]

    yield start
    for one in started:
        one.stop()


def post(url: str, secret: str | None = None, **options: Any) -> DeliveryResult:
    options.setdefault("allow_private", True)
    return deliver(url, secret or new_secret(), "msg_2Z9PQ1", BODY, **options)


# --------------------------------------------------------------------------- delivery


def test_secrets_are_32_random_bytes_standard_webhooks_takes() -> None:
    one, two = new_secret(), new_secret()
    assert one.startswith("whsec_") and one != two
    assert len(base64.b64decode(one.removeprefix("whsec_"))) == 32
    Webhook(one)


def test_a_delivery_is_signed_so_the_receiver_can_verify_it(
    receiver: Callable[..., Receiver],
) -> None:
    secret = new_secret()
    hook = receiver(secret=secret, status=204)
    before = int(time.time())
    result = post(hook.url, secret)
    assert result.ok and result.status == 204 and result.error is None
    assert not result.retryable and result.elapsed_ms > 0
    (got,) = hook.received
    assert got.verified == json.loads(BODY)
    assert got.path == "/hooks/lakemesh?token=t0ken"
    assert got.body == BODY.encode()
    assert got.headers["webhook-id"] == "msg_2Z9PQ1"
    assert before <= int(got.headers["webhook-timestamp"]) <= int(time.time())
    assert got.headers["webhook-signature"].startswith("v1,")
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == USER_AGENT
    # a receiver holding another secret refuses the same request
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(got.body, got.headers)


def test_the_signature_covers_the_given_time(receiver: Callable[..., Receiver]) -> None:
    secret = new_secret()
    hook = receiver(secret=secret)
    at = datetime.now(UTC) - timedelta(seconds=90)
    assert post(hook.url, secret, at=at).ok
    (got,) = hook.received
    assert got.headers["webhook-timestamp"] == str(int(at.timestamp()))
    assert got.verified == json.loads(BODY)  # within Standard Webhooks' five minutes
    stale = dict(got.headers, **{"webhook-timestamp": str(int(at.timestamp()) + 1)})
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(got.body, stale)


def test_a_slow_receiver_times_out_and_may_be_retried(receiver: Callable[..., Receiver]) -> None:
    """The timeout asked for (0.5 s) is raised to the 5 s minimum."""
    hook = receiver(delay=30)
    result = post(hook.url, timeout=0.5)
    assert not result.ok and result.retryable and result.status is None
    assert result.error == f"{hook.origin} did not answer within {MIN_TIMEOUT:g} s"
    assert MIN_TIMEOUT * 1000 - 100 <= result.elapsed_ms < MIN_TIMEOUT * 1000 + 3000


def test_redirects_are_refused_and_not_followed(receiver: Callable[..., Receiver]) -> None:
    elsewhere = receiver()
    hook = receiver(status=303, location=elsewhere.url)
    result = post(hook.url)
    assert not result.ok and result.retryable and result.status == 303
    assert result.error == f"redirect refused (303 to {elsewhere.url})"
    assert len(hook.received) == 1
    assert elsewhere.received == []


@pytest.mark.parametrize(
    ("status", "retryable", "error"),
    [
        (200, False, None),
        (202, False, None),
        (500, True, "HTTP 500 Internal Server Error"),
        (503, True, "HTTP 503 Service Unavailable"),
        (404, True, "HTTP 404 Not Found"),
        (429, True, "HTTP 429 Too Many Requests"),
        (410, False, "HTTP 410 Gone: the receiver wants no more deliveries"),
    ],
)
def test_statuses(
    receiver: Callable[..., Receiver], status: int, retryable: bool, error: str | None
) -> None:
    result = post(receiver(status=status).url)
    assert (result.ok, result.status, result.retryable, result.error) == (
        error is None,
        status,
        retryable,
        error,
    )


def test_a_closed_port_may_be_retried() -> None:
    port = free_port()
    result = post(f"http://127.0.0.1:{port}/hook")
    assert not result.ok and result.retryable and result.status is None
    assert result.error is not None
    assert result.error.startswith(f"cannot deliver to http://127.0.0.1:{port}: ")
    assert "refused" in result.error.lower() and "\n" not in result.error


@pytest.mark.timeout(30)
def test_a_receiver_cannot_make_the_worker_read_forever(
    receiver: Callable[..., Receiver],
) -> None:
    hook = receiver(status=200, endless=True)
    started = time.monotonic()
    result = post(hook.url)
    assert result.ok and result.status == 200
    assert time.monotonic() - started < 3


def test_loopback_is_refused_unless_allowed(receiver: Callable[..., Receiver]) -> None:
    hook = receiver()
    result = post(hook.url, allow_private=False)
    assert not result.ok and not result.retryable and result.status is None
    assert result.error == (
        f"webhook target {hook.origin} refused: 127.0.0.1 is a loopback address ({ALLOW})"
    )
    assert hook.received == []
    assert post(hook.url, allow_private=True).ok
    assert len(hook.received) == 1


def test_a_name_that_turns_private_after_the_check_is_not_contacted(
    receiver: Callable[..., Receiver], dns: dict[str, list[list[str]]]
) -> None:
    hook = receiver()
    url = f"http://rebind.test:{hook.port}/hook"
    dns["rebind.test"] = [[PUBLIC], ["127.0.0.1"]]
    check_target(url, allow_private=False)  # the registration saw a public address
    dns["rebind.test"] = [[PUBLIC], ["127.0.0.1"]]
    result = post(url, allow_private=False)
    assert not result.ok and not result.retryable
    assert result.error == (
        f"webhook target http://rebind.test:{hook.port} refused: "
        f"127.0.0.1 is a loopback address ({ALLOW})"
    )
    assert hook.received == []
    # where private targets are allowed, the name is used and the host header kept
    assert post(url, allow_private=True).ok
    (got,) = hook.received
    assert got.headers["host"] == f"rebind.test:{hook.port}"


def test_a_name_that_does_not_resolve_now_may_be_retried() -> None:
    result = post("https://gone.test/hook", allow_private=False)
    assert not result.ok and result.retryable and result.status is None
    assert result.error == (
        "webhook target https://gone.test: cannot resolve gone.test (Name or service not known)"
    )


def test_a_refused_url_is_not_retried() -> None:
    result = post("ftp://example.com/hook")
    assert not result.ok and not result.retryable
    assert result.error == "webhook target: must be an http or https URL (not ftp)"


@pytest.mark.parametrize(
    ("secret", "msg_id", "at", "message"),
    [
        ("", "m", None, "webhook secret is not a whsec_ base64 secret"),
        ("whsec_", "m", None, "webhook secret is not a whsec_ base64 secret"),
        (None, "", None, "webhook message id must be 1 to 255 printable ASCII characters"),
        (None, "a b", None, "webhook message id must be 1 to 255 printable ASCII characters"),
        (None, "m\r\nx: y", None, "webhook message id must be"),
        (None, "m", datetime(2024, 1, 1), "webhook time must be timezone-aware"),
    ],
)
def test_caller_mistakes_raise(
    secret: str | None, msg_id: str, at: datetime | None, message: str
) -> None:
    with pytest.raises(InvalidInput, match=f"^{message}"):
        deliver(
            "http://127.0.0.1:9/",
            new_secret() if secret is None else secret,
            msg_id,
            BODY,
            allow_private=True,
            at=at,
        )


# --------------------------------------------------------------------------- targets


def refused(origin: str, address: str, kind: str) -> str:
    return f"webhook target {origin} refused: {address} is {kind} address ({ALLOW})"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "webhook target: must be an http or https URL (not ftp)"),
        ("example.com/hook", "webhook target: must be an http or https URL (no scheme given)"),
        (
            f"http://user:pw@{PUBLIC}/",
            "webhook target: must not carry a user name or password (user:password@)",
        ),
        (
            f"https://token@{PUBLIC}/",
            "webhook target: must not carry a user name or password (user:password@)",
        ),
        (f"http://{PUBLIC}/#top", "webhook target: must not have a fragment (#...)"),
        ("http:///hook", "webhook target: a host is required"),
        (f"http://{PUBLIC}:0/", "webhook target: port 0 is not a port"),
        (
            f"http://{PUBLIC}:99999/",
            "webhook target: not a valid URL (Port out of range 0-65535)",
        ),
        ("http://[::1/", "webhook target: not a valid URL (Invalid IPv6 URL)"),
        (
            f"http://{PUBLIC}/a b",
            "webhook target: spaces and control characters are not allowed",
        ),
        (
            f"http://{PUBLIC}/\r\nx",
            "webhook target: spaces and control characters are not allowed",
        ),
        (f"http://{PUBLIC}/" + "a" * 2048, "webhook target: longer than 2048 characters"),
        ("", "webhook target: a URL is required"),
        (
            "http://nowhere.test/",
            "webhook target http://nowhere.test: cannot resolve nowhere.test "
            "(Name or service not known)",
        ),
        ("http://127.0.0.1/", refused("http://127.0.0.1", "127.0.0.1", "a loopback")),
        ("http://10.1.2.3/", refused("http://10.1.2.3", "10.1.2.3", "a private")),
        ("http://172.16.0.1/", refused("http://172.16.0.1", "172.16.0.1", "a private")),
        ("http://192.168.1.1/", refused("http://192.168.1.1", "192.168.1.1", "a private")),
        (
            "http://169.254.169.254/latest/meta-data",
            refused("http://169.254.169.254", "169.254.169.254", "a link-local"),
        ),
        ("http://0.0.0.0:8000/", refused("http://0.0.0.0:8000", "0.0.0.0", "an unspecified")),
        ("http://224.0.0.1/", refused("http://224.0.0.1", "224.0.0.1", "a multicast")),
        ("http://240.0.0.1/", refused("http://240.0.0.1", "240.0.0.1", "a reserved")),
        ("http://100.64.0.1/", refused("http://100.64.0.1", "100.64.0.1", "a non-public")),
        ("http://[::1]:8080/", refused("http://[::1]:8080", "::1", "a loopback")),
        ("http://[fe80::1]/", refused("http://[fe80::1]", "fe80::1", "a link-local")),
        ("http://[fc00::1]/", refused("http://[fc00::1]", "fc00::1", "a private")),
        (
            "http://[::ffff:127.0.0.1]/",
            refused("http://[::ffff:127.0.0.1]", "::ffff:127.0.0.1", "an IPv4-mapped loopback"),
        ),
        (
            "http://[::ffff:10.0.0.1]/",
            refused("http://[::ffff:10.0.0.1]", "::ffff:10.0.0.1", "an IPv4-mapped private"),
        ),
        (
            "http://[64:ff9b::7f00:1]/",
            refused("http://[64:ff9b::7f00:1]", "64:ff9b::7f00:1", "an IPv4-embedding loopback"),
        ),
        (
            "https://Hooks.Mixed.test/x?token=secret",
            refused("https://hooks.mixed.test", "10.0.0.7", "a private"),
        ),
    ],
)
def test_check_target_refusals(url: str, message: str, dns: dict[str, list[list[str]]]) -> None:
    dns["hooks.mixed.test"] = [[PUBLIC, "10.0.0.7"]]  # one private address is enough
    with pytest.raises(InvalidInput) as info:
        check_target(url, allow_private=False)
    assert str(info.value) == message
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080/hook",
        "http://10.1.2.3/",
        "http://192.168.1.1/",
        "http://169.254.1.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
    ],
)
def test_private_targets_pass_when_allowed(url: str) -> None:
    check_target(url, allow_private=True)
    with pytest.raises(InvalidInput, match=r"refused: .* address \(set events\.allow_private"):
        check_target(url, allow_private=False)


def test_public_targets_pass(dns: dict[str, list[list[str]]]) -> None:
    dns["hooks.example.test"] = [[PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]]
    check_target("https://hooks.example.test/services/T0/B0/secret", allow_private=False)
    check_target(f"http://{PUBLIC}:8443/x", allow_private=False)
    check_target("https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/", allow_private=False)
