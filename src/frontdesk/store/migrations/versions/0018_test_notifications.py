"""test notifications: "send me a test notification" and what came back; outbox bounces

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bounced_at", _WHEN, nullable=True))
        batch_op.add_column(sa.Column("bounce_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("bounce_text", sa.String(length=1000), nullable=True))
    op.create_table(
        "test_notifications",
        sa.Column("id", _ID, nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("agent_id", _ID, nullable=False),
        sa.Column("requested_at", _WHEN, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("outbox_id", _ID, nullable=True),
        sa.Column("email_skipped", sa.String(length=40), nullable=True),
        sa.Column("pushes", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_test_notifications_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name="fk_test_notifications_agent_id_agents",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["mail_outbox.id"],
            name="fk_test_notifications_outbox_id_mail_outbox",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_test_notifications"),
    )
    op.create_index("ix_test_notifications_agent_id_id", "test_notifications", ["agent_id", "id"])
    op.create_index("ix_test_notifications_account_id", "test_notifications", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_test_notifications_account_id", table_name="test_notifications")
    op.drop_index("ix_test_notifications_agent_id_id", table_name="test_notifications")
    op.drop_table("test_notifications")
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_column("bounce_text")
        batch_op.drop_column("bounce_status")
        batch_op.drop_column("bounced_at")
