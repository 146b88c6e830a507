"""The tables of Frontdesk (docs/spec.md section 2).

Every row that belongs to a tenant carries ``account_id`` (directly, or through its
conversation), and every service query filters on it: that is the isolation between accounts.
E-mail addresses are unique across all accounts because the address is the login.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from frontdesk.core.model import (
    ConversationStatus,
    DeviceKind,
    DeviceStatus,
    Locale,
    MessageAuthor,
    Plan,
    Role,
)
from frontdesk.core.notifications import (
    DeliveryState,
    NotificationKind,
    NotificationState,
    PushState,
    SuppressedBecause,
)
from frontdesk.core.presence import PresenceChange
from frontdesk.core.webhooks import WebhookKind, WebhookState
from frontdesk.store.types import StrEnumType, UTCDateTime

# Integer on SQLite so the column is the rowid alias and autoincrements; BIGINT elsewhere.
Id = BigInteger().with_variant(Integer(), "sqlite")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    plan: Mapped[Plan] = mapped_column(StrEnumType(Plan))
    widget_key: Mapped[str] = mapped_column(String(64), unique=True)
    # Settings → Notifications. The help article has offline e-mails on and missed ones to
    # switch on.
    offline_message_email: Mapped[bool] = mapped_column(Boolean, default=True)
    missed_conversation_email: Mapped[bool] = mapped_column(Boolean, default=False)
    # None: the server's ``offline_email_delay``.
    offline_email_delay: Mapped[float | None] = mapped_column(Float, default=None)
    # None: the server's ``offline_push_delay`` (docs/push.md).
    offline_push_delay: Mapped[float | None] = mapped_column(Float, default=None)
    # The events any enabled webhook endpoint of the account wants, as bits
    # (``frontdesk.core.webhooks``): read with the account's other facts, so that a write
    # of an account without webhooks pays nothing for them. Kept by service/webhooks.py.
    webhook_events: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Whether an agent of the account has ever subscribed a browser or phone to pushes: only
    # then does a conversation opened while agents are online get its unserved-conversation
    # reminder (docs/push.md), so that an account without pushes keeps none.
    push_subscribed: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    # The owner's defaults of the agents' own choices (``AGENT_CHOICES``), for each agent
    # added from then on; a choice not named is on. None: all on.
    agent_defaults: Mapped[dict[str, bool] | None] = mapped_column(JSON, default=None)
    # A closed conversation's transcript e-mailed to its visitor, when they gave an address
    # (docs/reply-by-email.md).
    visitor_transcript: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    # Business hours (``frontdesk.core.hours``, as ``hours_as_data`` writes them); None:
    # always open (docs/reachability.md).
    business_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # Seconds without activity on every online device after which an agent is away,
    # counted offline (docs/reachability.md); None: off.
    agent_idle_after: Mapped[float | None] = mapped_column(Float, default=None)
    # Within business hours, nobody online for this long raises an alert; None: off.
    alert_nobody_online_after: Mapped[float | None] = mapped_column(Float, default=None)
    # The widget shows the median first-response time of the last 7 days (opt-in).
    expected_reply_time: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    # The address folded to lower case: logins and uniqueness ignore case.
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(StrEnumType(Role))
    locale: Mapped[Locale] = mapped_column(StrEnumType(Locale))
    # An IANA zone name (``Europe/Prague``): times in the agent's e-mails are shown in it.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # When the agent followed the link that proves the address is theirs; ``None``: not
    # yet, and no notification goes to it (docs/security.md: addresses proven first).
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The agent's own choice (``/me/notifications``): True = send me these e-mails.
    offline_message_email: Mapped[bool] = mapped_column(Boolean, default=True)
    missed_conversation_email: Mapped[bool] = mapped_column(Boolean, default=True)
    # And these pushes, to each browser or phone subscribed (docs/push.md).
    offline_message_push: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=text("true")
    )
    # And a push with the missed-conversation e-mail.
    missed_conversation_push: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=text("true")
    )
    # And the reminder of a conversation left unserved while the agent is away from it.
    unserved_conversation_push: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=text("true")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The online state as last recorded in ``presence_changes``; the truth is computed from
    # the devices, and the presence sweep records where the two part.
    online: Mapped[bool] = mapped_column(Boolean, default=False)

    groups: Mapped[list[Group]] = relationship(
        secondary="group_members", back_populates="members", order_by="Group.id"
    )

    __table_args__ = (
        Index("ix_agents_account_id", "account_id"),
        Index("ix_agents_online", "online"),
    )


class AgentToken(Base):
    """A bearer token of an agent. Only its SHA-256 is kept; revoking sets ``revoked_at``."""

    __tablename__ = "agent_tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # When it was last seen in use, written at most every ``token_touch_every``: the idle
    # timeout counts from here (``None``: from ``created_at``).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    __table_args__ = (Index("ix_agent_tokens_agent_id", "agent_id"),)


class Group(Base):
    """A PRO group: a named set of agents that conversations can be routed to."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The group's own business hours; None: the account's.
    business_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)

    members: Mapped[list[Agent]] = relationship(
        secondary="group_members", back_populates="groups", order_by="Agent.id"
    )

    __table_args__ = (UniqueConstraint("account_id", "name", name="uq_groups_account_id_name"),)


class GroupMember(Base):
    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_group_members_agent_id", "agent_id"),)


class Device(Base):
    """One running client of an agent (a dashboard tab, the mobile app), with its own status.

    ``connected_until`` is the device's lease (see ``frontdesk.core.presence``); ``socket_id``
    names the WebSocket that holds it, so that an old socket closing after a reconnect does
    not end the new one's lease.
    """

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    device_key: Mapped[str] = mapped_column(String(100))
    kind: Mapped[DeviceKind] = mapped_column(StrEnumType(DeviceKind))
    status: Mapped[DeviceStatus] = mapped_column(StrEnumType(DeviceStatus))
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    connected_until: Mapped[datetime] = mapped_column(UTCDateTime)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    socket_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # Whether the agent can see it: a dashboard tab in view (it says when it is hidden); a
    # device that never says is taken as looking. The unserved-conversation reminder goes
    # only to agents none of whose online devices is looking (docs/push.md).
    looking: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # The agent's last activity on it (input, the tab shown), as its client reports it;
    # None: a client that does not report activity, never idle.
    last_active_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # When it turns idle without further activity: ``last_active_at`` plus the account's
    # ``agent_idle_after``, kept here so that the sweep and the scope queries can ask the
    # database (``frontdesk.core.presence.counts_until``); None: never.
    idle_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    __table_args__ = (
        UniqueConstraint("agent_id", "device_key", name="uq_devices_agent_id_device_key"),
    )


class Visitor(Base):
    __tablename__ = "visitors"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    page_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # On the website until then: open sockets keep pushing it forward; the last one to close,
    # or the last REST heartbeat, leaves it ``visitor_left_after`` in the future.
    present_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    present: Mapped[bool] = mapped_column(Boolean, default=False)
    # The widget's language, for the e-mails that bring agents' answers to the visitor.
    locale: Mapped[Locale | None] = mapped_column(StrEnumType(Locale), default=None)

    __table_args__ = (
        Index("ix_visitors_account_id", "account_id"),
        Index("ix_visitors_present_present_until", "present", "present_until"),
    )


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    visitor_id: Mapped[int] = mapped_column(ForeignKey("visitors.id", ondelete="CASCADE"))
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups.id", ondelete="SET NULL"), default=None
    )
    status: Mapped[ConversationStatus] = mapped_column(StrEnumType(ConversationStatus))
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    visitor: Mapped[Visitor] = relationship(lazy="joined")

    __table_args__ = (
        Index("ix_conversations_account_id_status", "account_id", "status"),
        Index("ix_conversations_visitor_id_id", "visitor_id", "id"),
    )


_KEYED = text("idempotency_key IS NOT NULL")


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    author: Mapped[MessageAuthor] = mapped_column(StrEnumType(MessageAuthor))
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), default=None
    )
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A visitor message's Idempotency-Key: a retry that carries it again is answered with
    # this message, not stored twice (docs/api.md).
    idempotency_key: Mapped[str | None] = mapped_column(String(100), default=None)

    __table_args__ = (
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
        Index(
            "ix_messages_idempotency_key",
            "idempotency_key",
            sqlite_where=_KEYED,
            postgresql_where=_KEYED,
        ),
    )


def _by_kind_and_time(column: str) -> Index:
    """The presence changes of one kind (``agent_id`` or ``visitor_id``) by who and when;
    a row of the other kind is not in it."""
    where = text(f"{column} IS NOT NULL")
    return Index(
        f"ix_presence_changes_{column}_at",
        column,
        "at",
        sqlite_where=where,
        postgresql_where=where,
    )


class PresenceChangeRow(Base):
    """The durable history of presence: every time an agent went online or offline and every
    time a visitor arrived or left, with the moment it happened. The engine asks it "was any
    agent of this scope online at some moment since T?", also after a restart."""

    __tablename__ = "presence_changes"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), default=None
    )
    visitor_id: Mapped[int | None] = mapped_column(
        ForeignKey("visitors.id", ondelete="CASCADE"), default=None
    )
    change: Mapped[PresenceChange] = mapped_column(StrEnumType(PresenceChange))
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    # An agent's row in the agents' index only, a visitor's in the visitors' (a visitor
    # message's arrival wrote three indexes, not one). Nothing reads them by account.
    __table_args__ = (_by_kind_and_time("agent_id"), _by_kind_and_time("visitor_id"))


class ConversationRead(Base):
    """How far one agent has read a conversation in the dashboard: every message whose id is at
    most ``last_read_message_id`` counts as opened by that agent ("opened in the dashboard")."""

    __tablename__ = "conversation_reads"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    last_read_message_id: Mapped[int] = mapped_column(Id)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime)


_OPEN_OFFLINE = text("state = 'scheduled' AND kind = 'offline_message'")
_PUSH_PENDING = text("push_due_at IS NOT NULL")


class Notification(Base):
    """One decision of the engine (docs/spec.md section 3), written in the transaction of the event
    that opens it and kept for good, so that "why did I (not) get an e-mail?" can be answered
    later. ``state`` is ``scheduled`` until the due time; the worker then decides it once.

    At most one offline-message notification of a conversation is open at a time (a partial
    unique index), and at most one missed-conversation notification exists per visit:
    ``visit_message_id`` is the first unanswered visitor message of that visit.
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    kind: Mapped[NotificationKind] = mapped_column(StrEnumType(NotificationKind))
    state: Mapped[NotificationState] = mapped_column(StrEnumType(NotificationState))
    reason: Mapped[SuppressedBecause | None] = mapped_column(
        StrEnumType(SuppressedBecause), default=None
    )
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    visit_message_id: Mapped[int | None] = mapped_column(Id, default=None)
    visitor_left_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # [[agent_id, reason], …]: the agents of the account who were not sent it, and why.
    not_recipients: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The push before the e-mail (docs/push.md): when it is due, while it is; once the push
    # stage has run, why nobody was pushed (``push_reason``) or who was not and why
    # (``push_not_recipients``, as ``not_recipients``); the pushes are ``PushDelivery`` rows.
    push_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    push_reason: Mapped[SuppressedBecause | None] = mapped_column(
        StrEnumType(SuppressedBecause), default=None
    )
    push_not_recipients: Mapped[list[Any] | None] = mapped_column(JSON, default=None)

    __table_args__ = (
        # By conversation: the unique constraint's index below, which starts with it.
        Index("ix_notifications_state_due_at", "state", "due_at"),
        # Only the pushes still to make: the push stage and a call-off clear push_due_at.
        Index(
            "ix_notifications_push_due_at",
            "push_due_at",
            sqlite_where=_PUSH_PENDING,
            postgresql_where=_PUSH_PENDING,
        ),
        Index(
            "uq_notifications_open_offline",
            "conversation_id",
            unique=True,
            sqlite_where=_OPEN_OFFLINE,
            postgresql_where=_OPEN_OFFLINE,
        ),
        UniqueConstraint(
            "conversation_id",
            "kind",
            "visit_message_id",
            name="uq_notifications_conversation_id_kind_visit",
        ),
    )


class NotificationMessage(Base):
    """A message of a notification's batch. ``listed`` turns false at the decision for a
    message an agent had opened in the dashboard by then: the e-mail leaves it out."""

    __tablename__ = "notification_messages"

    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True
    )
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    listed: Mapped[bool] = mapped_column(Boolean, default=True)


class Delivery(Base):
    """One e-mail of a notification to one agent, and what became of it.

    A worker claims a delivery by setting ``lease_until`` and a fresh ``lease_token`` in a
    transaction of its own, sends, and records the outcome only if it still holds the
    lease. A worker that dies mid-send leaves the lease to run out; another worker then sends
    again with the same ``message_id_header``, so a receiving mail system can tell it is the
    same e-mail (docs/notifications.md: the one window where a duplicate is possible).
    """

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), default=None
    )
    email: Mapped[str] = mapped_column(String(320))
    message_id_header: Mapped[str] = mapped_column(String(255), unique=True)
    state: Mapped[DeliveryState] = mapped_column(StrEnumType(DeliveryState))
    smtp_code: Mapped[int | None] = mapped_column(Integer, default=None)
    smtp_text: Mapped[str | None] = mapped_column(String(1000), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    lease_token: Mapped[str | None] = mapped_column(String(32), default=None)
    # A delivery-status notification that came back after the server had accepted the
    # e-mail: when, its status code (``5.1.1``) and the words it gave (``bounce_text``).
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    bounce_status: Mapped[str | None] = mapped_column(String(16), default=None)
    bounce_text: Mapped[str | None] = mapped_column(String(1000), default=None)
    # When the engine decided it: the hourly cap counts an agent's deliveries by it.
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # A held delivery (the hourly cap) goes out as a line of this digest e-mail.
    digest_id: Mapped[int | None] = mapped_column(
        ForeignKey("mail_outbox.id", ondelete="SET NULL"), default=None
    )

    __table_args__ = (
        Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_deliveries_notification_id", "notification_id"),
        # The hourly caps count an agent's deliveries not held for a digest: a held one
        # is not in the index, so a count scans at most the cap's rows per agent.
        Index(
            "ix_deliveries_agent_id_created_at",
            "agent_id",
            "created_at",
            sqlite_where=text("digest_id IS NULL"),
            postgresql_where=text("digest_id IS NULL"),
        ),
        Index("ix_deliveries_digest_id", "digest_id"),
    )


class OutboxKind(StrEnum):
    CONFIRM_ADDRESS = "confirm_address"  # a new owner's, or a changed, address
    INVITATION = "invitation"  # an invited agent's address: the invitation is the link
    DIGEST = "digest"  # the notifications an agent's hourly cap held back
    # To an owner: a webhook endpoint kept failing and was switched off (docs/webhooks.md).
    WEBHOOK_DISABLED = "webhook_disabled"
    # To a visitor who left: the agents' answers (docs/reply-by-email.md, continuity).
    VISITOR_REPLY = "visitor_reply"
    # To a visitor: the conversation, when it is closed and the account wants it so.
    TRANSCRIPT = "transcript"
    # To an owner or admin: somebody could not be told (docs/reachability.md).
    ALERT = "alert"
    # To a changed address when the installation asks no proof: a short test, so that a
    # typo or a full mailbox shows at once (docs/reachability.md, the checklist).
    ADDRESS_TEST = "address_test"
    # To the address an agent had before changing it: what it was changed to.
    ADDRESS_CHANGED = "address_changed"
    # The e-mail of "Send me a test notification" (``test_notifications``).
    TEST_NOTIFICATION = "test_notification"


class OutboxEmail(Base):
    """An e-mail that is not one notification to one agent: an address confirmation, an
    invitation, a digest. Sent by the engine's send loop with the same leases, retries and
    SMTP rules as a delivery (docs/notifications.md)."""

    __tablename__ = "mail_outbox"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[OutboxKind] = mapped_column(StrEnumType(OutboxKind))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    # Who invited (an invitation): shown, as that agent named themselves.
    sender_name: Mapped[str | None] = mapped_column(String(200), default=None)
    # The endpoint switched off (a ``webhook_disabled`` e-mail).
    webhook_endpoint_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), default=None
    )
    message_id_header: Mapped[str] = mapped_column(String(255), unique=True)
    state: Mapped[DeliveryState] = mapped_column(StrEnumType(DeliveryState))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    smtp_code: Mapped[int | None] = mapped_column(Integer, default=None)
    smtp_text: Mapped[str | None] = mapped_column(String(1000), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    lease_token: Mapped[str | None] = mapped_column(String(32), default=None)
    # A visitor's e-mail: the conversation whose answers it brings, and the newest message
    # it listed (the next one lists those after it). ``agent_id`` is the agent who answered.
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), default=None
    )
    through_message_id: Mapped[int | None] = mapped_column(Id, default=None)
    # An alert's e-mail to an owner or admin (docs/reachability.md).
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), default=None
    )
    # Returned undelivered after the server had accepted it, as a delivery's can be (its
    # VERP return path names the row): when, its status code and the server's words.
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    bounce_status: Mapped[str | None] = mapped_column(String(16), default=None)
    bounce_text: Mapped[str | None] = mapped_column(String(1000), default=None)

    __table_args__ = (
        Index("ix_mail_outbox_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_mail_outbox_conversation_id", "conversation_id"),
        Index("ix_mail_outbox_account_id", "account_id"),
        Index("ix_mail_outbox_agent_id", "agent_id"),
    )


class ReplyParty(StrEnum):
    AGENT = "agent"  # a notification's reply address: the reply is the agent's answer
    VISITOR = "visitor"  # a continuity e-mail's: the reply is a visitor message


class ReplyAddress(Base):
    """``reply+<token>@<reply domain>``: the Reply-To of one e-mail, bound to one agent or
    visitor and one conversation (docs/reply-by-email.md). Only the token's SHA-256 is
    kept; ``email_key`` is the address it was sent to (lower case), the one its replies
    must come from. Revoked (``revoked_at``, ``revoked_reason``) when the agent is
    deactivated or changes address, or the conversation is closed."""

    __tablename__ = "reply_addresses"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    party: Mapped[ReplyParty] = mapped_column(StrEnumType(ReplyParty))
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), default=None
    )
    visitor_id: Mapped[int | None] = mapped_column(
        ForeignKey("visitors.id", ondelete="CASCADE"), default=None
    )
    email_key: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_reason: Mapped[str | None] = mapped_column(String(40), default=None)

    __table_args__ = (
        Index("ix_reply_addresses_agent_id", "agent_id"),
        Index("ix_reply_addresses_conversation_id", "conversation_id"),
    )


class InboundOutcome(StrEnum):
    POSTED = "posted"  # in the conversation
    DROPPED = "dropped"  # taken and left out: an auto-reply, a bounce, nothing new in it
    REFUSED = "refused"  # the sender was told no (a foreign sender, a rate limit, …)


class InboundEmail(Base):
    """One e-mail received at a reply address, and what became of it: the record that makes
    a second arrival of the same e-mail (its Message-ID, to the same address) a repeat,
    not a second message, and that shows admins every refusal with its reason."""

    __tablename__ = "inbound_emails"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    reply_address_id: Mapped[int] = mapped_column(
        ForeignKey("reply_addresses.id", ondelete="CASCADE")
    )
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    # SHA-256 of the reply address's token hash and the e-mail's Message-ID.
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    via: Mapped[str] = mapped_column(String(16))  # smtp, webhook
    sender: Mapped[str] = mapped_column(String(320))
    # The sender's address in lower case: the per-sender rate limit counts by it.
    sender_key: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300), default="")
    outcome: Mapped[InboundOutcome] = mapped_column(StrEnumType(InboundOutcome))
    reason: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(String(300), default=None)
    # The message it became (a posted reply).
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), default=None
    )
    # SPF, DKIM and DMARC as the receiving side found them (pass, fail, none, …).
    spf: Mapped[str | None] = mapped_column(String(16), default=None)
    dkim: Mapped[str | None] = mapped_column(String(16), default=None)
    dmarc: Mapped[str | None] = mapped_column(String(16), default=None)

    __table_args__ = (
        Index("ix_inbound_emails_account_id_id", "account_id", "id"),
        Index("ix_inbound_emails_reply_address_id_received_at", "reply_address_id", "received_at"),
        Index("ix_inbound_emails_sender_key_received_at", "sender_key", "received_at"),
        Index("ix_inbound_emails_conversation_id", "conversation_id"),
    )


class PushSubscription(Base):
    """One browser's or phone's Web Push subscription of an agent (docs/push.md): where its
    push service takes pushes for it, the keys to encrypt them for, the dashboard's device
    and login (``token_id``) it was made with, and what the push service answered last.
    Unique by endpoint: a browser subscribed again, or by another agent who logged in on
    it, has one row, the latest login's. Deleted when that login ends (a logout, a revoked
    token) and when the push service says it is gone (404, 410)."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    token_id: Mapped[int] = mapped_column(ForeignKey("agent_tokens.id", ondelete="CASCADE"))
    endpoint: Mapped[str] = mapped_column(String(2048), unique=True)
    p256dh: Mapped[str] = mapped_column(String(100))
    auth: Mapped[str] = mapped_column(String(50))
    device_key: Mapped[str | None] = mapped_column(String(100), default=None)
    device_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_status: Mapped[int | None] = mapped_column(Integer, default=None)
    last_answer: Mapped[str | None] = mapped_column(String(300), default=None)

    __table_args__ = (
        Index("ix_push_subscriptions_agent_id", "agent_id"),
        Index("ix_push_subscriptions_token_id", "token_id"),
    )


class PushDelivery(Base):
    """One push of a notification to one subscription, and what its push service answered.
    Written, ``sending``, in the transaction that claims the push (the notification's
    ``push_due_at`` cleared), so a push is made at most once: a worker that dies between
    the claim and the answer leaves it ``sending``, and the e-mail is the safety net."""

    __tablename__ = "push_deliveries"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), default=None
    )
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("push_subscriptions.id", ondelete="SET NULL"), default=None
    )
    # The browser or phone, as its subscription named it, and its push service's host.
    device_name: Mapped[str] = mapped_column(String(200))
    push_service: Mapped[str] = mapped_column(String(255))
    state: Mapped[PushState] = mapped_column(StrEnumType(PushState))
    status: Mapped[int | None] = mapped_column(Integer, default=None)
    answer: Mapped[str | None] = mapped_column(String(300), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    __table_args__ = (
        Index("ix_push_deliveries_notification_id", "notification_id"),
        Index("ix_push_deliveries_agent_id", "agent_id"),
        Index("ix_push_deliveries_subscription_id", "subscription_id"),
    )


class WebhookEndpoint(Base):
    """An account's webhook endpoint (docs/webhooks.md): where to POST which events, the
    secret they are signed with, and whether it is on. ``failing_since`` and ``failures``
    count the attempts that failed since the last one that was answered well; an endpoint
    that keeps failing is switched off (``disabled_at``, ``disabled_reason``) and its
    owners are e-mailed."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[WebhookKind] = mapped_column(StrEnumType(WebhookKind))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(200), default="")
    # The event names, as the API takes them.
    events: Mapped[list[str]] = mapped_column(JSON)
    # ``whsec_`` and 32 random bytes, base64: the HMAC key of the signatures.
    secret: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    disabled_reason: Mapped[str | None] = mapped_column(String(300), default=None)
    last_delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    __table_args__ = (Index("ix_webhook_endpoints_account_id", "account_id"),)


class WebhookMessage(Base):
    """One event for one endpoint: the durable outbox of webhooks. Written in the
    transaction that causes the event (a message stored, a notification decided), so an
    event is sent if and only if that transaction commits; delivered by the engine under a
    lease, tried again with backoff for ``webhook_retry_for``, always as ``msg_id``."""

    __tablename__ = "webhook_messages"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(64))
    # The ``webhook-id`` header: the same on every attempt.
    msg_id: Mapped[str] = mapped_column(String(64), unique=True)
    # The JSON body of a standard endpoint, as sent (a Slack message is made from it).
    payload: Mapped[str] = mapped_column(Text)
    # The notification a ``notification.*`` event tells of, for "who was told, and how".
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL"), default=None
    )
    state: Mapped[WebhookState] = mapped_column(StrEnumType(WebhookState))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    lease_token: Mapped[str | None] = mapped_column(String(32), default=None)
    last_status: Mapped[int | None] = mapped_column(Integer, default=None)
    last_answer: Mapped[str | None] = mapped_column(String(300), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    __table_args__ = (
        Index(
            "ix_webhook_messages_next_attempt_at",
            "next_attempt_at",
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
        Index("ix_webhook_messages_endpoint_id_id", "endpoint_id", "id"),
        Index("ix_webhook_messages_notification_id", "notification_id"),
        Index("ix_webhook_messages_account_id", "account_id"),
    )


class WebhookAttempt(Base):
    """One attempt of a webhook message: the delivery log."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("webhook_messages.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[int | None] = mapped_column(Integer, default=None)
    answer: Mapped[str | None] = mapped_column(String(300), default=None)
    duration_ms: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_webhook_attempts_message_id", "message_id"),)


class InstallationSecret(Base):
    """Random keys this installation makes for itself on first use, shared by all its
    processes through the database: they sign the links and addresses in e-mails
    (one-click unsubscribe, the VERP return path)."""

    __tablename__ = "installation_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


def table_of(model: type[Base]) -> Table:
    """The Core table of a model, for the plain statements of the hot paths."""
    return cast(Table, model.__table__)


class Alert(Base):
    """Somebody could not be told, or soon cannot: a cause (``frontdesk.core.alerts``) in
    a subject (the account, a group, the installation's mail server). Owners and admins
    are told once per open alert; a repeat only counts (docs/reachability.md)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    cause: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(100))
    # ``cause:subject`` while open, None once cleared: at most one open alert per cause
    # and subject, whichever process raises it.
    open_key: Mapped[str | None] = mapped_column(String(160), default=None)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # What cleared it: ``resolved`` (the cause ended) or ``dismissed`` (an owner or admin).
    cleared_by: Mapped[str | None] = mapped_column(String(40), default=None)
    # Its push to the owners' and admins' browsers and phones, while still to make; cleared
    # in the transaction that claims it, so it is made at most once.
    push_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    __table_args__ = (
        UniqueConstraint("account_id", "open_key", name="uq_alerts_account_id_open_key"),
        Index("ix_alerts_account_id_id", "account_id", "id"),
        Index("ix_alerts_push_due_at", "push_due_at"),
    )


class NotificationTest(Base):
    """An agent's "send me a test notification" (docs/reachability.md): when it was asked,
    the e-mail it queued (or why none), and what each push service answered."""

    __tablename__ = "test_notifications"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The address the e-mail was for, and its row; None with ``email_skipped`` saying why.
    email: Mapped[str] = mapped_column(String(320))
    outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("mail_outbox.id", ondelete="SET NULL"), default=None
    )
    email_skipped: Mapped[str | None] = mapped_column(String(40), default=None)
    # One ``{subscription_id, device_name, result, status, answer}`` per subscription
    # pushed to; None until the pushes are answered.
    pushes: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)

    __table_args__ = (
        Index("ix_test_notifications_agent_id_id", "agent_id", "id"),
        Index("ix_test_notifications_account_id", "account_id"),
    )
