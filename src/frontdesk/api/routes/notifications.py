"""The notification log: every decision of the engine with its reasons and deliveries, so
"why did I (not) get an e-mail for this conversation?" is answered by the product."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from frontdesk.api.deps import AgentDep, RuntimeDep
from frontdesk.api.schemas import (
    MAX_ID,
    AgentNotificationOut,
    DeliveryOut,
    NotificationList,
    NotificationOut,
    NotRecipientOut,
)
from frontdesk.core.notifications import describe_bounce, explain, explain_for_agent
from frontdesk.service import notifications
from frontdesk.service.notifications import NotificationView

router = APIRouter(tags=["notifications"])


def notification_out(view: NotificationView, agent_id: int | None = None) -> NotificationOut:
    n = view.notification
    out = NotificationOut(
        id=n.id,
        kind=n.kind,
        conversation_id=n.conversation_id,
        state=n.state,
        reason=n.reason,
        reason_text=explain(n.kind, n.state, n.reason),
        opened_at=n.opened_at,
        due_at=n.due_at,
        decided_at=n.decided_at,
        visitor_left_at=n.visitor_left_at,
        message_ids=view.message_ids,
        listed_message_ids=view.listed_message_ids,
        recipients=[DeliveryOut.model_validate(d) for d in view.deliveries],
        not_recipients=[NotRecipientOut(agent_id=a, reason=r) for a, r in view.not_recipients],
        for_agent=None,
    )
    if agent_id is not None:
        delivery = next((d for d in view.deliveries if d.agent_id == agent_id), None)
        left_out = next((r for a, r in view.not_recipients if a == agent_id), None)
        reply = None
        if delivery is not None and delivery.smtp_code is not None:
            reply = f"{delivery.smtp_code} {delivery.smtp_text or ''}".strip()
        elif delivery is not None:
            reply = delivery.smtp_text
        bounce = None
        if delivery is not None and delivery.bounced_at is not None:
            bounce = describe_bounce(
                delivery.bounced_at, delivery.bounce_status, delivery.bounce_text
            )
        out.for_agent = AgentNotificationOut(
            agent_id=agent_id,
            text=explain_for_agent(
                kind=n.kind,
                state=n.state,
                reason=n.reason,
                delivery=delivery.state if delivery else None,
                left_out_because=left_out,
                smtp_reply=reply,
                bounce=bounce,
            ),
        )
    return out


@router.get("/notifications")
def list_notifications(
    caller: AgentDep,
    rt: RuntimeDep,
    conversation_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    agent_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> NotificationList:
    """The engine's decisions, oldest first: for one conversation, and with ``agent_id``
    only those that had that agent in view, each told from that agent's side in
    ``for_agent``."""
    views = notifications.list_notifications(
        rt, caller, conversation_id=conversation_id, agent_id=agent_id, limit=limit
    )
    return NotificationList(notifications=[notification_out(v, agent_id) for v in views])
