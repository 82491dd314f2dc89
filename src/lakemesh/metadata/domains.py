"""Domains: the mesh's nodes, each with a storage root, a domain catalog, owners and a kind."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from lakemesh.catalog import DomainCatalog, open_catalog, parse_catalog_spec
from lakemesh.errors import AlreadyExists, InvalidInput, NotFound
from lakemesh.storage import Storage, open_storage
from lakemesh.store import tables as t
from lakemesh.typedef import RESERVED_DOMAINS, Frozen, check_domain_name, check_principal, now

DomainKind = Literal["producer", "consumer", "both"]
KINDS: tuple[str, ...] = ("producer", "consumer", "both")


class Domain(Frozen):
    id: int
    name: str
    storage_uri: str
    storage_options: dict[str, str]
    catalog_kind: str
    catalog_uri: str | None
    kind: DomainKind
    owners: tuple[str, ...]
    created_at: datetime

    @property
    def catalog_spec(self) -> str:
        return (
            f"iceberg:{self.catalog_uri}" if self.catalog_kind == "iceberg" else self.catalog_kind
        )

    def storage(self) -> Storage:
        return open_storage(self.storage_uri, dict(self.storage_options))

    def catalog(self) -> DomainCatalog:
        return open_catalog(self.catalog_kind, self.catalog_uri, self.storage())

    def public(self) -> dict[str, Any]:
        """The domain as listings show it to every user: secrets a URI may carry (a
        catalog database's password, a token in its query) are replaced by ``***``."""
        return {
            "name": self.name,
            "storage": redact_uri(self.storage_uri),
            "catalog": redact_uri(self.catalog_spec),
            "kind": self.kind,
            "owners": list(self.owners),
            "storage_options": self.storage_options,
            "created_at": self.created_at.isoformat(),
        }


#: Query parameters of a URI whose values are secrets.
_SECRET_PARAMS = re.compile(r"pass|secret|token|key|credential|signature|auth", re.IGNORECASE)


def redact_uri(uri: str) -> str:
    """``uri`` with a password in its user info and secret-looking query values replaced
    by ``***`` (``iceberg:postgresql://u:pw@h/db`` -> ``iceberg:postgresql://u:***@h/db``)."""
    prefix, sep, rest = uri.partition(":")
    if sep and prefix == "iceberg":
        return f"iceberg:{redact_uri(rest)}"
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    netloc = parts.netloc
    if parts.password is not None:
        user = parts.username or ""
        host = netloc.rpartition("@")[2]
        netloc = f"{user}:***@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_PARAMS.search(k) for k, _ in pairs):
            query = "&".join(f"{k}={'***' if _SECRET_PARAMS.search(k) else v}" for k, v in pairs)
    if netloc == parts.netloc and query == parts.query:
        return uri
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def create_domain(
    conn: Connection,
    name: str,
    storage: str,
    *,
    catalog: str = "builtin",
    kind: str = "producer",
    owners: tuple[str, ...] = (),
    endpoint: str | None = None,
    region: str | None = None,
    create: bool = False,
) -> Domain:
    """Validate everything first. A local storage root must exist, unless ``create``
    asks for it (then it is made only once all checks pass): a typo in a path should not
    become an empty domain. Owners are existing users, or users of the new domain (who
    cannot exist yet; ``user create`` makes them)."""
    check_domain_name(name)
    if name in RESERVED_DOMAINS:
        raise InvalidInput(f"domain name {name!r} is reserved")
    if kind not in KINDS:
        raise InvalidInput(f"invalid domain kind {kind!r}: expected one of {', '.join(KINDS)}")
    for owner in owners:
        check_principal(owner)
        known = conn.execute(select(t.users.c.id).where(t.users.c.name == owner)).first()
        if known is None and owner.partition("@")[2] != name:
            raise NotFound(
                f"unknown owner {owner!r}: an owner is an existing user or a user of "
                f"domain {name} ('lakemesh user create' makes them)"
            )
    catalog_kind, catalog_uri = parse_catalog_spec(catalog)
    options = {k: v for k, v in (("endpoint", endpoint), ("region", region)) if v}
    if options and not storage.startswith("s3://"):
        raise InvalidInput("--endpoint and --region apply to s3:// storage only")
    store = open_storage(storage, options)
    if _exists(conn, name):
        raise AlreadyExists(f"domain {name!r} already exists")
    _check_no_overlap(conn, store.uri)
    if store.uri.startswith("/"):
        _local_root(store.uri, create)
    stamp = now()
    try:
        domain_id = conn.execute(
            insert(t.domains)
            .values(
                name=name,
                storage_uri=store.uri,
                storage_options=json.dumps(options),
                catalog_kind=catalog_kind,
                catalog_uri=catalog_uri,
                kind=kind,
                owners=json.dumps(list(owners)),
                created_at=stamp,
                updated_at=stamp,
            )
            .returning(t.domains.c.id)
        ).scalar_one()
    except IntegrityError as exc:  # a concurrent create won the race
        raise AlreadyExists(f"domain {name!r} already exists") from exc
    conn.execute(insert(t.sync_state).values(domain_id=domain_id, status="never"))
    return get_domain(conn, name)


def _local_root(path: str, create: bool) -> None:
    if os.path.isdir(path):
        return
    if os.path.exists(path):
        raise InvalidInput(f"storage root {path} is not a directory")
    if not create:
        raise InvalidInput(f"storage root {path} does not exist (--create makes it)")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create storage root {path}: {exc.strerror}") from exc


def get_domain(conn: Connection, name: str) -> Domain:
    row = conn.execute(select(t.domains).where(t.domains.c.name == name)).first()
    if row is None:
        raise NotFound(f"unknown domain {name!r}")
    return _domain(row)


def list_domains(conn: Connection) -> list[Domain]:
    return [_domain(r) for r in conn.execute(select(t.domains).order_by(t.domains.c.name))]


def _domain(row: Any) -> Domain:
    return Domain(
        id=row.id,
        name=row.name,
        storage_uri=row.storage_uri,
        storage_options=json.loads(row.storage_options),
        catalog_kind=row.catalog_kind,
        catalog_uri=row.catalog_uri,
        kind=row.kind,
        owners=tuple(json.loads(row.owners)),
        created_at=row.created_at,
    )


def _exists(conn: Connection, name: str) -> bool:
    return conn.execute(select(t.domains.c.id).where(t.domains.c.name == name)).first() is not None


def _check_no_overlap(conn: Connection, uri: str) -> None:
    """Two domains may not share or nest storage roots: each root is one domain's alone."""
    for other_name, other in conn.execute(select(t.domains.c.name, t.domains.c.storage_uri)):
        a, b = uri.rstrip("/") + "/", other.rstrip("/") + "/"
        if a.startswith(b) or b.startswith(a):
            raise InvalidInput(f"storage root {uri} overlaps the root of domain {other_name!r}")
