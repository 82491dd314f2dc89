"""Approval links: the approve and reject links of an approval e-mail.

A link is a capability, so it is made as narrow as one: signed (HMAC-SHA256 with a key
kept in the mesh home's ``keys/``, never in the database), bound to one request, the
request's version when the mail was written, one approver and one decision, short-lived,
and single-use (its nonce's hash is stored when it is issued and compared-and-set when it
is followed, in the same transaction as the decision it records, so a decision that fails
leaves the link unused and a replay finds it used).

The token travels in the link's path (``<base>/links/<token>``). Mail scanners fetch
links, so the page behind a link asks for a confirmation before it decides (the HTTP
API's part); ``lakemesh request approve --link URL`` is that confirmation from a shell.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import Connection, insert, select, update

from lakemesh.errors import Conflict, InvalidInput, PermissionDenied
from lakemesh.store import tables as t
from lakemesh.typedef import now

PREFIX = "lmr1"
DECISIONS = ("approve", "approve-exclude", "reject")
MAX_TOKEN = 4096


@dataclass(frozen=True)
class Link:
    request_id: str
    version: int
    approver: str
    decision: str
    exclude_columns: tuple[str, ...]
    expires_at: datetime
    nonce: str

    @property
    def approves(self) -> bool:
        return self.decision != "reject"


def issue(
    conn: Connection,
    key: bytes,
    *,
    request_id: str,
    version: int,
    approver: str,
    decision: str,
    exclude_columns: tuple[str, ...] = (),
    ttl: timedelta,
) -> str:
    """A new token (recorded as issued, unused)."""
    if decision not in DECISIONS:
        raise InvalidInput(f"invalid link decision {decision!r}")
    stamp = now()
    expires = stamp + ttl
    nonce = secrets.token_hex(16)
    payload = {
        "r": request_id,
        "v": version,
        "a": approver,
        "d": decision,
        "x": list(exclude_columns),
        "e": int(expires.timestamp()),
        "n": nonce,
    }
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    conn.execute(
        insert(t.approval_links).values(
            nonce_hash=_digest(nonce),
            request_id=request_id,
            approver=approver,
            decision=decision,
            version=version,
            issued_at=stamp,
            expires_at=expires,
        )
    )
    return f"{PREFIX}.{body}.{_b64(_mac(key, body))}"


def url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/links/{token}"


def token_of(link: str) -> str:
    """The token in a link as pasted: the URL (``.../links/TOKEN`` or ``?token=TOKEN``)
    or the bare token."""
    link = link.strip()
    if len(link) > MAX_TOKEN + 2048:
        raise InvalidInput("invalid approval link: too long")
    if link.startswith(PREFIX + "."):
        return link
    parts = urlsplit(link)
    query = parse_qs(parts.query).get("token")
    if query:
        return query[0]
    last = parts.path.rstrip("/").rpartition("/")[2]
    if last.startswith(PREFIX + "."):
        return last
    raise InvalidInput("invalid approval link: it carries no lakemesh approval token")


def read(key: bytes, token: str) -> Link:
    """The link a token stands for, if its signature holds and it has not expired.

    Every way a token can be wrong (forged, truncated, altered, another mesh's) gives the
    same refusal: which check failed would help a forger and nobody else."""
    invalid = PermissionDenied("invalid approval link")
    if len(token) > MAX_TOKEN:
        raise invalid
    prefix, _, rest = token.partition(".")
    body, _, mac = rest.partition(".")
    if prefix != PREFIX or not body or not mac:
        raise invalid
    try:
        given = _unb64(mac)
        if not hmac.compare_digest(given, _mac(key, body)):
            raise invalid
        p = json.loads(_unb64(body))
        link = Link(
            request_id=str(p["r"]),
            version=int(p["v"]),
            approver=str(p["a"]),
            decision=str(p["d"]),
            exclude_columns=tuple(str(c) for c in p["x"]),
            expires_at=datetime.fromtimestamp(int(p["e"]), tz=now().tzinfo),
            nonce=str(p["n"]),
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise invalid from exc
    if link.decision not in DECISIONS:
        raise invalid
    if link.expires_at <= now():
        raise PermissionDenied("this approval link has expired: decide with 'lakemesh request'")
    return link


def consume(conn: Connection, link: Link) -> None:
    """Mark the link used, once (compare-and-set on ``used_at``), in the caller's
    transaction: the decision it records commits or rolls back with it."""
    a = t.approval_links
    digest = _digest(link.nonce)
    row = conn.execute(select(a).where(a.c.nonce_hash == digest)).first()
    if row is None or row.request_id != link.request_id or row.approver != link.approver:
        raise PermissionDenied("invalid approval link")
    done = conn.execute(
        update(a).where(a.c.nonce_hash == digest, a.c.used_at.is_(None)).values(used_at=now())
    )
    if done.rowcount != 1:
        raise Conflict("this approval link was already used")


def _mac(key: bytes, body: str) -> bytes:
    return hmac.new(key, f"{PREFIX}.{body}".encode(), hashlib.sha256).digest()


def _digest(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
