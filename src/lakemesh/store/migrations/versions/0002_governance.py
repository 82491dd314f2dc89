"""Identities, tags, grants, masks, data products, policy log and the audit chain.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("domain", sa.String(63), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(128), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_users_domain", "users", ["domain"])
    op.create_index("ix_users_token", "users", ["token_hash"])
    op.create_table(
        "tags",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("allowed", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "tag_assignments",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("resource_kind", sa.String(16), nullable=False),
        sa.Column("resource", sa.String(450), nullable=False),
        sa.Column("key", sa.String(128), sa.ForeignKey("tags.key"), nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
        sa.Column("assigned_by", sa.String(200), nullable=False),
        sa.Column("assigned_at", TS, nullable=False),
        sa.UniqueConstraint("resource", "key", name="uq_tag_assignments_resource_key"),
    )
    op.create_table(
        "grants",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("actions", sa.Text, nullable=False),
        sa.Column("resource_kind", sa.String(16), nullable=False),
        sa.Column("resource", sa.Text, nullable=False),
        sa.Column("scope_domain", sa.String(63)),
        sa.Column("columns", sa.Text),
        sa.Column("exclude_columns", sa.Text),
        sa.Column("row_filter", sa.Text),
        sa.Column("grantable", sa.Boolean, nullable=False),
        sa.Column("expires_at", TS),
        sa.Column("parent_id", sa.String(32)),
        sa.Column("granted_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
        sa.Column("revoked_by", sa.String(200)),
    )
    op.create_index("ix_grants_principal", "grants", ["principal"])
    op.create_index("ix_grants_parent", "grants", ["parent_id"])
    op.create_table(
        "masks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(450), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("expression", sa.Text),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("removed_at", TS),
    )
    op.create_table(
        "data_products",
        sa.Column(
            "table_id",
            ID,
            sa.ForeignKey("catalog_tables.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("registered_by", sa.String(200), nullable=False),
        sa.Column("registered_at", TS, nullable=False),
    )
    op.create_table(
        "policy_log",
        sa.Column("version", ID, primary_key=True, autoincrement=True),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(450), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource", sa.Text),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_principal", "audit_log", ["principal", "seq"])
    op.create_index("ix_audit_ts", "audit_log", ["ts"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '" + "0" * 64 + "')")


def downgrade() -> None:
    for name in (
        "audit_head",
        "audit_log",
        "policy_log",
        "data_products",
        "masks",
        "grants",
        "tag_assignments",
        "tags",
        "users",
    ):
        op.drop_table(name)
