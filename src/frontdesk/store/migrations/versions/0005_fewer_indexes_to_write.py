"""fewer indexes written by each visitor message and presence change

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 00:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The two kinds of presence change, each indexed apart (a row is of one kind).
_OF_KIND = ("agent_id", "visitor_id")


def upgrade() -> None:
    # Notifications by conversation are found through the unique constraint on
    # (conversation_id, kind, visit_message_id); the index of its first column alone was
    # one more to write for each notification.
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_conversation_id")
    # A presence change is an agent's or a visitor's: each row goes into the index of its
    # kind only. Nothing reads them by account (an account's rows go with its agents and
    # visitors).
    with op.batch_alter_table("presence_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_presence_changes_account_id_at")
        for column in _OF_KIND:
            where = sa.text(f"{column} IS NOT NULL")
            batch_op.drop_index(f"ix_presence_changes_{column}_at")
            batch_op.create_index(
                f"ix_presence_changes_{column}_at",
                [column, "at"],
                unique=False,
                sqlite_where=where,
                postgresql_where=where,
            )


def downgrade() -> None:
    with op.batch_alter_table("presence_changes", schema=None) as batch_op:
        for column in _OF_KIND:
            batch_op.drop_index(f"ix_presence_changes_{column}_at")
            batch_op.create_index(f"ix_presence_changes_{column}_at", [column, "at"])
        batch_op.create_index("ix_presence_changes_account_id_at", ["account_id", "at"])
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_conversation_id", ["conversation_id"])
