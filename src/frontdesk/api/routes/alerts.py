"""Alerts for owners and admins: a visitor's message reached nobody, or soon cannot
(docs/reachability.md). The dashboard's banner shows the open ones."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from frontdesk.api.deps import AgentDep, RuntimeDep
from frontdesk.api.schemas.alerts import AlertOut, AlertsOut
from frontdesk.api.schemas.common import MAX_ID
from frontdesk.core.alerts import AlertCause
from frontdesk.service import alerts
from frontdesk.store.models import Alert

router = APIRouter(tags=["alerts"])
AlertId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/alerts")
def list_alerts(caller: AgentDep, rt: RuntimeDep) -> AlertsOut:
    """The open alerts, then the latest cleared ones (owners and admins)."""
    return AlertsOut(alerts=[alert_out(a) for a in alerts.list_alerts(rt, caller)])


@router.post("/alerts/{alert_id}/dismiss")
def dismiss_alert(alert_id: AlertId, caller: AgentDep, rt: RuntimeDep) -> AlertOut:
    """Seen: the banner drops it; its cause happening again raises a new one."""
    return alert_out(alerts.dismiss(rt, caller, alert_id))


def alert_out(alert: Alert) -> AlertOut:
    return AlertOut(
        id=alert.id,
        cause=AlertCause(alert.cause),
        subject=alert.subject,
        open=alert.open_key is not None,
        raised_at=alert.raised_at,
        last_seen_at=alert.last_seen_at,
        occurrences=alert.occurrences,
        details=alert.details or {},
        cleared_at=alert.cleared_at,
        cleared_by=alert.cleared_by,
    )
