"""An agent's devices over REST: status and heartbeat (the WebSocket side comes with live
presence)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path

from frontdesk.api.deps import AgentDep, RuntimeDep
from frontdesk.api.schemas.presence import DeviceKey, DeviceOut, HeartbeatIn, PresenceOut, StatusIn
from frontdesk.service import accounts, presence
from frontdesk.service.runtime import AgentCaller, Runtime
from frontdesk.store.models import Device

router = APIRouter(tags=["presence"])


@router.put("/me/status")
def put_status(body: StatusIn, caller: AgentDep, rt: RuntimeDep) -> PresenceOut:
    """Set the status of one device (``device_id``), or of every device of yours."""
    change = presence.set_status(rt, caller, status=body.status, device_key=body.device_id)
    return _presence_out(rt, caller, change.devices)


@router.get("/me/status")
def get_status(caller: AgentDep, rt: RuntimeDep) -> PresenceOut:
    return _presence_out(rt, caller, presence.list_devices(rt, caller))


@router.post("/me/devices/{device_id}/heartbeat")
def heartbeat(
    device_id: Annotated[DeviceKey, Path()],
    body: HeartbeatIn,
    caller: AgentDep,
    rt: RuntimeDep,
) -> PresenceOut:
    """REST presence for a client without a socket: call at least every
    ``agent_device_timeout`` seconds, or the device stops counting."""
    change = presence.heartbeat(
        rt, caller, device_key=device_id, kind=body.kind, status=body.status, active=body.active
    )
    return _presence_out(rt, caller, change.devices)


def device_out(device: Device, *, now: datetime) -> DeviceOut:
    return DeviceOut(
        device_id=device.device_key,
        kind=device.kind,
        status=device.status,
        last_seen_at=device.last_seen_at,
        online=presence.device_is_online(device, now=now),
        idle=presence.device_is_idle(device, now=now),
        last_active_at=device.last_active_at,
    )


def _presence_out(rt: Runtime, caller: AgentCaller, devices: list[Device]) -> PresenceOut:
    now = rt.clock.now()
    out = [device_out(d, now=now) for d in devices]
    state = presence.presence_state(True, devices, now=now)
    return PresenceOut(
        online=state == "online",
        state=state,
        idle_after=accounts.agent_idle_after(rt, caller),
        devices=out,
    )
