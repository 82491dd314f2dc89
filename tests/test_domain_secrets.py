"""A domain's catalog URI may carry a password (an Iceberg SQL catalog on PostgreSQL):
listings, events and audit records show it as ``***``; only the mesh keeps it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakemesh.mesh import Mesh
from lakemesh.metadata.domains import redact_uri
from tests.pgserver import PostgresServer


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        (
            "iceberg:postgresql+psycopg://u:pw@h:5432/db",
            "iceberg:postgresql+psycopg://u:***@h:5432/db",
        ),
        (
            "iceberg:http://rest/c?token=abc&warehouse=w",
            "iceberg:http://rest/c?token=***&warehouse=w",
        ),
        ("iceberg:http://rest/c?warehouse=w", "iceberg:http://rest/c?warehouse=w"),
        ("iceberg:sqlite:////tmp/x.db", "iceberg:sqlite:////tmp/x.db"),
        ("iceberg:postgresql://u@h/db", "iceberg:postgresql://u@h/db"),
        ("s3://bucket/prefix", "s3://bucket/prefix"),
        ("/data/cb", "/data/cb"),
        ("builtin", "builtin"),
    ],
)
def test_redact_uri(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown


@pytest.mark.postgres
def test_a_catalog_password_is_never_shown(postgres: PostgresServer, tmp_path: Path) -> None:
    mesh = Mesh.init(tmp_path / "home")
    try:
        with postgres.database() as url:
            secret_url = url.replace(
                "postgresql://lakemesh@", "postgresql+psycopg://lakemesh:s3cr3t@"
            )
            root = tmp_path / "ice"
            mesh.domains.create("ice", str(root), catalog=f"iceberg:{secret_url}", create=True)
            mesh.domains.create("an", str(tmp_path / "an"), kind="consumer", create=True)
            mesh.access.create_user("bob@an")
            (shown,) = [d.public() for d in mesh.domains.all(as_="bob@an") if d.name == "ice"]
            assert "s3cr3t" not in json.dumps(shown) and ":***@" in shown["catalog"]
            records = json.dumps([r.model_dump(mode="json") for r in mesh.audit.records()])
            assert "domain.create" in records and "s3cr3t" not in records
            assert "s3cr3t" not in json.dumps(mesh.events.recent(limit=100), default=str)
            assert mesh.domains.get("ice").catalog_uri == secret_url  # kept whole
    finally:
        mesh.close()
