"""Agents of the account, the caller's own profile and own notification choices."""

from __future__ import annotations

from functools import partial
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Path, status

from frontdesk.api.deps import AgentDep, PasswordChecksDep, RuntimeDep
from frontdesk.api.routes.presence import device_out
from frontdesk.api.schemas.agents import (
    AgentIn,
    AgentOut,
    AgentPatch,
    AgentPresenceOut,
    EmailBounceOut,
    InvitedAgentOut,
    MeOut,
    MePatch,
    MyNotifications,
    MyNotificationsPatch,
)
from frontdesk.api.schemas.common import MAX_ID
from frontdesk.service import agents, bounces, outbox, presence
from frontdesk.service.runtime import Runtime
from frontdesk.store.models import Agent

router = APIRouter(tags=["agents"])
AgentId = Annotated[int, Path(ge=1, le=MAX_ID)]


def agent_out(agent: Agent) -> AgentOut:
    return AgentOut(
        id=agent.id,
        name=agent.name,
        email=agent.email,
        role=agent.role,
        locale=agent.locale,
        time_zone=agent.time_zone,
        active=agent.active,
        email_confirmed=agent.email_confirmed_at is not None,
        group_ids=[g.id for g in agent.groups],
        created_at=agent.created_at,
    )


@router.post("/agents", status_code=status.HTTP_201_CREATED)
async def invite_agent(
    body: AgentIn, caller: AgentDep, rt: RuntimeDep, checks: PasswordChecksDep
) -> InvitedAgentOut:
    """Add an agent. Without a password, one is generated and returned once."""
    invited = await checks.run(
        partial(
            agents.invite_agent,
            rt,
            caller,
            name=body.name,
            email=body.email,
            role=body.role,
            locale=body.locale,
            time_zone=body.time_zone,
            password=body.password,
            group_ids=body.group_ids,
        )
    )
    return InvitedAgentOut(
        **agent_out(invited.agent).model_dump(), initial_password=invited.initial_password
    )


@router.get("/agents")
def list_agents(caller: AgentDep, rt: RuntimeDep) -> list[AgentPresenceOut]:
    """The agents of the account, each with its devices and whether it is online."""
    listed = agents.list_agents(rt, caller)
    devices = presence.devices_by_agent(rt, [a.id for a in listed])
    now = rt.clock.now()
    result = []
    for agent in listed:
        device_outs = [device_out(d, now=now) for d in devices[agent.id]]
        result.append(
            AgentPresenceOut(
                **agent_out(agent).model_dump(),
                online=agent.active and any(d.online for d in device_outs),
                state=presence.presence_state(agent.active, devices[agent.id], now=now),
                devices=device_outs,
            )
        )
    return result


@router.patch("/agents/{agent_id}")
def patch_agent(agent_id: AgentId, body: AgentPatch, caller: AgentDep, rt: RuntimeDep) -> AgentOut:
    """Change an agent. Deactivating one takes it offline at once and closes its sockets."""
    return agent_out(agents.update_agent(rt, caller, agent_id, **body.sent()))


@router.get("/me")
def get_me(caller: AgentDep, rt: RuntimeDep) -> MeOut:
    """The profile; ``email_bounced`` tells whether e-mail to the address comes back."""
    return _me_out(agents.get_me(rt, caller), rt)


@router.patch("/me")
async def patch_me(
    body: MePatch, caller: AgentDep, rt: RuntimeDep, checks: PasswordChecksDep
) -> MeOut:
    """Change the profile. A new e-mail address is the new login."""
    fields = body.sent()

    def patching() -> MeOut:
        return _me_out(agents.update_me(rt, caller, **fields), rt)

    if "email" in fields or "password" in fields:  # checks the current password
        return await checks.run(patching)
    return await anyio.to_thread.run_sync(patching)


@router.post("/me/confirmation", status_code=status.HTTP_202_ACCEPTED)
def resend_confirmation(caller: AgentDep, rt: RuntimeDep) -> None:
    """Send the link that confirms your address once more (at most once a minute; 409
    ``already_confirmed`` when it is)."""
    outbox.resend_confirmation(rt, caller)


@router.get("/me/notifications")
def get_my_notifications(caller: AgentDep, rt: RuntimeDep) -> MyNotifications:
    return _notifications_out(agents.get_me(rt, caller))


@router.patch("/me/notifications")
def patch_my_notifications(
    body: MyNotificationsPatch, caller: AgentDep, rt: RuntimeDep
) -> MyNotifications:
    return _notifications_out(agents.update_my_notifications(rt, caller, **body.sent()))


def _me_out(agent: Agent, rt: Runtime) -> MeOut:
    bounce = bounces.bounce_of_address(rt, agent_id=agent.id, email=agent.email)
    return MeOut(
        **agent_out(agent).model_dump(),
        account_id=agent.account_id,
        email_bounced=EmailBounceOut(
            email=bounce.email, at=bounce.at, status=bounce.status, bounce_text=bounce.bounce_text
        )
        if bounce
        else None,
    )


def _notifications_out(agent: Agent) -> MyNotifications:
    return MyNotifications(
        offline_message_email=agent.offline_message_email,
        missed_conversation_email=agent.missed_conversation_email,
        offline_message_push=agent.offline_message_push,
        missed_conversation_push=agent.missed_conversation_push,
        unserved_conversation_push=agent.unserved_conversation_push,
    )
