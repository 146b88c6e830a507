"""Agent devices over REST: status changes and heartbeats, and who is online now.

The rule itself is ``frontdesk.core.presence``; this module feeds it the stored devices.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from frontdesk.core.model import DeviceKind, DeviceStatus
from frontdesk.core.presence import DeviceFacts, agent_is_online
from frontdesk.service.runtime import AgentCaller, Runtime
from frontdesk.store.models import Agent, Device


def set_status(
    rt: Runtime, caller: AgentCaller, *, status: DeviceStatus, device_key: str | None
) -> list[Device]:
    """Set one device's status (creating it as a web device), or every device's."""
    now = rt.clock.now()
    with rt.database.write() as session:
        if device_key is None:
            session.execute(
                update(Device).where(Device.agent_id == caller.agent_id).values(status=status)
            )
        else:
            device = _device(session, caller, device_key)
            if device is None:
                session.add(
                    Device(
                        agent_id=caller.agent_id,
                        device_key=device_key,
                        kind=DeviceKind.WEB,
                        status=status,
                        last_seen_at=now,
                    )
                )
            else:
                device.status = status
                device.last_seen_at = now
        session.flush()
        return list(
            session.scalars(
                select(Device).where(Device.agent_id == caller.agent_id).order_by(Device.id)
            )
        )


def heartbeat(
    rt: Runtime, caller: AgentCaller, *, device_key: str, kind: DeviceKind, status: DeviceStatus
) -> Device:
    now = rt.clock.now()
    with rt.database.write() as session:
        device = _device(session, caller, device_key)
        if device is None:
            device = Device(agent_id=caller.agent_id, device_key=device_key)
            session.add(device)
        device.kind = kind
        device.status = status
        device.last_seen_at = now
        return device


def list_devices(rt: Runtime, caller: AgentCaller) -> list[Device]:
    with rt.database.read() as session:
        return list(
            session.scalars(
                select(Device).where(Device.agent_id == caller.agent_id).order_by(Device.id)
            )
        )


def online_agent_ids(
    session: Session, rt: Runtime, *, account_id: int, among: Collection[int] | None = None
) -> frozenset[int]:
    """The agents of an account who are online now (SPEC section 3)."""
    query = (
        select(Agent.id, Device.status, Device.last_seen_at)
        .join(Device, Device.agent_id == Agent.id)
        .where(Agent.account_id == account_id, Agent.active.is_(True))
    )
    if among is not None:
        query = query.where(Agent.id.in_(among))
    devices: dict[int, list[DeviceFacts]] = defaultdict(list)
    for agent_id, status, last_seen_at in session.execute(query):
        devices[agent_id].append(DeviceFacts(status=status, last_seen_at=last_seen_at))
    now = rt.clock.now()
    return frozenset(
        agent_id
        for agent_id, facts in devices.items()
        if agent_is_online(active=True, devices=facts, now=now, timeout=rt.agent_device_timeout)
    )


def device_is_online(device: Device, *, now: datetime, rt: Runtime) -> bool:
    return agent_is_online(
        active=True,
        devices=[DeviceFacts(status=device.status, last_seen_at=device.last_seen_at)],
        now=now,
        timeout=rt.agent_device_timeout,
    )


def _device(session: Session, caller: AgentCaller, device_key: str) -> Device | None:
    return session.scalar(
        select(Device).where(Device.agent_id == caller.agent_id, Device.device_key == device_key)
    )
