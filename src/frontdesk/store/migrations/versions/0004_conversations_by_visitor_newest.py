"""conversations looked up by visitor, newest first, from one index

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 17:15:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A visitor's newest conversation (each visitor message asks for it): on the visitor
    # index alone, PostgreSQL's planner preferred walking the primary key backwards for
    # ORDER BY id DESC LIMIT 1, which reads the whole table for a visitor who has none yet.
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_visitor_id")
        batch_op.create_index("ix_conversations_visitor_id_id", ["visitor_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_visitor_id_id")
        batch_op.create_index("ix_conversations_visitor_id", ["visitor_id"], unique=False)
