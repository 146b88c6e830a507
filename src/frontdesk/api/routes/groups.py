"""PRO groups."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from frontdesk.api.deps import AgentDep, RuntimeDep
from frontdesk.api.schemas.common import MAX_ID
from frontdesk.api.schemas.groups import GroupIn, GroupOut, GroupPatch
from frontdesk.service import groups
from frontdesk.store.models import Group

router = APIRouter(tags=["groups"])
GroupId = Annotated[int, Path(ge=1, le=MAX_ID)]


def group_out(group: Group) -> GroupOut:
    return GroupOut(id=group.id, name=group.name, agent_ids=[a.id for a in group.members])


@router.post("/groups", status_code=status.HTTP_201_CREATED)
def create_group(body: GroupIn, caller: AgentDep, rt: RuntimeDep) -> GroupOut:
    return group_out(groups.create_group(rt, caller, name=body.name, agent_ids=body.agent_ids))


@router.get("/groups")
def list_groups(caller: AgentDep, rt: RuntimeDep) -> list[GroupOut]:
    return [group_out(g) for g in groups.list_groups(rt, caller)]


@router.patch("/groups/{group_id}")
def patch_group(group_id: GroupId, body: GroupPatch, caller: AgentDep, rt: RuntimeDep) -> GroupOut:
    return group_out(groups.update_group(rt, caller, group_id, **body.sent()))


@router.delete("/groups/{group_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_group(group_id: GroupId, caller: AgentDep, rt: RuntimeDep) -> None:
    """Delete a group; its conversations fall back to the whole account."""
    groups.delete_group(rt, caller, group_id)
