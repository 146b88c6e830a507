"""Web Push: the installation's VAPID public key, the caller's subscriptions (one per
browser or phone), and a test push to all of them (docs/push.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from frontdesk.api.deps import AgentDep, RuntimeDep
from frontdesk.api.schemas.push import (
    PushSubscriptionIn,
    PushSubscriptionOut,
    TestPushOut,
    VapidKeyOut,
)
from frontdesk.push.webpush import ENDPOINT_MAX, Subscription
from frontdesk.service import push

router = APIRouter(tags=["push"])


@router.get("/push/vapid-key")
def get_vapid_key(caller: AgentDep, rt: RuntimeDep) -> VapidKeyOut:
    """The key a browser subscribes with (``applicationServerKey``)."""
    return VapidKeyOut(public_key=push.vapid_key(rt).public_key)


@router.get("/me/push-subscriptions")
def list_push_subscriptions(caller: AgentDep, rt: RuntimeDep) -> list[PushSubscriptionOut]:
    """Your browsers and phones that get push notifications, newest first."""
    return [PushSubscriptionOut.model_validate(s) for s in push.subscriptions_of(rt, caller)]


@router.post("/me/push-subscriptions", status_code=status.HTTP_201_CREATED)
def add_push_subscription(
    body: PushSubscriptionIn, caller: AgentDep, rt: RuntimeDep
) -> PushSubscriptionOut:
    """Push notifications to this browser or phone, as long as this login lasts: the body
    is its ``PushSubscription.toJSON()``. Subscribing a browser again replaces its row."""
    row = push.subscribe(
        rt,
        caller,
        Subscription(body.endpoint, body.keys.p256dh, body.keys.auth),
        device_name=body.device_name,
        device_key=body.device_id,
    )
    return PushSubscriptionOut.model_validate(row)


@router.delete("/me/push-subscriptions", status_code=status.HTTP_204_NO_CONTENT)
def delete_push_subscription(
    endpoint: Annotated[str, Query(min_length=1, max_length=ENDPOINT_MAX)],
    caller: AgentDep,
    rt: RuntimeDep,
) -> None:
    """No more push notifications to the browser or phone of this endpoint."""
    push.unsubscribe(rt, caller, endpoint)


@router.post("/me/push-subscriptions/test")
async def test_push(caller: AgentDep, rt: RuntimeDep) -> list[TestPushOut]:
    """A test push to each of your subscriptions now, and what each push service
    answered; one that is gone (404, 410) is removed."""
    return [
        TestPushOut(
            subscription_id=p.subscription_id,
            device_name=p.device_name,
            result=p.answer.result,
            status=p.answer.status,
            answer=p.answer.text,
        )
        for p in await push.push_test(rt, caller)
    ]
