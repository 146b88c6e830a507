"""the push before the e-mail: its delay, the agents' choice, its stage and its pushes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("offline_push_delay", sa.Float(), nullable=True))
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "offline_message_push", sa.Boolean(), server_default=sa.text("true"), nullable=False
            )
        )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("push_due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("push_reason", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("push_not_recipients", sa.JSON(), nullable=True))
        batch_op.create_index(
            "ix_notifications_push_due_at",
            ["push_due_at"],
            unique=False,
            sqlite_where=sa.text("push_due_at IS NOT NULL"),
            postgresql_where=sa.text("push_due_at IS NOT NULL"),
        )
    op.create_table(
        "push_deliveries",
        sa.Column("id", _Id, nullable=False),
        sa.Column("notification_id", _Id, nullable=False),
        sa.Column("agent_id", _Id, nullable=True),
        sa.Column("subscription_id", _Id, nullable=True),
        sa.Column("device_name", sa.String(length=200), nullable=False),
        sa.Column("push_service", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("answer", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_push_deliveries_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_push_deliveries_notification_id_notifications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["push_subscriptions.id"],
            name=op.f("fk_push_deliveries_subscription_id_push_subscriptions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_deliveries")),
    )
    with op.batch_alter_table("push_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_push_deliveries_notification_id", ["notification_id"], unique=False
        )
        batch_op.create_index("ix_push_deliveries_agent_id", ["agent_id"], unique=False)
        batch_op.create_index(
            "ix_push_deliveries_subscription_id", ["subscription_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("push_deliveries")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_push_due_at")
        batch_op.drop_column("push_not_recipients")
        batch_op.drop_column("push_reason")
        batch_op.drop_column("push_due_at")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("offline_message_push")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("offline_push_delay")
