"""an agent's opt-outs carry the API's names: offline_message_email, missed_conversation_email

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 08:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_RENAMED = {
    "notify_offline_message": "offline_message_email",
    "notify_missed_conversation": "missed_conversation_email",
}


def upgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        for old, new in _RENAMED.items():
            batch_op.alter_column(old, new_column_name=new)


def downgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        for old, new in _RENAMED.items():
            batch_op.alter_column(new, new_column_name=old)
