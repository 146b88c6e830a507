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

_AGENT = sa.text("agent_id IS NOT NULL")
_VISITOR = sa.text("visitor_id IS NOT NULL")


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
        batch_op.drop_index("ix_presence_changes_agent_id_at")
        batch_op.drop_index("ix_presence_changes_visitor_id_at")
        batch_op.create_index(
            "ix_presence_changes_agent_id_at",
            ["agent_id", "at"],
            unique=False,
            sqlite_where=_AGENT,
            postgresql_where=_AGENT,
        )
        batch_op.create_index(
            "ix_presence_changes_visitor_id_at",
            ["visitor_id", "at"],
            unique=False,
            sqlite_where=_VISITOR,
            postgresql_where=_VISITOR,
        )


def downgrade() -> None:
    with op.batch_alter_table("presence_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_presence_changes_visitor_id_at")
        batch_op.drop_index("ix_presence_changes_agent_id_at")
        batch_op.create_index("ix_presence_changes_visitor_id_at", ["visitor_id", "at"])
        batch_op.create_index("ix_presence_changes_agent_id_at", ["agent_id", "at"])
        batch_op.create_index("ix_presence_changes_account_id_at", ["account_id", "at"])
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_conversation_id", ["conversation_id"])
