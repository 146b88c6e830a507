"""The engine's decisions as the API and ``frontdesk explain`` show them: one notification
with its reason in words, its deliveries, who was left out and, asked for one agent, the
decision told from that agent's side."""

from __future__ import annotations

from frontdesk.api.schemas.notifications import (
    AgentNotificationOut,
    DeliveryOut,
    NotificationOut,
    NotPushedOut,
    NotRecipientOut,
    PushOut,
    PushStageOut,
    WebhookToldOut,
)
from frontdesk.core.notifications import (
    NotPushedBecause,
    describe_bounce,
    explain,
    explain_for_agent,
    smtp_reply,
)
from frontdesk.service.notifications import NotificationView


def _push_stage(view: NotificationView) -> PushStageOut | None:
    n = view.notification
    if n.push_due_at is None and n.push_reason is None and n.push_not_recipients is None:
        return None
    return PushStageOut(
        due_at=n.push_due_at,
        reason=n.push_reason,
        pushes=[PushOut.model_validate(p) for p in view.pushes],
        not_pushed=[
            NotPushedOut(agent_id=int(a), reason=NotPushedBecause(r))
            for a, r in n.push_not_recipients or []
        ],
    )


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
        push=_push_stage(view),
        webhooks=[WebhookToldOut.model_validate(w) for w in view.webhooks],
        for_agent=None,
    )
    if agent_id is not None:
        delivery = next((d for d in view.deliveries if d.agent_id == agent_id), None)
        left_out = next((r for a, r in view.not_recipients if a == agent_id), None)
        reply = smtp_reply(delivery.smtp_code, delivery.smtp_text) if delivery else None
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
