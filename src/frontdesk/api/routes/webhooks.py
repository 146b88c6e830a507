"""Webhooks: an account's endpoints, their delivery logs and test events; owners and admins
only (docs/webhooks.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from frontdesk.api.deps import AgentDep, RuntimeDep
from frontdesk.api.schemas.common import MAX_ID
from frontdesk.api.schemas.webhooks import (
    WebhookAttemptOut,
    WebhookDeliveryOut,
    WebhookIn,
    WebhookOut,
    WebhookPatch,
    WebhookWithSecretOut,
)
from frontdesk.service import webhooks
from frontdesk.store.models import WebhookAttempt, WebhookMessage

router = APIRouter(tags=["webhooks"])

WebhookId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/webhooks")
def list_webhooks(caller: AgentDep, rt: RuntimeDep) -> list[WebhookOut]:
    """The account's webhook endpoints, oldest first."""
    return [WebhookOut.model_validate(e) for e in webhooks.list_endpoints(rt, caller)]


@router.post("/webhooks", status_code=status.HTTP_201_CREATED)
def add_webhook(body: WebhookIn, caller: AgentDep, rt: RuntimeDep) -> WebhookWithSecretOut:
    """A new endpoint for the events named; the answer carries its signing secret."""
    endpoint = webhooks.create_endpoint(
        rt,
        caller,
        url=body.url,
        kind=body.kind,
        events=body.events,
        description=body.description,
    )
    return WebhookWithSecretOut.model_validate(endpoint)


@router.get("/webhooks/{webhook_id}")
def get_webhook(webhook_id: WebhookId, caller: AgentDep, rt: RuntimeDep) -> WebhookWithSecretOut:
    """One endpoint, with its signing secret."""
    return WebhookWithSecretOut.model_validate(webhooks.get_endpoint(rt, caller, webhook_id))


@router.patch("/webhooks/{webhook_id}")
def change_webhook(
    webhook_id: WebhookId, body: WebhookPatch, caller: AgentDep, rt: RuntimeDep
) -> WebhookWithSecretOut:
    """Change an endpoint's URL, events or description, switch it off or on again, or give
    it a new secret."""
    sent = body.sent()
    endpoint = webhooks.update_endpoint(
        rt,
        caller,
        webhook_id,
        url=sent.get("url"),
        events=sent.get("events"),
        description=sent.get("description"),
        enabled=sent.get("enabled"),
        new_secret_wanted=bool(sent.get("new_secret")),
    )
    return WebhookWithSecretOut.model_validate(endpoint)


@router.delete("/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(webhook_id: WebhookId, caller: AgentDep, rt: RuntimeDep) -> None:
    """Delete an endpoint, the events waiting for it and its delivery log."""
    webhooks.delete_endpoint(rt, caller, webhook_id)


@router.get("/webhooks/{webhook_id}/deliveries")
def list_webhook_deliveries(
    webhook_id: WebhookId,
    caller: AgentDep,
    rt: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[WebhookDeliveryOut]:
    """The endpoint's latest events, newest first, each with every attempt and what the
    endpoint answered to it."""
    return [
        _delivery_out(logged.message, logged.attempts)
        for logged in webhooks.delivery_log(rt, caller, webhook_id, limit=limit)
    ]


@router.post("/webhooks/{webhook_id}/test", status_code=status.HTTP_202_ACCEPTED)
def test_webhook(webhook_id: WebhookId, caller: AgentDep, rt: RuntimeDep) -> WebhookDeliveryOut:
    """Send a ``webhook.test`` event to the endpoint now, once; what it answered shows in
    its deliveries a moment later."""
    return _delivery_out(webhooks.send_test(rt, caller, webhook_id), [])


def _delivery_out(message: WebhookMessage, attempts: list[WebhookAttempt]) -> WebhookDeliveryOut:
    return WebhookDeliveryOut(
        id=message.id,
        msg_id=message.msg_id,
        event=message.event,
        state=message.state,
        created_at=message.created_at,
        attempts=message.attempts,
        next_attempt_at=message.next_attempt_at,
        finished_at=message.finished_at,
        last_status=message.last_status,
        last_answer=message.last_answer,
        log=[WebhookAttemptOut.model_validate(a) for a in attempts],
        payload=message.payload,
    )
