"""E-mail by SMTP, with the standard library only: approval mails and notifications.

The settings say where the server is and where its password can be found (an
environment variable or a file), never the password itself: the settings file is
readable by whoever runs the mesh, and is shown by ``config`` commands. A password is
not sent over an unencrypted connection except to a relay on this machine.

Every header is built from checked parts: a CR or LF in an address, a subject or a
Message-ID is refused, so a value that reached a mail from a request (a table name, a
reason) cannot add headers or recipients. A failure to reach or use the server is
``BackendUnavailable`` (worth retrying); a mail that can never be sent as asked is
``InvalidInput``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lakemesh.errors import BackendUnavailable, InvalidInput, first_line
from lakemesh.typedef import now

if TYPE_CHECKING:  # smtplib, ssl and email load only when a mail is sent: every CLI
    import smtplib  # command reads the settings that name this module's SmtpSettings
    from email.message import EmailMessage

MAX_ADDRESS = 254
MAX_SUBJECT = 998
#: Characters an address may not hold: they would separate, quote or wrap addresses.
_NOT_IN_ADDRESS = frozenset(' \t,;:<>()[]"\\')


class SmtpSettings(BaseModel):
    """Where and how to reach the SMTP server (``mail`` in the mesh settings)."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(25, ge=1, le=65535)
    #: ``starttls``: upgrade a plain connection (port 587); ``tls``: TLS from the first
    #: byte (port 465); ``none``: plain text, for a relay on this machine.
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    #: The name of the environment variable holding the password.
    password_env: str | None = None
    #: The path of a file holding the password (surrounding whitespace is ignored).
    password_file: str | None = None
    sender: str = "lakemesh@localhost"
    timeout: float = Field(10.0, gt=0, le=300)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not value or len(value) > 253 or any(c.isspace() or not c.isprintable() for c in value):
            raise ValueError("must be a host name or address, without spaces")
        return value

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return check_address(value, "sender")

    @field_validator("username", "password_env", "password_file")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(not c.isprintable() for c in value)):
            raise ValueError("must be a non-empty single line")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> SmtpSettings:
        if self.password_env is not None and self.password_file is not None:
            raise ValueError("set password_env or password_file, not both")
        has_password = self.password_env is not None or self.password_file is not None
        if self.username is None and has_password:
            raise ValueError("a password is set but no username")
        if self.username is not None and not has_password:
            raise ValueError("a username is set but neither password_env nor password_file")
        return self

    def password(self) -> str | None:
        """The password, read now from where the settings point (None: no login)."""
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if not value:
                raise InvalidInput(
                    f"smtp password: the environment variable {self.password_env} is not set"
                    " or is empty"
                )
            return value
        if self.password_file is not None:
            path = Path(self.password_file).expanduser()
            try:
                value = path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as error:
                reason = getattr(error, "strerror", None) or first_line(error)
                raise InvalidInput(f"smtp password: cannot read {path}: {reason}") from None
            if not value:
                raise InvalidInput(f"smtp password: {path} is empty")
            return value
        return None


def send(
    settings: SmtpSettings,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    *,
    message_id: str | None = None,
) -> None:
    """Send one mail to ``to``: plain text, or text and HTML as alternatives.

    Pass a stable ``message_id`` (``<id@domain>``) for a mail that may be sent again
    after a failure: receivers can then recognise the retry as the same mail."""
    import smtplib
    import ssl

    recipients = _recipients(to)
    message = _message(settings, recipients, subject, text, html, message_id)
    if settings.username is not None and settings.security == "none" and not _local(settings.host):
        raise InvalidInput(
            f"smtp: refusing to send the password for {settings.username} to "
            f"{settings.host} without encryption (set security to starttls or tls)"
        )
    password = settings.password()
    where = f"{settings.host}:{settings.port}"
    try:
        with _connect(settings) as smtp:
            if settings.security == "starttls":
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    raise _Unusable("the server does not offer STARTTLS")
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if settings.username is not None and password is not None:
                smtp.login(settings.username, password)
            refused = smtp.send_message(message, settings.sender, recipients)
    except (OSError, smtplib.SMTPException, _Unusable) as error:
        raise BackendUnavailable(
            f"cannot send mail via {where}: {_reason(error, password)}"
        ) from None
    if refused:
        listed = ", ".join(f"{a} ({_reply(*reply)})" for a, reply in sorted(refused.items()))
        raise BackendUnavailable(f"cannot send mail via {where}: the server refused {listed}")


def check_address(address: str, what: str = "address") -> str:
    """A bare address ``local@domain``: one ``@``, no spaces, no line breaks, nothing that
    would quote, separate or wrap addresses in a header. Display names are not taken."""
    if not isinstance(address, str):
        raise InvalidInput(f"mail {what} must be a string")
    shown = ascii(address[:80])
    local, at, domain = address.partition("@")
    if (
        not at
        or not local
        or not domain
        or "@" in domain
        or len(address) > MAX_ADDRESS
        or any(c in _NOT_IN_ADDRESS or not c.isprintable() for c in address)
    ):
        raise InvalidInput(f"mail {what} {shown} is not an address of the form name@domain")
    return address


# --------------------------------------------------------------------------- building


def _recipients(to: Sequence[str]) -> list[str]:
    if isinstance(to, str) or not to:
        raise InvalidInput("mail recipients must be a non-empty list of addresses")
    return list(dict.fromkeys(check_address(a, "recipient") for a in to))


def _message(
    settings: SmtpSettings,
    recipients: list[str],
    subject: str,
    text: str,
    html: str | None,
    message_id: str | None,
) -> EmailMessage:
    if not isinstance(subject, str) or _breaks(subject) or len(subject) > MAX_SUBJECT:
        raise InvalidInput(f"mail subject must be one line of at most {MAX_SUBJECT} characters")
    from email.message import EmailMessage
    from email.utils import format_datetime, make_msgid

    domain = settings.sender.rpartition("@")[2]
    message = EmailMessage()
    message["Message-ID"] = _message_id(message_id) if message_id else make_msgid(domain=domain)
    message["Date"] = format_datetime(now())
    message["From"] = settings.sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def _message_id(value: str) -> str:
    """``<left@right>``, angle brackets added when missing."""
    inner = value[1:-1] if value.startswith("<") and value.endswith(">") else value
    left, at, right = inner.partition("@")
    if (
        not at
        or not left
        or not right
        or len(inner) > 250
        or any(not ("!" <= c <= "~") or c in "<>@" for c in left + right)
    ):
        raise InvalidInput(f"mail Message-ID {value[:80]!a} is not of the form <id@domain>")
    return f"<{inner}>"


def _breaks(text: str) -> bool:
    return any(c in text for c in "\r\n\x00")


# --------------------------------------------------------------------------- sending


class _Unusable(Exception):
    """The server answered but cannot do what the settings ask (no STARTTLS)."""


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    # The HELO name is this host's name as it knows it: smtplib's default asks DNS for
    # the fully qualified name, which may hang on a machine without a resolver.
    import smtplib
    import ssl

    helo = socket.gethostname() or "localhost"
    if settings.security == "tls":
        return smtplib.SMTP_SSL(
            settings.host,
            settings.port,
            local_hostname=helo,
            timeout=settings.timeout,
            context=ssl.create_default_context(),
        )
    return smtplib.SMTP(settings.host, settings.port, local_hostname=helo, timeout=settings.timeout)


def _local(host: str) -> bool:
    """A relay on this machine: a password sent to it never crosses a network."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reason(error: BaseException, password: str | None) -> str:
    import smtplib
    import ssl

    if isinstance(error, smtplib.SMTPResponseException):
        reason = _reply(error.smtp_code, error.smtp_error)
    elif isinstance(error, smtplib.SMTPRecipientsRefused):
        reason = "the server refused " + ", ".join(
            f"{a} ({_reply(*reply)})" for a, reply in sorted(error.recipients.items())
        )
    elif isinstance(error, TimeoutError):
        reason = "timed out"
    elif isinstance(error, OSError) and error.strerror and not isinstance(error, ssl.SSLError):
        reason = error.strerror
    else:
        reason = first_line(error)
    reason = " ".join(reason.split()) or type(error).__name__
    if password:
        reason = reason.replace(password, "***")
    return reason[:300]


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return " ".join(f"{code} {text}".split())
