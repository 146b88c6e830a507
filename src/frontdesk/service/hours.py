"""Business hours of an account and of its PRO groups (docs/reachability.md): kept as the
API gives them, validated by ``frontdesk.core.hours`` on the way in, and read back as
``BusinessHours`` for the widget, which shows the offline form outside them ("we are back
Monday at 9:00") whatever the agents' presence. The notification rules do not look at
them: an offline message outside hours is e-mailed by the help article's rules as any."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from frontdesk.core.hours import (
    BusinessHours,
    HoursError,
    hours_as_data,
    is_open,
    next_opening,
    parse_hours,
)
from frontdesk.core.plans import group_that_applies
from frontdesk.errors import InvalidInput
from frontdesk.service.accounts import load_account, require_manager
from frontdesk.service.groups import load_group, require_groups
from frontdesk.service.runtime import AgentCaller, Runtime
from frontdesk.store.models import Account, Group


@dataclass(frozen=True, slots=True)
class Opening:
    """Whether a scope's team is within its hours at a moment, and when it is back."""

    open: bool
    back_at: datetime | None  # None: open now, or not within two weeks


ALWAYS_OPEN = Opening(open=True, back_at=None)


def read_hours(data: Mapping[str, Any] | None) -> BusinessHours | None:
    if data is None:
        return None
    return parse_hours(data["time_zone"], data.get("weekly", {}), data.get("exceptions", {}))


def checked(
    time_zone: str, weekly: Mapping[str, Sequence[str]], exceptions: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """Hours as stored, or 422 ``invalid_hours`` saying what is wrong."""
    try:
        return hours_as_data(parse_hours(time_zone, weekly, exceptions))
    except HoursError as wrong:
        raise InvalidInput(str(wrong), code="invalid_hours") from None


def account_hours(rt: Runtime, caller: AgentCaller) -> dict[str, Any] | None:
    with rt.database.read() as session:
        return load_account(session, caller).business_hours


def set_account_hours(
    rt: Runtime, caller: AgentCaller, hours: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The account's hours (``checked``), or ``None``: always open."""
    require_manager(caller)
    with rt.database.write() as session:
        account = load_account(session, caller)
        account.business_hours = hours
        return hours


def set_group_hours(
    rt: Runtime, caller: AgentCaller, group_id: int, hours: dict[str, Any] | None
) -> dict[str, Any] | None:
    """A PRO group's own hours, or ``None``: the account's."""
    require_manager(caller)
    with rt.database.write() as session:
        require_groups(load_account(session, caller))
        group = load_group(session, caller, group_id)
        group.business_hours = hours
        return hours


def hours_of_scope(account: Account, group: Group | None) -> BusinessHours | None:
    """The hours that apply to a conversation of ``group`` (its own on PRO, when set),
    else the account's."""
    applies = group_that_applies(account.plan, group.id if group is not None else None)
    if applies is not None and group is not None and group.business_hours is not None:
        return read_hours(group.business_hours)
    return read_hours(account.business_hours)


def opening(hours: BusinessHours | None, now: datetime) -> Opening:
    if hours is None or is_open(hours, now):
        return ALWAYS_OPEN
    return Opening(open=False, back_at=next_opening(hours, now))
