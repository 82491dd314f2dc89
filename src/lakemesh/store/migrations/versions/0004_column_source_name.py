"""Columns remember the name their files spell when it is not a valid column name
(``Entry ID`` catalogued as ``entry_id``); engines read the files by it.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("columns") as batch:
        batch.add_column(sa.Column("source_name", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("columns") as batch:
        batch.drop_column("source_name")
