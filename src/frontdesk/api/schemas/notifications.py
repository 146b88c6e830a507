"""Bodies of ``routes/notifications.py``, the notification log: each decision of the engine
with its deliveries and who was left out. ``api/explained.py`` fills them, for the API and
``frontdesk explain``."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from frontdesk.api.schemas.common import Response
from frontdesk.core.notifications import (
    DeliveryState,
    NotificationKind,
    NotificationState,
    NotPushedBecause,
    NotRecipientBecause,
    PushState,
    SuppressedBecause,
)


class DeliveryOut(Response):
    agent_id: int | None
    email: str
    state: DeliveryState
    smtp_code: int | None
    smtp_text: str | None
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    # Set when the e-mail, accepted, came back undelivered (state "bounced").
    bounced_at: datetime | None = None
    bounce_status: str | None = None
    bounce_text: str | None = None


class NotRecipientOut(Response):
    agent_id: int
    reason: NotRecipientBecause


class PushOut(Response):
    """One push to one browser or phone, and what its push service answered."""

    agent_id: int | None
    device_name: str
    push_service: str  # the push service's host
    state: PushState
    status: int | None  # its HTTP answer: 201 taken, 404/410 gone, …
    answer: str | None
    created_at: datetime
    answered_at: datetime | None


class NotPushedOut(Response):
    agent_id: int
    reason: NotPushedBecause


class PushStageOut(Response):
    """The push before the e-mail (docs/push.md)."""

    due_at: datetime | None = Field(description="When it is due, while it is still to come.")
    reason: SuppressedBecause | None = Field(
        description="Why nobody was pushed: an agent came online first, the message was "
        "read, the conversation served or closed, or the e-mail was decided first."
    )
    pushes: list[PushOut]
    not_pushed: list[NotPushedOut]


class WebhookToldOut(Response):
    """A webhook endpoint told of the notification (docs/webhooks.md), and how it went."""

    endpoint_id: int
    url: str
    kind: str = Field(description="standard or slack")
    state: str = Field(description="pending, delivered, or failed (given up)")
    attempts: int
    last_status: int | None = Field(description="The endpoint's last HTTP answer.")
    last_answer: str | None
    created_at: datetime
    finished_at: datetime | None


class AgentNotificationOut(Response):
    agent_id: int
    text: str


class NotificationOut(Response):
    id: int
    kind: NotificationKind
    conversation_id: int
    state: NotificationState
    reason: SuppressedBecause | None
    reason_text: str
    opened_at: datetime
    due_at: datetime
    decided_at: datetime | None
    visitor_left_at: datetime | None
    message_ids: list[int]
    listed_message_ids: list[int] = Field(
        description="The messages the e-mail lists: those of message_ids nobody had opened "
        "in the dashboard by the decision."
    )
    recipients: list[DeliveryOut]
    not_recipients: list[NotRecipientOut]
    push: PushStageOut | None = Field(
        description="The push before the e-mail; null when there was none to make (a "
        "missed conversation, or a push delay not shorter than the e-mail's)."
    )
    webhooks: list[WebhookToldOut] = Field(
        default_factory=list,
        description="The account's webhook endpoints told of it: at the decision to send, "
        "or when nobody gets its e-mail.",
    )
    for_agent: AgentNotificationOut | None = Field(
        description="With ?agent_id=: the decision told from that agent's side."
    )


class NotificationList(Response):
    notifications: list[NotificationOut]
