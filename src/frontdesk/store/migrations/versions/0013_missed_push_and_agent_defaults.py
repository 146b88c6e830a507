"""a push with the missed-conversation e-mail, and the owner's defaults for new agents

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 18:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "missed_conversation_push",
                sa.Boolean(),
                server_default=sa.text("true"),
                nullable=False,
            )
        )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agent_defaults", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("agent_defaults")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("missed_conversation_push")
