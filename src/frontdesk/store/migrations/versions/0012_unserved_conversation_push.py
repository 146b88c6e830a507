"""the unserved-conversation reminder: the agents' choice, the devices in view, the accounts
that push

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "push_subscribed", sa.Boolean(), server_default=sa.text("false"), nullable=False
            )
        )
    op.execute(
        "UPDATE accounts SET push_subscribed = true WHERE id IN (SELECT agents.account_id "
        "FROM agents JOIN push_subscriptions ON push_subscriptions.agent_id = agents.id)"
    )
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "unserved_conversation_push",
                sa.Boolean(),
                server_default=sa.text("true"),
                nullable=False,
            )
        )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("looking", sa.Boolean(), server_default=sa.text("true"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("looking")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("unserved_conversation_push")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("push_subscribed")
