"""reachability: idle devices, away agents, expected reply time and alerts

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_active_at", _WHEN, nullable=True))
        batch_op.add_column(sa.Column("idle_at", _WHEN, nullable=True))
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agent_idle_after", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("alert_nobody_online_after", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "expected_reply_time", sa.Boolean(), server_default=sa.text("false"), nullable=False
            )
        )
    op.create_table(
        "alerts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("cause", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("open_key", sa.String(length=160), nullable=True),
        sa.Column("raised_at", _WHEN, nullable=False),
        sa.Column("last_seen_at", _WHEN, nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("cleared_at", _WHEN, nullable=True),
        sa.Column("cleared_by", sa.String(length=40), nullable=True),
        sa.Column("push_due_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_alerts_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.UniqueConstraint("account_id", "open_key", name="uq_alerts_account_id_open_key"),
    )
    op.create_index("ix_alerts_account_id_id", "alerts", ["account_id", "id"])
    op.create_index("ix_alerts_push_due_at", "alerts", ["push_due_at"])
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alert_id", _ID, nullable=True))
        batch_op.create_foreign_key(
            "fk_mail_outbox_alert_id_alerts", "alerts", ["alert_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_constraint("fk_mail_outbox_alert_id_alerts", type_="foreignkey")
        batch_op.drop_column("alert_id")
    op.drop_index("ix_alerts_push_due_at", table_name="alerts")
    op.drop_index("ix_alerts_account_id_id", table_name="alerts")
    op.drop_table("alerts")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("expected_reply_time")
        batch_op.drop_column("alert_nobody_online_after")
        batch_op.drop_column("agent_idle_after")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("idle_at")
        batch_op.drop_column("last_active_at")
