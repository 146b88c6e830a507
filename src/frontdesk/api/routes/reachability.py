"""Can I be reached? The checklist of the caller and of the team, and "send me a test
notification" (docs/reachability.md)."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, status

from frontdesk.api.deps import AgentDep, RuntimeDep
from frontdesk.api.routes.presence import device_out
from frontdesk.api.schemas.reachability import (
    AgentReachabilityOut,
    ReachabilityItemOut,
    TeamReachabilityOut,
)
from frontdesk.core.reachability import ITEM_ORDER
from frontdesk.service import reachability
from frontdesk.service.reachability import Checklist, Item
from frontdesk.service.runtime import Runtime

router = APIRouter(tags=["reachability"])


@router.get("/me/reachability")
async def my_reachability(caller: AgentDep, rt: RuntimeDep) -> AgentReachabilityOut:
    """Whether notifications reach you, item by item: e-mails on, address confirmed and
    not bouncing, push subscribed, devices online now, the sender domain's DNS, the last
    e-mail to your address and the last test notification."""
    checklist = await anyio.to_thread.run_sync(reachability.my_checklist, rt, caller)
    return _out(rt, checklist)


@router.get("/agents/reachability")
async def team_reachability(caller: AgentDep, rt: RuntimeDep) -> TeamReachabilityOut:
    """The checklist of every active agent of the account (owners and admins)."""
    checklists = await anyio.to_thread.run_sync(reachability.team_checklist, rt, caller)
    return TeamReachabilityOut(agents=[_out(rt, c) for c in checklists])


@router.post("/me/test-notification", status_code=status.HTTP_202_ACCEPTED)
async def send_test_notification(caller: AgentDep, rt: RuntimeDep) -> ReachabilityItemOut:
    """A test through every channel you have: an e-mail to your address (sent by the
    engine in a moment) and a push to each of your browsers and phones (now). Answers the
    checklist's ``test_notification`` item; at most one per
    ``FRONTDESK_TEST_NOTIFICATION_EVERY`` (30 s), else 429."""
    return _item_out(await reachability.send_test_notification(rt, caller))


def _out(rt: Runtime, checklist: Checklist) -> AgentReachabilityOut:
    now = rt.clock.now()
    devices = [device_out(d, now=now) for d in checklist.devices]
    items = [
        *checklist.items,
        reachability.devices_item(
            any(d.online for d in devices), [d.model_dump(mode="json") for d in devices]
        ),
    ]
    items.sort(key=lambda i: ITEM_ORDER.index(i.key))
    return AgentReachabilityOut(
        agent_id=checklist.agent_id,
        name=checklist.name,
        email=checklist.email,
        role=checklist.role,
        ok=not any(i.ok is False for i in items),
        items=[_item_out(i) for i in items],
    )


def _item_out(item: Item) -> ReachabilityItemOut:
    return ReachabilityItemOut(key=item.key, ok=item.ok, problem=item.problem, facts=item.facts)
