"""Shared vocabulary: validated names, identifiers and the frozen base model."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from lakemesh.errors import InvalidInput

#: Domain names (SPEC section 1).
DOMAIN_NAME = re.compile(r"[a-z][a-z0-9_]{1,62}")
#: Database, table and column names in the central catalog: lower case identifiers.
OBJECT_NAME = re.compile(r"[a-z_][a-z0-9_]{0,127}")
#: Names the mesh itself uses; no domain may take them.
RESERVED_DOMAINS = frozenset({"central", "system", "information_schema", "status"})


def now() -> datetime:
    """Server time, always timezone-aware UTC."""
    return datetime.now(UTC)


def parse_instant(text: str, what: str = "time") -> datetime:
    """An ISO-8601 date or timestamp as typed on a command line or in a form: ``Z`` or an
    offset as given, no zone taken as UTC (as ``grant --expires`` does), a bare date as
    its midnight UTC."""
    text = text.strip()
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"invalid {what} {text!r}: expected ISO-8601, e.g. 2025-01-31 or 2025-01-31T12:00Z"
        ) from None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def check_domain_name(name: str) -> str:
    if not DOMAIN_NAME.fullmatch(name):
        raise InvalidInput(f"invalid domain name {name!r}: expected [a-z][a-z0-9_]{{1,62}}")
    return name


def check_object_name(name: str, what: str = "name") -> str:
    if not OBJECT_NAME.fullmatch(name):
        raise InvalidInput(f"invalid {what} {name!r}: expected lower case [a-z_][a-z0-9_]*")
    return name


def is_object_name(name: str) -> bool:
    return OBJECT_NAME.fullmatch(name) is not None


def check_principal(name: str) -> str:
    """A user principal ``name@domain``; the local part follows the object-name rule."""
    user, sep, domain = name.partition("@")
    if not sep or not OBJECT_NAME.fullmatch(user) or not DOMAIN_NAME.fullmatch(domain):
        raise InvalidInput(f"invalid principal {name!r}: expected name@domain")
    return name


class TableName(tuple[str, str, str]):
    """``domain.database.table``: the central catalog's identifier for a table."""

    __slots__ = ()

    def __new__(cls, domain: str, database: str, table: str) -> TableName:
        check_domain_name(domain)
        check_object_name(database, "database name")
        check_object_name(table, "table name")
        return super().__new__(cls, (domain, database, table))

    @classmethod
    def parse(cls, text: str) -> TableName:
        parts = text.strip().lower().split(".")
        if len(parts) != 3:
            raise InvalidInput(f"invalid table name {text!r}: expected domain.database.table")
        return cls(*parts)

    @property
    def domain(self) -> str:
        return self[0]

    @property
    def database(self) -> str:
        return self[1]

    @property
    def table(self) -> str:
        return self[2]

    def __str__(self) -> str:
        return ".".join(self)


class Frozen(BaseModel):
    """Base for value objects: immutable, strict about unknown fields. Validators are
    built on first use (``defer_build``), not when a module is imported: a command pays
    only for the models it touches."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
