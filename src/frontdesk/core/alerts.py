"""Alerts: a visitor's message reached nobody, or soon cannot (docs/reachability.md).

An alert has a cause and a subject (the account, a group, the mail server). While one is
open for a cause and subject, another occurrence only counts: owners and admins are told
once per cause, not once per message. The cause ending clears it (``resolved``), or an
owner or admin does (``dismissed``); a later occurrence then raises a new one.
"""

from __future__ import annotations

from enum import StrEnum


class AlertCause(StrEnum):
    # A visitor message's notification had nobody in its scope: no active agent.
    NOBODY_IN_SCOPE = "nobody_in_scope"
    # Everybody in the scope switched the e-mail off or has no confirmed address, and no
    # push reached anybody.
    NOBODY_TO_TELL = "nobody_to_tell"
    # Every e-mail of a notification was refused or bounced, and no push reached anybody.
    DELIVERIES_FAILED = "deliveries_failed"
    # The mail server has not taken an e-mail for longer than FRONTDESK_ALERT_AFTER.
    SMTP_FAILING = "smtp_failing"
    # Within business hours, nobody has been online for the account's set time (opt-in).
    NOBODY_ONLINE = "nobody_online"


# The causes for which a visitor writing now would reach nobody: the widget says so.
NOBODY_WOULD_BE_TOLD = frozenset(
    {
        AlertCause.NOBODY_IN_SCOPE,
        AlertCause.NOBODY_TO_TELL,
        AlertCause.DELIVERIES_FAILED,
        AlertCause.SMTP_FAILING,
    }
)


class ClearedBy(StrEnum):
    RESOLVED = "resolved"  # the cause ended: an e-mail went through, somebody came online
    DISMISSED = "dismissed"  # an owner or admin dismissed it


def open_key(cause: AlertCause, subject: str) -> str:
    return f"{cause.value}:{subject}"


def subject_of_group(group_id: int | None) -> str:
    """A notification's subject: its group's, or the account's when it has none."""
    return "account" if group_id is None else f"group:{group_id}"
