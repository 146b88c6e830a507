"""Explaining the engine's decisions (docs/notifications.md): each notification with its
messages and deliveries, for "Who was told, and how" in the API and the dashboard and for the
administrator's CLI (both render it with ``frontdesk.api.explained``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.core.notifications import NotificationState, NotRecipientBecause
from frontdesk.errors import NotFound
from frontdesk.service.runtime import AgentCaller, Runtime
from frontdesk.store.models import (
    Agent,
    Conversation,
    Delivery,
    Notification,
    NotificationMessage,
    PushDelivery,
    WebhookEndpoint,
    WebhookMessage,
)


@dataclass(frozen=True, slots=True)
class ToldWebhook:
    """A webhook event that told of a notification, and how its delivery went."""

    endpoint_id: int
    url: str
    kind: str
    state: str
    attempts: int
    last_status: int | None
    last_answer: str | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class NotificationView:
    notification: Notification
    message_ids: list[int]
    listed_message_ids: list[int]
    deliveries: list[Delivery]
    pushes: list[PushDelivery]
    webhooks: list[ToldWebhook] = field(default_factory=list)

    @property
    def not_recipients(self) -> list[tuple[int, NotRecipientBecause]]:
        return [(int(a), NotRecipientBecause(r)) for a, r in self.notification.not_recipients]

    def concerns(self, agent_id: int) -> bool:
        """Whether the decision had this agent in view: it was a recipient or was left out
        for a reason of its own, or the decision concerned everybody alike."""
        if self.notification.state is NotificationState.SCHEDULED:
            return True
        if any(d.agent_id == agent_id for d in self.deliveries):
            return True
        if any(a == agent_id for a, _ in self.not_recipients):
            return True
        return not self.deliveries and not self.notification.not_recipients


def list_notifications(
    rt: Runtime,
    caller: AgentCaller,
    *,
    conversation_id: int | None,
    agent_id: int | None,
    limit: int,
) -> list[NotificationView]:
    """The engine's decisions in the caller's account, oldest first (the newest ``limit``)."""
    with rt.database.read() as session:
        if conversation_id is not None:
            _own(session, Conversation, conversation_id, caller, "conversation")
        if agent_id is not None:
            _own(session, Agent, agent_id, caller, "agent")
        views = _views(session, account_id=caller.account_id, conversation_id=conversation_id)
    if agent_id is not None:
        views = [v for v in views if v.concerns(agent_id)]
    return views[-limit:]


def explain_conversation(
    rt: Runtime, conversation_id: int
) -> tuple[Conversation, list[NotificationView]]:
    """Every decision about one conversation, for the administrator's CLI."""
    with rt.database.read() as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            raise NotFound(
                f"There is no conversation {conversation_id}.", code="conversation_not_found"
            )
        return conversation, _views(
            session, account_id=conversation.account_id, conversation_id=conversation_id
        )


def views_of_account(rt: Runtime, account_id: int) -> list[NotificationView]:
    """Every decision of one account, oldest first."""
    with rt.database.read() as session:
        return _views(session, account_id=account_id, conversation_id=None)


def _own(
    session: Session,
    model: type[Conversation] | type[Agent],
    id_: int,
    caller: AgentCaller,
    name: str,
) -> None:
    found = session.scalar(
        select(model.id).where(model.id == id_, model.account_id == caller.account_id)
    )
    if found is None:
        raise NotFound(f"There is no {name} {id_} in this account.", code=f"{name}_not_found")


def _views(
    session: Session, *, account_id: int, conversation_id: int | None
) -> list[NotificationView]:
    query = select(Notification).where(Notification.account_id == account_id)
    if conversation_id is not None:
        query = query.where(Notification.conversation_id == conversation_id)
    notifications = session.scalars(query.order_by(Notification.id)).all()
    ids = [n.id for n in notifications]
    messages: dict[int, list[tuple[int, bool]]] = {i: [] for i in ids}
    deliveries: dict[int, list[Delivery]] = {i: [] for i in ids}
    pushes: dict[int, list[PushDelivery]] = {i: [] for i in ids}
    webhooks: dict[int, list[ToldWebhook]] = {i: [] for i in ids}
    if ids:
        for row in session.execute(
            select(
                NotificationMessage.notification_id,
                NotificationMessage.message_id,
                NotificationMessage.listed,
            )
            .where(NotificationMessage.notification_id.in_(ids))
            .order_by(NotificationMessage.message_id)
        ):
            messages[row.notification_id].append((row.message_id, row.listed))
        for delivery in session.scalars(
            select(Delivery).where(Delivery.notification_id.in_(ids)).order_by(Delivery.id)
        ):
            deliveries[delivery.notification_id].append(delivery)
        for push in session.scalars(
            select(PushDelivery)
            .where(PushDelivery.notification_id.in_(ids))
            .order_by(PushDelivery.id)
        ):
            pushes[push.notification_id].append(push)
        for message, url, kind in session.execute(
            select(WebhookMessage, WebhookEndpoint.url, WebhookEndpoint.kind)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
            .where(WebhookMessage.notification_id.in_(ids))
            .order_by(WebhookMessage.id)
        ):
            assert message.notification_id is not None  # selected by it
            webhooks[message.notification_id].append(
                ToldWebhook(
                    endpoint_id=message.endpoint_id,
                    url=url,
                    kind=kind.value,
                    state=message.state.value,
                    attempts=message.attempts,
                    last_status=message.last_status,
                    last_answer=message.last_answer,
                    created_at=message.created_at,
                    finished_at=message.finished_at,
                )
            )
    return [
        NotificationView(
            notification=n,
            message_ids=[m for m, _ in messages[n.id]],
            listed_message_ids=[m for m, listed in messages[n.id] if listed],
            deliveries=deliveries[n.id],
            pushes=pushes[n.id],
            webhooks=webhooks[n.id],
        )
        for n in notifications
    ]
