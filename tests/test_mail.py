"""Mail by SMTP against a real server on loopback (aiosmtpd): what arrives, what is
refused before anything is sent, and how a server that is down or lacks what the
settings ask for is reported."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from pydantic import ValidationError

from lakemesh.errors import BackendUnavailable, InvalidInput
from lakemesh.events.mail import SmtpSettings, send
from tests.pgserver import free_port
from tests.smtp_server import (
    SmtpServer,
    make_certificate,
    smtp_server_fixture,  # noqa: F401  (the smtp_server fixture)
)

TO = ["ann@example.com"]


def settings_for(server: SmtpServer, **fields: object) -> SmtpSettings:
    return SmtpSettings.model_validate(
        {"host": server.host, "port": server.port, "sender": "mesh@lakemesh.test", **fields}
    )


def test_plain_mail_arrives_with_its_headers(smtp_server: SmtpServer) -> None:
    send(
        settings_for(smtp_server),
        ["ann@example.com", "bob@example.com", "ann@example.com"],
        "access request r-1: sales.db.orders",
        "Approve: http://127.0.0.1:8000/approve/abc\n",
        message_id="<evt-1.ann@lakemesh>",
    )
    (mail,) = smtp_server.wait_for(1)
    assert mail.sender == "mesh@lakemesh.test"
    assert mail.recipients == ["ann@example.com", "bob@example.com"]
    message = mail.message
    assert message["From"] == "mesh@lakemesh.test"
    assert message["To"] == "ann@example.com, bob@example.com"
    assert message["Subject"] == "access request r-1: sales.db.orders"
    assert message["Message-ID"] == "<evt-1.ann@lakemesh>"
    assert message["Date"].datetime.tzinfo is not None
    assert not message.is_multipart()
    assert message.get_content_type() == "text/plain"
    assert message.get_content() == "Approve: http://127.0.0.1:8000/approve/abc\n"
    assert mail.login is None


def test_html_mail_is_an_alternative_to_the_text(smtp_server: SmtpServer) -> None:
    send(
        settings_for(smtp_server),
        TO,
        "Grüße: a request",
        "plain words\n",
        "<p>rich <b>words</b></p>\n",
        message_id="evt-2.ann@lakemesh",
    )
    (mail,) = smtp_server.wait_for(1)
    message = mail.message
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "Grüße: a request"
    assert message["Message-ID"] == "<evt-2.ann@lakemesh>"  # brackets added
    parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    assert parts == {"text/plain": "plain words\n", "text/html": "<p>rich <b>words</b></p>\n"}


def test_a_message_id_is_made_when_none_is_given(smtp_server: SmtpServer) -> None:
    settings = settings_for(smtp_server)
    send(settings, TO, "one", "x")
    send(settings, TO, "two", "x")
    first, second = smtp_server.wait_for(2)
    ids = [first.message["Message-ID"], second.message["Message-ID"]]
    assert all(re.fullmatch(r"<[^<>@\s]+@lakemesh\.test>", i) for i in ids), ids
    assert ids[0] != ids[1]


@pytest.mark.parametrize(
    ("to", "subject", "message_id", "refused"),
    [
        (TO, "hello\r\nBcc: eve@evil.test", None, "mail subject must be one line"),
        (TO, "hello\nX-Injected: 1", None, "mail subject must be one line"),
        (["ann@example.com\r\nBcc: eve@evil.test"], "s", None, "mail recipient"),
        (["ann@example.com, eve@evil.test"], "s", None, "mail recipient"),
        (["Ann <ann@example.com>"], "s", None, "mail recipient"),
        (["ann"], "s", None, "mail recipient 'ann' is not an address"),
        (["ann@b@c"], "s", None, "mail recipient"),
        ("ann@example.com", "s", None, "mail recipients must be a non-empty list"),
        ([], "s", None, "mail recipients must be a non-empty list"),
        (TO, "s", "<x@y>\r\nBcc: eve@evil.test", "mail Message-ID"),
        (TO, "s", "no-at-sign", "mail Message-ID"),
    ],
)
def test_header_injection_is_refused_before_connecting(
    smtp_server: SmtpServer, to: list[str], subject: str, message_id: str | None, refused: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        send(settings_for(smtp_server), to, subject, "body", message_id=message_id)
    assert str(info.value).startswith(refused)
    assert "\n" not in str(info.value) and "\r" not in str(info.value)
    send(settings_for(smtp_server), TO, "after", "body")  # the server got only this one
    (mail,) = smtp_server.wait_for(1)
    assert mail.message["Subject"] == "after"


@pytest.mark.parametrize(
    "fields",
    [
        {"sender": "mesh@lakemesh.test\r\nBcc: eve@evil.test"},
        {"sender": "Mesh <mesh@lakemesh.test>"},
        {"host": "mail.test\r\nX: y"},
        {"username": "ann\nX: y", "password_env": "P"},
        {"port": 0},
        {"port": 65536},
        {"security": "ssl"},
        {"password": "inline secrets are not settings"},
        {"username": "ann"},
        {"password_env": "P"},
        {"username": "ann", "password_env": "P", "password_file": "/p"},
    ],
)
def test_settings_refuse_what_they_cannot_mean(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SmtpSettings.model_validate(fields)


def test_server_down_is_backend_unavailable_in_one_line() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(BackendUnavailable) as info:
        send(SmtpSettings(port=port, timeout=2), TO, "s", "body")
    assert str(info.value) == f"cannot send mail via 127.0.0.1:{port}: Connection refused"


def test_credentials_never_travel_in_plain_text_to_another_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LAKEMESH_TEST_SMTP_PASSWORD", "s3cret")
    settings = SmtpSettings(
        host="mail.example.com", username="mesh", password_env="LAKEMESH_TEST_SMTP_PASSWORD"
    )
    with pytest.raises(InvalidInput) as info:  # refused before any lookup or connection
        send(settings, TO, "s", "body")
    assert str(info.value) == (
        "smtp: refusing to send the password for mesh to mail.example.com without "
        "encryption (set security to starttls or tls)"
    )
    assert "s3cret" not in str(info.value)


def test_a_local_relay_may_take_a_login_in_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEMESH_TEST_SMTP_PASSWORD", "s3cret")
    with SmtpServer(logins={"mesh": "s3cret"}) as server:
        settings = settings_for(server, username="mesh", password_env="LAKEMESH_TEST_SMTP_PASSWORD")
        send(settings, TO, "logged in", "body")
        (mail,) = server.wait_for(1)
        assert mail.login == "mesh"
        monkeypatch.setenv("LAKEMESH_TEST_SMTP_PASSWORD", "wrong-password")
        with pytest.raises(BackendUnavailable) as info:
            send(settings, TO, "refused", "body")
    message = str(info.value)
    assert message.startswith(f"cannot send mail via 127.0.0.1:{server.port}: 535 ")
    assert "wrong-password" not in message and "\n" not in message
    assert len(server.received) == 1


def test_a_missing_password_variable_is_invalid_input(
    smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAKEMESH_TEST_SMTP_PASSWORD", raising=False)
    settings = settings_for(
        smtp_server, username="mesh", password_env="LAKEMESH_TEST_SMTP_PASSWORD"
    )
    with pytest.raises(InvalidInput) as info:
        send(settings, TO, "s", "body")
    assert str(info.value) == (
        "smtp password: the environment variable LAKEMESH_TEST_SMTP_PASSWORD is not set or is empty"
    )
    assert smtp_server.received == []


def test_a_password_file_is_read_and_stripped(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("  s3cret\n")
    settings = SmtpSettings(username="mesh", password_file=str(secret))
    assert settings.password() == "s3cret"
    secret.write_text("\n")
    with pytest.raises(InvalidInput, match=r"^smtp password: .*smtp-password is empty$"):
        settings.password()
    missing = SmtpSettings(username="mesh", password_file=str(tmp_path / "absent"))
    with pytest.raises(
        InvalidInput, match=r"^smtp password: cannot read .*absent: No such file or directory$"
    ):
        missing.password()
    assert SmtpSettings().password() is None


def test_starttls_against_a_server_without_it_is_backend_unavailable(
    smtp_server: SmtpServer,
) -> None:
    with pytest.raises(BackendUnavailable) as info:
        send(settings_for(smtp_server, security="starttls"), TO, "s", "body")
    assert str(info.value) == (
        f"cannot send mail via 127.0.0.1:{smtp_server.port}: the server does not offer STARTTLS"
    )
    assert smtp_server.received == []


def test_starttls_encrypts_before_the_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = make_certificate(tmp_path)
    monkeypatch.setenv("LAKEMESH_TEST_SMTP_PASSWORD", "s3cret")
    with SmtpServer(logins={"mesh": "s3cret"}, tls=(cert, key)) as server:
        settings = settings_for(
            server,
            security="starttls",
            username="mesh",
            password_env="LAKEMESH_TEST_SMTP_PASSWORD",
        )
        # the certificate is not trusted yet: nothing is sent, and not the password
        with pytest.raises(BackendUnavailable, match="certificate verify failed"):
            send(settings, TO, "untrusted", "body")
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        send(settings, TO, "trusted", "body")
        (mail,) = server.wait_for(1)
    assert mail.tls and mail.login == "mesh"
    assert mail.message["Subject"] == "trusted"


def test_implicit_tls_to_a_plain_server_is_backend_unavailable(smtp_server: SmtpServer) -> None:
    with pytest.raises(BackendUnavailable) as info:
        send(settings_for(smtp_server, security="tls", timeout=3), TO, "s", "body")
    assert str(info.value).startswith(f"cannot send mail via 127.0.0.1:{smtp_server.port}: ")
    assert "\n" not in str(info.value)


def test_no_dns_is_needed_to_send(smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sending to a relay given by address asks no resolver: the HELO name and the
    Message-ID's domain come from this host's name and the sender."""

    def no_lookups(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a DNS lookup was made: {args}")

    monkeypatch.setattr(socket, "getfqdn", no_lookups)
    monkeypatch.setattr(socket, "gethostbyaddr", no_lookups)
    send(settings_for(smtp_server), TO, "s", "body")
    smtp_server.wait_for(1)
