"""The notification log: every decision of the engine with its reasons and deliveries, so
"why did I (not) get an e-mail for this conversation?" is answered by the product."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from frontdesk.api.deps import AgentDep, RuntimeDep
from frontdesk.api.explained import notification_out
from frontdesk.api.schemas.common import MAX_ID
from frontdesk.api.schemas.notifications import NotificationList
from frontdesk.service import notifications

router = APIRouter(tags=["notifications"])


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
