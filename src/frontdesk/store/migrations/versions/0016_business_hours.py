"""business hours of accounts and groups

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 04:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("accounts", "groups"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("business_hours", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in ("groups", "accounts"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("business_hours")
