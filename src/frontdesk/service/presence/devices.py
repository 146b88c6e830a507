"""An agent's devices (docs/presence.md): a status, a REST heartbeat, a socket's status
frame, each re-checking whether the agent is online (``settle_agent``) and recording the
transition when it turned."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from frontdesk.core.model import DeviceKind, DeviceStatus
from frontdesk.core.presence import (
    DeviceFacts,
    PresenceChange,
    agent_is_away,
    agent_is_online,
    agent_transition,
    device_is_connected,
)
from frontdesk.core.presence import device_is_idle as core_device_is_idle
from frontdesk.errors import Conflict
from frontdesk.service import notifications
from frontdesk.service.presence.recording import PresenceEvent, announced, record_transition
from frontdesk.service.runtime import AgentCaller, Runtime
from frontdesk.store.models import Account, Agent, Device

if TYPE_CHECKING:
    from frontdesk.service.presence.sockets import DeviceRow


# A device, loaded (``Device``) or as the socket batches read it (``DeviceRow``).
# A device, loaded (``Device``) or as the socket batches read it (``DeviceRow``).
D = TypeVar("D", "Device", "DeviceRow")


@dataclass(frozen=True, slots=True)
class DeviceChange:
    devices: list[Device]
    events: list[PresenceEvent]


def set_status(
    rt: Runtime, caller: AgentCaller, *, status: DeviceStatus, device_key: str | None
) -> DeviceChange:
    """Set one device's status (creating it as a web device, which this call also keeps
    connected like a heartbeat), or the status of every device of the agent."""
    with rt.database.write() as session:
        now = rt.clock.now()  # once the write has begun (docs/presence.md, one clock)
        lapsed = _record_lapse(session, rt, caller, now)
        if device_key is None:
            session.execute(
                update(Device).where(Device.agent_id == caller.agent_id).values(status=status)
            )
        else:
            device = _device(session, caller.agent_id, device_key) or _new_device(
                session, rt, caller.agent_id, device_key, DeviceKind.WEB, now
            )
            device.status = status
            _heartbeat(device, now, rt.agent_device_timeout)
        return _settle_devices(session, rt, caller, now, lapsed)


def heartbeat(
    rt: Runtime,
    caller: AgentCaller,
    *,
    device_key: str,
    kind: DeviceKind,
    status: DeviceStatus,
    active: bool = False,
) -> DeviceChange:
    """``active``: the agent did something on the device since its last heartbeat."""
    with rt.database.write() as session:
        now = rt.clock.now()  # once the write has begun (docs/presence.md, one clock)
        lapsed = _record_lapse(session, rt, caller, now)
        device = _device(session, caller.agent_id, device_key) or _new_device(
            session, rt, caller.agent_id, device_key, kind, now
        )
        device.kind = kind
        device.status = status
        _heartbeat(device, now, rt.agent_device_timeout)
        if active:
            _mark_active(session, caller, device, now)
        return _settle_devices(session, rt, caller, now, lapsed)


def socket_status(
    rt: Runtime, caller: AgentCaller, *, device_key: str, status: DeviceStatus
) -> DeviceChange:
    """A status frame from a device's socket."""
    with rt.database.write() as session:
        now = rt.clock.now()  # once the write has begun (docs/presence.md, one clock)
        lapsed = _record_lapse(session, rt, caller, now)
        device = _device(session, caller.agent_id, device_key)
        if device is not None:
            device.status = status
            device.last_seen_at = now
        return _settle_devices(session, rt, caller, now, lapsed)


def device_active(rt: Runtime, caller: AgentCaller, *, device_key: str) -> DeviceChange:
    """The agent did something on this device (typed, clicked, brought the tab into view),
    as its client reports it: the device is not idle for ``agent_idle_after`` from now, and
    an agent who was away is online again (docs/reachability.md)."""
    with rt.database.write() as session:
        now = rt.clock.now()  # once the write has begun (docs/presence.md, one clock)
        lapsed = _record_lapse(session, rt, caller, now)
        device = _device(session, caller.agent_id, device_key)
        if device is not None:
            _mark_active(session, caller, device, now)
        return _settle_devices(session, rt, caller, now, lapsed)


def _mark_active(session: Session, caller: AgentCaller, device: Device, now: datetime) -> None:
    idle_after = session.scalar(
        select(Account.agent_idle_after).where(Account.id == caller.account_id)
    )
    device.last_active_at = now
    device.idle_at = _idle_at(now, idle_after)


def idle_after_changed(
    session: Session, rt: Runtime, account_id: int, idle_after: float | None
) -> list[PresenceEvent]:
    """The account's ``agent_idle_after`` changed: each device that reports activity turns
    idle that long after its last activity, but not before now (nobody is made away in
    the past, before the setting said so); its agents are settled and what they recorded
    is described for the caller to announce."""
    now = rt.clock.now()
    agents = session.scalars(
        select(Agent).where(Agent.account_id == account_id).order_by(Agent.id)
    ).all()
    events: list[PresenceEvent] = []
    for agent in agents:
        devices = devices_of(session, agent.id)
        for device in devices:
            if device.last_active_at is not None:
                idle_at = _idle_at(device.last_active_at, idle_after)
                device.idle_at = None if idle_at is None else max(idle_at, now)
        session.flush()
        if (event := settle_agent(session, rt, agent, now, devices)) is not None:
            events.append(event)
    return announced(session, rt, events)


def _idle_at(active_at: datetime, idle_after: float | None) -> datetime | None:
    return None if idle_after is None else active_at + timedelta(seconds=idle_after)


def device_looking(rt: Runtime, caller: AgentCaller, *, device_key: str, looking: bool) -> None:
    """A visibility frame from a device's socket: whether the agent can see it (a dashboard
    tab in view). No presence transition: an agent with a hidden tab is online all the
    same; only the unserved-conversation reminder asks (docs/push.md)."""
    with rt.database.write() as session:
        session.execute(
            update(Device)
            .where(Device.agent_id == caller.agent_id, Device.device_key == device_key)
            .values(looking=looking)
        )


def list_devices(rt: Runtime, caller: AgentCaller) -> list[Device]:
    with rt.database.read() as session:
        return devices_of(session, caller.agent_id)


def devices_by_agent(rt: Runtime, agent_ids: Collection[int]) -> dict[int, list[Device]]:
    with rt.database.read() as session:
        devices: dict[int, list[Device]] = {agent_id: [] for agent_id in agent_ids}
        for device in session.scalars(
            select(Device).where(Device.agent_id.in_(list(agent_ids))).order_by(Device.id)
        ):
            devices[device.agent_id].append(device)
        return devices


def device_is_online(device: Device, *, now: datetime) -> bool:
    return agent_is_online(active=True, devices=[_facts(device)], now=now)


def device_is_idle(device: Device, *, now: datetime) -> bool:
    """Status online and connected, but idle: what makes an agent away."""
    facts = _facts(device)
    return (
        device.status is DeviceStatus.ONLINE
        and device_is_connected(facts, now=now)
        and core_device_is_idle(facts, now=now)
    )


def presence_state(active: bool, devices: Collection[Device], *, now: datetime) -> str:
    """``online``, ``away`` (only idle devices would make the agent online) or
    ``offline``, as the widget and the rules count it."""
    facts = [_facts(d) for d in devices]
    if agent_is_online(active=active, devices=facts, now=now):
        return "online"
    return "away" if agent_is_away(active=active, devices=facts, now=now) else "offline"


def settle_agent(
    session: Session,
    rt: Runtime,
    agent: Agent,
    now: datetime,
    devices: Iterable[Device] | None = None,
) -> PresenceEvent | None:
    """Record the agent's transition, if the facts show one (also after a deactivation).
    ``devices``: all of the agent's devices, if the caller has them loaded already."""
    if devices is None:
        devices = devices_of(session, agent.id)
    transition = agent_transition(
        was_online=agent.online,
        active=agent.active,
        devices=[_facts(d) for d in devices],
        now=now,
    )
    if transition is None:
        return None
    agent.online = transition.change is PresenceChange.AGENT_ONLINE
    event = record_transition(session, agent.account_id, transition, agent_id=agent.id)
    notifications.presence_recorded(session, rt, [event])
    return event


def settle_and_describe(
    session: Session, rt: Runtime, agent: Agent, now: datetime
) -> list[PresenceEvent]:
    """``settle_agent`` for callers outside this module (an agent deactivated or
    reactivated), with what it recorded described and announced after the commit."""
    event = settle_agent(session, rt, agent, now)
    return announced(session, rt, [event] if event else [])


def _record_lapse(
    session: Session, rt: Runtime, caller: AgentCaller, now: datetime
) -> list[PresenceEvent]:
    """Before a device changes: a lease that ran out unnoticed (the sweep has not come by
    yet) is recorded first, at its end, so that renewing it now counts as coming back
    rather than as a lease that never ended."""
    event = settle_agent(session, rt, session.get_one(Agent, caller.agent_id), now)
    return [event] if event else []


def _settle_devices(
    session: Session,
    rt: Runtime,
    caller: AgentCaller,
    now: datetime,
    lapsed: list[PresenceEvent],
) -> DeviceChange:
    session.flush()
    agent = session.get_one(Agent, caller.agent_id)
    event = settle_agent(session, rt, agent, now)
    return DeviceChange(
        devices=devices_of(session, caller.agent_id),
        events=announced(session, rt, lapsed + ([event] if event else [])),
    )


def _heartbeat(device: Device, now: datetime, lease: timedelta) -> None:
    device.last_seen_at = now
    device.last_heartbeat_at = now
    device.connected_until = max(device.connected_until, now + lease)


def _facts(device: Device) -> DeviceFacts:
    return DeviceFacts(
        status=device.status, connected_until=device.connected_until, idle_at=device.idle_at
    )


def _device(session: Session, agent_id: int, device_key: str) -> Device | None:
    return session.scalar(
        select(Device).where(Device.agent_id == agent_id, Device.device_key == device_key)
    )


def _new_device(
    session: Session,
    rt: Runtime,
    agent_id: int,
    device_key: str,
    kind: DeviceKind,
    now: datetime,
) -> Device:
    """A new device of the agent, in the place of the ones longest disconnected when it has
    ``max_devices_per_agent`` already; refused while all of those are connected."""
    devices = devices_of(session, agent_id)
    over = len(devices) + 1 - rt.settings.max_devices_per_agent
    if over > 0:
        gone = longest_disconnected(devices, now)
        if len(gone) < over:
            raise Conflict(
                f"This agent has {len(devices)} devices connected, the most it may have; "
                "close one (a tab, an app) or wait for one to time out.",
                code="too_many_devices",
            )
        for device in gone[:over]:
            session.delete(device)
        session.flush()
    device = Device(
        agent_id=agent_id,
        device_key=device_key,
        kind=kind,
        status=DeviceStatus.OFFLINE,
        last_seen_at=now,
        connected_until=now,
    )
    session.add(device)
    return device


def longest_disconnected(devices: Iterable[D], now: datetime) -> list[D]:
    """The devices with no socket and no lease left, the longest gone first."""
    gone = [d for d in devices if d.socket_id is None and d.connected_until <= now]
    return sorted(gone, key=lambda d: d.last_seen_at)


def devices_of(session: Session, agent_id: int) -> list[Device]:
    return list(
        session.scalars(select(Device).where(Device.agent_id == agent_id).order_by(Device.id))
    )
