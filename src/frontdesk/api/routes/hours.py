"""Business hours of the account and of its PRO groups (docs/reachability.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, status

from frontdesk.api.deps import AgentDep, RuntimeDep
from frontdesk.api.schemas.common import MAX_ID
from frontdesk.api.schemas.hours import HoursAnswer, HoursIn, HoursOut
from frontdesk.service import hours
from frontdesk.service.runtime import Runtime

router = APIRouter(tags=["hours"])
GroupId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/settings/hours")
def get_hours(caller: AgentDep, rt: RuntimeDep) -> HoursAnswer:
    """The account's business hours, and whether it is within them now."""
    return _answer(rt, hours.account_hours(rt, caller))


@router.put("/settings/hours")
def put_hours(body: HoursIn, caller: AgentDep, rt: RuntimeDep) -> HoursAnswer:
    """Set the account's business hours (owners and admins); 422 ``invalid_hours`` says
    what cannot be."""
    stored = hours.checked(body.time_zone, _days(body), body.exceptions)
    return _answer(rt, hours.set_account_hours(rt, caller, stored))


@router.delete("/settings/hours", status_code=status.HTTP_204_NO_CONTENT)
def delete_hours(caller: AgentDep, rt: RuntimeDep) -> None:
    """No business hours: always open (the widget follows the agents' presence alone)."""
    hours.set_account_hours(rt, caller, None)


@router.put("/groups/{group_id}/hours")
def put_group_hours(
    group_id: GroupId, body: HoursIn, caller: AgentDep, rt: RuntimeDep
) -> HoursAnswer:
    """A PRO group's own business hours (instead of the account's)."""
    stored = hours.checked(body.time_zone, _days(body), body.exceptions)
    return _answer(rt, hours.set_group_hours(rt, caller, group_id, stored))


@router.delete("/groups/{group_id}/hours", status_code=status.HTTP_204_NO_CONTENT)
def delete_group_hours(group_id: GroupId, caller: AgentDep, rt: RuntimeDep) -> None:
    """The group follows the account's hours again."""
    hours.set_group_hours(rt, caller, group_id, None)


def _days(body: HoursIn) -> dict[str, list[str]]:
    return {str(day): openings for day, openings in body.weekly.items()}


def _answer(rt: Runtime, stored: dict[str, Any] | None) -> HoursAnswer:
    now = hours.opening(hours.read_hours(stored), rt.clock.now())
    return HoursAnswer(
        hours=HoursOut.model_validate(stored) if stored is not None else None,
        open=now.open,
        back_at=now.back_at,
    )
