"""Bodies of ``routes/alerts.py``: what owners and admins are told when a visitor's message
reached nobody, or soon cannot (docs/reachability.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from frontdesk.api.schemas.common import Response
from frontdesk.core.alerts import AlertCause


class AlertOut(Response):
    id: int
    cause: AlertCause
    # account, group:<id>, mail_server
    subject: str
    open: bool
    raised_at: datetime
    last_seen_at: datetime
    # How often its cause happened while it was open; it was told once.
    occurrences: int
    # What the cause left to show: the conversation and notification, the group, the
    # mail server's last words, since when.
    details: dict[str, Any]
    cleared_at: datetime | None
    # resolved (the cause ended) or dismissed (an owner or admin).
    cleared_by: str | None


class AlertsOut(Response):
    alerts: list[AlertOut]
