"""Central catalog, sync state, outbox, alerts and search index.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("id", ID, primary_key=True, autoincrement=True)


def _fk(name: str, target: str, **kw: Any) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, ID, sa.ForeignKey(target, ondelete="CASCADE"), **kw)


def upgrade() -> None:
    op.create_table(
        "domains",
        _id(),
        sa.Column("name", sa.String(63), nullable=False, unique=True),
        sa.Column("storage_uri", sa.Text, nullable=False),
        sa.Column("storage_options", sa.Text, nullable=False, server_default="{}"),
        sa.Column("catalog_kind", sa.String(16), nullable=False),
        sa.Column("catalog_uri", sa.Text),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("owners", sa.Text, nullable=False, server_default="[]"),
        sa.Column("description", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "sync_state",
        _fk("domain_id", "domains.id", primary_key=True),
        sa.Column("cursor", sa.Text),
        sa.Column("status", sa.String(16), nullable=False, server_default="never"),
        sa.Column("last_attempt_at", TS),
        sa.Column("last_success_at", TS),
        sa.Column("last_full_at", TS),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_at", TS),
        sa.Column("drift", sa.Text),
    )
    op.create_table(
        "databases",
        _id(),
        _fk("domain_id", "domains.id", nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("domain_id", "name", name="uq_databases_domain_name"),
    )
    op.create_table(
        "catalog_tables",
        _id(),
        _fk("domain_id", "domains.id", nullable=False),
        _fk("database_id", "databases.id", nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("full_name", sa.String(320), nullable=False, unique=True),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("owner", sa.String(200)),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("schema_fingerprint", sa.String(64), nullable=False),
        sa.Column("partition_keys", sa.Text, nullable=False, server_default="[]"),
        sa.Column("properties", sa.Text, nullable=False, server_default="{}"),
        sa.Column("source_version", sa.Text, nullable=False),
        sa.Column("file_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("size_bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("row_count", sa.BigInteger),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_catalog_tables_domain", "catalog_tables", ["domain_id"])
    op.create_table(
        "columns",
        _fk("table_id", "catalog_tables.id", primary_key=True),
        sa.Column("ordinal", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("nullable", sa.Boolean, nullable=False),
        sa.Column("is_partition", sa.Boolean, nullable=False),
        sa.Column("description", sa.Text),
    )
    op.create_table(
        "partitions",
        _id(),
        _fk("table_id", "catalog_tables.id", nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("values", sa.Text, nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("file_count", sa.BigInteger, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("row_count", sa.BigInteger),
        sa.Column("modified_at", sa.BigInteger),
        sa.UniqueConstraint("table_id", "key", name="uq_partitions_table_key"),
    )
    op.create_table(
        "schema_versions",
        _id(),
        _fk("table_id", "catalog_tables.id", nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("schema", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("changes", sa.Text, nullable=False, server_default="[]"),
        sa.Column("breaking", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("table_id", "version", name="uq_schema_versions_table_version"),
    )
    op.create_table(
        "outbox",
        _id(),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("domain", sa.String(63)),
        sa.Column("subject", sa.Text),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_outbox_undelivered", "outbox", ["delivered_at", "id"])
    op.create_table(
        "alerts",
        _id(),
        _fk("domain_id", "domains.id"),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("resolved_at", TS),
    )
    op.create_table(
        "sync_runs",
        _id(),
        _fk("domain_id", "domains.id", nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("summary", sa.Text, nullable=False, server_default="{}"),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_sync_runs_domain", "sync_runs", ["domain_id", "id"])
    # Full-text search: one document per table (names, descriptions, columns).
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE search_fts USING fts5(body, tokenize='unicode61')")
    else:
        op.create_table(
            "search_docs",
            _fk("table_id", "catalog_tables.id", primary_key=True),
            sa.Column("body", sa.Text, nullable=False),
        )
        op.execute(
            "ALTER TABLE search_docs ADD COLUMN tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED"
        )
        op.execute("CREATE INDEX ix_search_docs_tsv ON search_docs USING gin (tsv)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE search_fts")
    else:
        op.drop_table("search_docs")
    for name in (
        "sync_runs",
        "alerts",
        "outbox",
        "schema_versions",
        "partitions",
        "columns",
        "catalog_tables",
        "databases",
        "sync_state",
        "domains",
    ):
        op.drop_table(name)
