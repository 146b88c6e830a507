"""reply by e-mail: reply addresses, received replies, visitors' language, visitor e-mails
and transcripts

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 03:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reply_addresses",
        sa.Column("id", _ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("conversation_id", _ID, nullable=False),
        sa.Column("party", sa.String(length=32), nullable=False),
        sa.Column("agent_id", _ID, nullable=True),
        sa.Column("visitor_id", _ID, nullable=True),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("revoked_at", _WHEN, nullable=True),
        sa.Column("revoked_reason", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_reply_addresses_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_reply_addresses_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name="fk_reply_addresses_agent_id_agents",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["visitors.id"],
            name="fk_reply_addresses_visitor_id_visitors",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_reply_addresses"),
        sa.UniqueConstraint("token_hash", name="uq_reply_addresses_token_hash"),
    )
    op.create_index("ix_reply_addresses_agent_id", "reply_addresses", ["agent_id"])
    op.create_index("ix_reply_addresses_conversation_id", "reply_addresses", ["conversation_id"])
    op.create_table(
        "inbound_emails",
        sa.Column("id", _ID, nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("reply_address_id", _ID, nullable=False),
        sa.Column("conversation_id", _ID, nullable=False),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("received_at", _WHEN, nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("sender_key", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.Column("message_id", _ID, nullable=True),
        sa.Column("spf", sa.String(length=16), nullable=True),
        sa.Column("dkim", sa.String(length=16), nullable=True),
        sa.Column("dmarc", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_inbound_emails_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reply_address_id"],
            ["reply_addresses.id"],
            name="fk_inbound_emails_reply_address_id_reply_addresses",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_inbound_emails_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_inbound_emails_message_id_messages",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_inbound_emails"),
        sa.UniqueConstraint("dedupe_key", name="uq_inbound_emails_dedupe_key"),
    )
    op.create_index("ix_inbound_emails_account_id_id", "inbound_emails", ["account_id", "id"])
    op.create_index(
        "ix_inbound_emails_reply_address_id_received_at",
        "inbound_emails",
        ["reply_address_id", "received_at"],
    )
    op.create_index(
        "ix_inbound_emails_sender_key_received_at", "inbound_emails", ["sender_key", "received_at"]
    )
    op.create_index("ix_inbound_emails_conversation_id", "inbound_emails", ["conversation_id"])
    with op.batch_alter_table("visitors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(length=32), nullable=True))
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "visitor_transcript", sa.Boolean(), server_default=sa.text("false"), nullable=False
            )
        )
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("conversation_id", _ID, nullable=True))
        batch_op.add_column(sa.Column("through_message_id", _ID, nullable=True))
        batch_op.create_foreign_key(
            "fk_mail_outbox_conversation_id_conversations",
            "conversations",
            ["conversation_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index("ix_mail_outbox_conversation_id", ["conversation_id"])


def downgrade() -> None:
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_mail_outbox_conversation_id")
        batch_op.drop_constraint("fk_mail_outbox_conversation_id_conversations", type_="foreignkey")
        batch_op.drop_column("through_message_id")
        batch_op.drop_column("conversation_id")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("visitor_transcript")
    with op.batch_alter_table("visitors", schema=None) as batch_op:
        batch_op.drop_column("locale")
    op.drop_table("inbound_emails")
    op.drop_table("reply_addresses")
