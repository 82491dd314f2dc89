"""Access requests as tickets, approval rules, approval links; the event bus's targets,
deliveries and inboxes; users' e-mail addresses.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


#: Unrouted events, found by an ordered scan of this partial index. The index on
#: (delivered_at, id) it replaces was read as a bitmap scan on PostgreSQL: every unrouted
#: and every not-yet-vacuumed routed row per batch, so routing slowed as the backlog grew.
UNROUTED = sa.text("delivered_at IS NULL")


def upgrade() -> None:
    op.drop_index("ix_outbox_undelivered", table_name="outbox")
    op.create_index(
        "ix_outbox_unrouted",
        "outbox",
        ["id"],
        postgresql_where=UNROUTED,
        sqlite_where=UNROUTED,
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email", sa.String(254)))
    op.create_table(
        "access_requests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("resource", sa.String(450), nullable=False),
        sa.Column("domain", sa.String(63), nullable=False),
        sa.Column("requester", sa.String(200), nullable=False),
        sa.Column("requester_domain", sa.String(63), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("columns", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("duration", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("rule", sa.String(64)),
        sa.Column("route", sa.Text),
        sa.Column("approvals", sa.Text, nullable=False),
        sa.Column("exclude_columns", sa.Text),
        sa.Column("row_filter", sa.Text),
        sa.Column("grant_ids", sa.Text, nullable=False),
        sa.Column("expires_at", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_at", TS),
    )
    op.create_index("ix_access_requests_status", "access_requests", ["status", "expires_at"])
    op.create_index("ix_access_requests_requester", "access_requests", ["requester"])
    op.create_index("ix_access_requests_domain", "access_requests", ["domain", "status"])
    op.create_index("ix_access_requests_resource", "access_requests", ["resource", "status"])
    op.create_table(
        "request_history",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column(
            "request_id",
            sa.String(32),
            sa.ForeignKey("access_requests.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("details", sa.Text, nullable=False),
    )
    op.create_index("ix_request_history_request", "request_history", ["request_id", "id"])
    op.create_table(
        "approval_links",
        sa.Column("nonce_hash", sa.String(64), primary_key=True),
        sa.Column(
            "request_id",
            sa.String(32),
            sa.ForeignKey("access_requests.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("approver", sa.String(200), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS),
    )
    op.create_table(
        "approval_rules",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("loaded_at", TS, nullable=False),
    )
    op.create_table(
        "event_targets",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("pattern", sa.Text, nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("secret", sa.Text),
        sa.Column("address", sa.String(254)),
        sa.Column("resource", sa.String(450)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("removed_at", TS),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("outbox_id", ID, nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", TS, nullable=False),
        sa.Column("first_at", TS, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_at", TS),
        sa.UniqueConstraint("outbox_id", "target", name="uq_deliveries_event_target"),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["state", "next_at"])
    op.create_table(
        "inbox",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("subject", sa.Text),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("owner", "event_id", name="uq_inbox_owner_event"),
    )
    op.create_index("ix_inbox_owner", "inbox", ["owner", "id"])


def downgrade() -> None:
    for name in (
        "inbox",
        "deliveries",
        "event_targets",
        "approval_rules",
        "approval_links",
        "request_history",
        "access_requests",
    ):
        op.drop_table(name)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email")
    op.drop_index("ix_outbox_unrouted", table_name="outbox")
    op.create_index("ix_outbox_undelivered", "outbox", ["delivered_at", "id"])
