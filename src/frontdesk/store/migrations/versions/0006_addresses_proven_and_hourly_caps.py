"""addresses proven before they are mailed; hourly caps and digests

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mail_outbox",
        sa.Column("id", _Id, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("account_id", _Id, nullable=False),
        sa.Column("agent_id", _Id, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("sender_name", sa.String(length=200), nullable=True),
        sa.Column("message_id_header", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("smtp_code", sa.Integer(), nullable=True),
        sa.Column("smtp_text", sa.String(length=1000), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_token", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_mail_outbox_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_mail_outbox_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
        sa.UniqueConstraint("message_id_header", name=op.f("uq_mail_outbox_message_id_header")),
    )
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mail_outbox_state_next_attempt_at", ["state", "next_attempt_at"], unique=False
        )
        batch_op.create_index("ix_mail_outbox_account_id", ["account_id"], unique=False)
        batch_op.create_index("ix_mail_outbox_agent_id", ["agent_id"], unique=False)
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email_confirmed_at", sa.DateTime(timezone=True), nullable=True)
        )
    # The agents of an installation that did not ask for proof keep getting their e-mail.
    op.execute("UPDATE agents SET email_confirmed_at = created_at")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("digest_id", _Id, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_deliveries_digest_id_mail_outbox"),
            "mail_outbox",
            ["digest_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            "ix_deliveries_agent_id_created_at",
            ["agent_id", "created_at"],
            unique=False,
            sqlite_where=sa.text("digest_id IS NULL"),
            postgresql_where=sa.text("digest_id IS NULL"),
        )
        batch_op.create_index("ix_deliveries_digest_id", ["digest_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_digest_id")
        batch_op.drop_index("ix_deliveries_agent_id_created_at")
        batch_op.drop_constraint(
            batch_op.f("fk_deliveries_digest_id_mail_outbox"), type_="foreignkey"
        )
        batch_op.drop_column("digest_id")
        batch_op.drop_column("created_at")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("email_confirmed_at")
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_mail_outbox_agent_id")
        batch_op.drop_index("ix_mail_outbox_account_id")
        batch_op.drop_index("ix_mail_outbox_state_next_attempt_at")
    op.drop_table("mail_outbox")
