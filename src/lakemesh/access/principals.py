"""Principals: users ``name@domain`` with a role, domains, and domain roles.

A user's API token is shown once and stored only as its SHA-256 (tokens are 256 random
bits, so a fast hash is enough); lookups compare in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from lakemesh.errors import AlreadyExists, InvalidInput, NotFound
from lakemesh.store import tables as t
from lakemesh.typedef import Frozen, check_principal, now

Role = Literal["admin", "steward", "member"]
ROLES: tuple[Role, ...] = ("admin", "steward", "member")
CENTRAL = "central"
MESH_ADMIN = "admin@central"
#: The central node itself, reading on its own behalf (classification samples, quality
#: metrics: SPEC 2.9). Not a user: no token, no session can be opened as it from outside,
#: and no user may take its name.
SYSTEM = "system@central"


@dataclass(frozen=True, slots=True)
class User:
    name: str
    domain: str
    role: Role

    @property
    def principals(self) -> tuple[str, str]:
        """The grantee names that stand for this user: itself and its domain role."""
        return (self.name, f"{self.domain}:{self.role}")


def new_token() -> str:
    return "lm_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_EMAIL = re.compile(r"[^@\s<>,;\"]{1,64}@[A-Za-z0-9.\-]{1,189}")


def check_email(address: str) -> str:
    """An e-mail address as mail headers may carry it (no spaces, brackets or line
    breaks: a header cannot be injected through it)."""
    address = address.strip()
    if not _EMAIL.fullmatch(address) or ".." in address:
        raise InvalidInput(f"invalid e-mail address {address!r}")
    return address


def create_user(
    conn: Connection, name: str, role: str, created_by: str, email: str | None = None
) -> tuple[User, str]:
    """Insert a user; returns it and its token (the only time the token exists in clear)."""
    check_principal(name)
    if email is not None:
        email = check_email(email)
    if name == SYSTEM:
        raise InvalidInput(f"{SYSTEM} is reserved for the central node's own reads")
    if role not in ROLES:
        raise InvalidInput(f"invalid role {role!r}: expected one of {', '.join(ROLES)}")
    domain = name.partition("@")[2]
    if (
        domain != CENTRAL
        and conn.execute(select(t.domains.c.id).where(t.domains.c.name == domain)).first() is None
    ):
        raise NotFound(f"unknown domain {domain!r}")
    token = new_token()
    try:
        conn.execute(
            insert(t.users).values(
                name=name,
                domain=domain,
                role=role,
                token_hash=token_hash(token),
                created_by=created_by,
                created_at=now(),
                email=email,
            )
        )
    except IntegrityError as exc:
        raise AlreadyExists(f"user {name!r} already exists") from exc
    return User(name, domain, role), token


def set_email(conn: Connection, name: str, email: str | None) -> None:
    done = conn.execute(
        update(t.users)
        .where(t.users.c.name == name)
        .values(email=check_email(email) if email else None)
    ).rowcount
    if done != 1:
        raise NotFound(f"unknown principal {name!r}")


def new_user_token(conn: Connection, name: str) -> str:
    """Replace ``name``'s token with a new one (shown once): the old token, and every web
    session signed in with it, stop working."""
    token = new_token()
    done = conn.execute(
        update(t.users).where(t.users.c.name == name).values(token_hash=token_hash(token))
    ).rowcount
    if done != 1:
        raise NotFound(f"unknown principal {name!r}")
    return token


def get_user(conn: Connection, name: str) -> User:
    check_principal(name)
    row = conn.execute(select(t.users).where(t.users.c.name == name)).first()
    if row is None:
        raise NotFound(f"unknown principal {name!r}")
    return User(row.name, row.domain, row.role)


def authenticate(conn: Connection, token: str) -> User | None:
    """The user a bearer token belongs to, or None (never says which part was wrong)."""
    return authenticate_digest(conn, token_hash(token))


def authenticate_digest(conn: Connection, digest: str) -> User | None:
    """The user whose token hashes to ``digest``: what a signed web session carries, so
    that a new token for the user ends the sessions opened with the old one."""
    row = conn.execute(
        select(t.users.c.name, t.users.c.domain, t.users.c.role, t.users.c.token_hash).where(
            t.users.c.token_hash == digest
        )
    ).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return User(row.name, row.domain, row.role)


class UserInfo(Frozen):
    """A user as listings show it: never its token or the token's hash."""

    name: str
    domain: str
    role: Role
    created_by: str
    created_at: str
    email: str | None = None


def list_users(conn: Connection, domain: str | None = None) -> list[UserInfo]:
    """Users (of one domain, or all), by name."""
    u = t.users.c
    q = select(u.name, u.domain, u.role, u.created_by, u.created_at, u.email).order_by(u.name)
    if domain:
        q = q.where(u.domain == domain)
    return [
        UserInfo(
            name=r.name,
            domain=r.domain,
            role=r.role,
            created_by=r.created_by,
            created_at=r.created_at.isoformat(),
            email=r.email,
        )
        for r in conn.execute(q)
    ]
