"""Classification recommendations, data products' contracts and quality, lineage and the
business glossary.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _table_fk() -> sa.Column[int]:
    return sa.Column(
        "table_id", ID, sa.ForeignKey("catalog_tables.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    with op.batch_alter_table("catalog_tables") as batch:
        batch.add_column(sa.Column("classified_version", sa.Text))
        batch.add_column(sa.Column("classified_at", TS))
    op.create_table(
        "classifications",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        _table_fk(),
        sa.Column("column", sa.String(128), nullable=False),
        sa.Column("recogniser", sa.String(64), nullable=False),
        sa.Column("tag_key", sa.String(128), nullable=False),
        sa.Column("tag_value", sa.String(256), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("sampled", sa.Integer, nullable=False),
        sa.Column("matched", sa.Integer, nullable=False),
        sa.Column("column_type", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_at", TS),
        sa.Column("comment", sa.Text),
    )
    op.create_index("ix_classifications_column", "classifications", ["table_id", "column"])
    op.create_index("ix_classifications_status", "classifications", ["status", "table_id"])
    with op.batch_alter_table("data_products") as batch:
        batch.add_column(sa.Column("classification", sa.String(64)))
        batch.add_column(sa.Column("sensitivity", sa.String(64)))
        batch.add_column(sa.Column("contract_version", sa.Integer))
        batch.add_column(sa.Column("updated_at", TS))
        batch.add_column(sa.Column("checked_version", sa.Text))
    op.create_table(
        "product_contracts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        _table_fk(),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("contract_id", sa.String(200), nullable=False),
        sa.Column("contract_version", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("registered_by", sa.String(200), nullable=False),
        sa.Column("registered_at", TS, nullable=False),
        sa.UniqueConstraint("table_id", "version", name="uq_product_contracts_table_version"),
    )
    op.create_table(
        "quality_metrics",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        _table_fk(),
        sa.Column("run", sa.String(32), nullable=False),
        sa.Column("measured_at", TS, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("column", sa.String(128)),
        sa.Column("rule", sa.String(200)),
        sa.Column("value", sa.Float),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("passed", sa.Boolean),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_quality_metrics_table", "quality_metrics", ["table_id", "measured_at"])
    op.create_table(
        "lineage_runs",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("event_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(16), nullable=False),
        sa.Column("event_time", TS, nullable=False),
        sa.Column("job", sa.Text, nullable=False),
        sa.Column("producer", sa.Text, nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("outputs", sa.Text, nullable=False),
        sa.Column("ingested_by", sa.String(200), nullable=False),
        sa.Column("ingested_at", TS, nullable=False),
    )
    op.create_table(
        "lineage_edges",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("edge_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("source_hash", sa.String(64), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("target_hash", sa.String(64), nullable=False),
        sa.Column("job", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
    )
    op.create_index("ix_lineage_edges_source", "lineage_edges", ["source_hash"])
    op.create_index("ix_lineage_edges_target", "lineage_edges", ["target_hash"])
    op.create_table(
        "glossary_terms",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_key", sa.String(200), nullable=False, unique=True),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "glossary_links",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column(
            "term_id", ID, sa.ForeignKey("glossary_terms.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("resource_kind", sa.String(16), nullable=False),
        sa.Column("resource", sa.String(450), nullable=False),
        sa.Column("linked_by", sa.String(200), nullable=False),
        sa.Column("linked_at", TS, nullable=False),
        sa.UniqueConstraint("term_id", "resource", name="uq_glossary_links_term_resource"),
    )
    op.create_index("ix_glossary_links_resource", "glossary_links", ["resource"])


def downgrade() -> None:
    for name in (
        "glossary_links",
        "glossary_terms",
        "lineage_edges",
        "lineage_runs",
        "quality_metrics",
        "product_contracts",
        "classifications",
    ):
        op.drop_table(name)
    with op.batch_alter_table("data_products") as batch:
        for column in (
            "checked_version",
            "updated_at",
            "contract_version",
            "sensitivity",
            "classification",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("catalog_tables") as batch:
        batch.drop_column("classified_at")
        batch.drop_column("classified_version")
