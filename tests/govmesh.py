"""A small governed mesh for the authorization tests: three domains, users in each role,
tags defined, and a few synced tables. Built once per store backend, then copied per test
(a copy of the mesh home, and on PostgreSQL a ``CREATE DATABASE ... TEMPLATE`` of its
database, is much cheaper than a new mesh)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from lakemesh.access.grants import GrantRequest, parse_actions
from lakemesh.home import load_settings, write_settings
from lakemesh.mesh import Mesh
from tests.files import write_parquet
from tests.pgserver import PostgresServer

#: The metadata stores the governance suites run on.
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
#: ``pytestmark = ON_BOTH_STORES`` runs a module's ``gov`` tests once per backend.
ON_BOTH_STORES = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

USERS = {
    "steward@cb": "steward",
    "admin@cb": "admin",
    "member@cb": "member",
    "admin@analytics": "admin",
    "analyst@analytics": "member",
    "other@analytics": "member",
    "steward@ib": "steward",
}


def build(base: Path, db_url: str | None = None) -> Path:
    """Create the template mesh under ``base`` (its store at ``db_url``, else the embedded
    SQLite file); returns its home."""
    cb, ib = base / "cb", base / "ib"
    for day in ("2024-01-01", "2024-01-02"):
        write_parquet(
            cb / "sales" / "orders" / f"dt={day}" / "p.parquet",
            {"id": [1, 2], "region": ["eu", "us"], "amount": [5.0, 50.0], "email": ["a@x", "b@x"]},
        )
    write_parquet(
        cb / "sales" / "customers" / "c.parquet",
        {"customer_id": [1], "name": ["a"], "email": ["a@x"]},
    )
    write_parquet(
        ib / "wealth" / "holdings" / "h.parquet",
        {"customer_id": [1], "asset_class": ["bonds"], "value": [1.0]},
    )
    home = base / "home"
    mesh = Mesh.init(home, db_url)
    mesh.domains.create("cb", str(cb), create=True)
    mesh.domains.create("ib", str(ib), create=True)
    mesh.domains.create("analytics", str(base / "analytics"), kind="consumer", create=True)
    mesh.domains.crawl("cb")
    mesh.domains.crawl("ib")
    mesh.domains.sync()
    for name, role in USERS.items():
        mesh.access.create_user(name, role)
    mesh.access.define_tag("pii", ["true", "false"])
    mesh.access.define_tag("tier", ["gold", "silver"])
    mesh.close()
    return home


@dataclass(frozen=True)
class Template:
    """A built mesh to copy per test: its home and, on PostgreSQL, its frozen database."""

    home: Path
    server: PostgresServer | None = None
    database: str | None = None

    @classmethod
    def build(cls, base: Path, server: PostgresServer | None = None) -> Template:
        if server is None:
            return cls(build(base))
        database = server.create_database()
        home = build(base, server.url(database))
        server.freeze(database)
        return cls(home, server, database)

    @contextmanager
    def copy(self, target: Path) -> Iterator[Mesh]:
        """A private mesh at ``target``, closed (and its database dropped) afterwards."""
        shutil.copytree(self.home, target)
        if self.server is None:
            with Mesh.open(target) as mesh:
                yield mesh
            return
        with self.server.database(template=self.database) as url:
            settings = load_settings(target)
            write_settings(target, settings.model_copy(update={"db_url": url}))
            with Mesh.open(target) as mesh:
                yield mesh


def request(step: dict[str, object]) -> GrantRequest:
    on = step.get("on")
    table = database = None
    if isinstance(on, str):
        table, database = (on, None) if on.count(".") == 2 else (None, on)

    def split(key: str) -> list[str] | None:
        v = step.get(key)
        return None if v is None else [c.strip() for c in str(v).split(",")]

    return GrantRequest(
        actions=parse_actions(str(step["grant"])),
        principal=str(step["to"]),
        table=table,
        database=database,
        tags=step.get("tags"),  # type: ignore[arg-type]
        columns=split("columns"),
        exclude_columns=split("exclude_columns"),
        row_filter=step.get("row_filter"),  # type: ignore[arg-type]
        grantable=bool(step.get("grantable")),
        expires=step.get("expires"),  # type: ignore[arg-type]
    )


def register_product(mesh: Mesh, table: str, owner: str = "steward@cb") -> None:
    """Register ``table`` as a data product owned by ``owner`` (as the mesh admin)."""
    mesh.products.register(table, owner=owner)
