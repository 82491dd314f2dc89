"""A real SMTP server for the tests: aiosmtpd on a free loopback port, in its own thread,
keeping every message it receives (parsed with the modern ``email`` policy) with the
envelope it came in.

    with SmtpServer() as server:
        send(SmtpSettings(port=server.port), ["ann@example.com"], "hi", "text")
        (mail,) = server.wait_for(1)

The ``smtp_server`` fixture gives a test a running server and stops it afterwards; a
test module imports it as ``smtp_server_fixture`` (its function's name, so that the
test's parameter does not shadow the import). A
server built with ``logins`` offers AUTH (over plain text too, as a local relay may),
and one built with ``tls`` offers STARTTLS with that certificate.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.pgserver import free_port


@dataclass(frozen=True)
class Received:
    """One message as the server got it: the envelope's sender and recipients, the
    parsed message, and the user it logged in as (None: no AUTH)."""

    sender: str
    recipients: list[str]
    message: EmailMessage
    login: str | None
    tls: bool


class SmtpServer:
    def __init__(
        self,
        *,
        logins: dict[str, str] | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        """``logins``: user name to password, accepted over plain connections too;
        ``tls``: a certificate and key file for STARTTLS."""
        self.host = "127.0.0.1"
        self.port = free_port()
        self.received: list[Received] = []
        self._logins = logins
        self._tls = tls
        self._changed = threading.Condition()
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        options: dict[str, Any] = {}
        if self._logins is not None:
            options.update(authenticator=self._authenticate, auth_require_tls=False)
        if self._tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self._tls)
            options.update(tls_context=context)
        self._controller = Controller(
            _Collect(self),
            hostname=self.host,
            port=self.port,
            server_hostname="smtp.test",  # not the default getfqdn(), which may ask DNS
            ready_timeout=5,
            **options,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Received]:
        """The first ``n`` messages, waiting up to ``timeout`` seconds for them: a mail
        is acknowledged to the client before the test thread may see it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.received) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {n} messages within {timeout} s, got {len(self.received)}"
                    )
                self._changed.wait(left)
            return list(self.received[:n])

    def _add(self, received: Received) -> None:
        with self._changed:
            self.received.append(received)
            self._changed.notify_all()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert self._logins is not None
        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            if self._logins.get(user) == password:
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)


class _Collect:
    """aiosmtpd's handler: parse and keep each message."""

    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        # CRLF is SMTP's line ending, not the message's: parse with Python's newlines
        message = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self._server._add(
            Received(
                sender=str(envelope.mail_from),
                recipients=list(envelope.rcpt_tos),
                message=message,
                login=session.auth_data if session.authenticated else None,
                tls=session.ssl is not None,
            )
        )
        return "250 Message accepted for delivery"


@pytest.fixture(name="smtp_server")
def smtp_server_fixture() -> Iterator[SmtpServer]:
    """A running SMTP server on loopback, without AUTH or TLS; stopped after the test."""
    with SmtpServer() as server:
        yield server


def make_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for ``host`` (an IP address) and its key, as PEM files;
    trust it in a test with ``monkeypatch.setenv("SSL_CERT_FILE", str(cert))``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file
