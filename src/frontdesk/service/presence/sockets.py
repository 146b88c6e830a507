"""Sockets opening and closing, recorded in batches (a proxy restart opens thousands at
once): each agent's devices read for the whole batch, settled once, and written in a
statement per kind of row; and the renewal of the leases the sockets of this process hold."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from frontdesk.core.model import DeviceKind, DeviceStatus
from frontdesk.core.presence import DeviceFacts, PresenceChange, Transition, agent_transition
from frontdesk.service import notifications
from frontdesk.service.presence.devices import DeviceChange, list_devices, longest_disconnected
from frontdesk.service.presence.recording import AGENT_PRESENCE_CHANGED, PresenceEvent, announced
from frontdesk.service.presence.visitors import visitor_seen_at
from frontdesk.service.runtime import AgentCaller, Runtime, VisitorCaller
from frontdesk.store.among import among, among_texts
from frontdesk.store.models import Agent, Device, Visitor, table_of
from frontdesk.store.plain import PlainStatement


def socket_opened(
    rt: Runtime,
    caller: AgentCaller,
    *,
    device_key: str,
    kind: DeviceKind,
    status: DeviceStatus,
    socket_id: str,
) -> DeviceChange:
    """One socket opened (``sockets_changed`` records them in batches)."""
    events = sockets_changed(rt, [SocketOpened(caller, device_key, kind, status, socket_id)])
    return DeviceChange(devices=list_devices(rt, caller), events=events)


def socket_closed(
    rt: Runtime, caller: AgentCaller, *, device_key: str, socket_id: str
) -> DeviceChange:
    """The socket is gone: the device stays connected only as long as its REST heartbeat
    says. A socket that a reconnect has replaced changes nothing."""
    events = sockets_changed(rt, [SocketClosed(caller, device_key, socket_id)])
    return DeviceChange(devices=list_devices(rt, caller), events=events)


@dataclass(frozen=True, slots=True)
class SocketOpened:
    caller: AgentCaller
    device_key: str
    kind: DeviceKind
    status: DeviceStatus
    socket_id: str


@dataclass(frozen=True, slots=True)
class SocketClosed:
    caller: AgentCaller
    device_key: str
    socket_id: str


@dataclass(frozen=True, slots=True)
class VisitorSocket:
    """A visitor's socket opened or closed: a sign of life (``visitor_seen``)."""

    caller: VisitorCaller


def sockets_changed(
    rt: Runtime, changes: Sequence[SocketOpened | SocketClosed | VisitorSocket]
) -> list[PresenceEvent]:
    """``socket_opened``, ``socket_closed`` and ``visitor_seen`` for many sockets in one
    transaction, each agent settled once for all of them: what a storm of sockets opening
    or closing at once (a proxy restart) is recorded with (frontdesk.realtime.keeper
    batches them). What it needs is read in a few queries for the whole batch."""
    visitor_ids = sorted({c.caller.visitor_id for c in changes if isinstance(c, VisitorSocket)})
    agent_changes = [c for c in changes if not isinstance(c, VisitorSocket)]
    with rt.database.write() as session:
        seen: list[PresenceEvent] = []
        # Loaded in one query, locked in one order (as a visitor message locks them); each
        # is then settled from the session's identity map.
        visitors = session.scalars(
            select(Visitor)
            .where(Visitor.id.in_(visitor_ids))
            .order_by(Visitor.id)
            .with_for_update()
        ).all()
        # Read with the visitors locked and the write begun (docs/presence.md, one clock):
        # an arrival is never stamped after a message committed before it.
        now = rt.clock.now()
        for visitor in visitors:
            seen += visitor_seen_at(session, rt, visitor, now)
        if agent_changes:
            seen += _agent_sockets_changed(session, rt, agent_changes, now)
        return announced(session, rt, seen)


def _agent_sockets_changed(
    session: Session,
    rt: Runtime,
    agent_changes: Sequence[SocketOpened | SocketClosed],
    now: datetime,
) -> list[PresenceEvent]:
    """The agents' part of ``sockets_changed``, in plain statements: each agent's devices
    read in one query for all, changed in memory, each agent settled before (a lease that
    ran out unnoticed) and after, and written in one statement per kind of row."""
    callers = {change.caller.agent_id: change.caller for change in agent_changes}
    connection = session.connection()
    agents = {row[0]: _AgentRow(*row) for row in _AGENTS.rows(connection, agent_ids=list(callers))}
    devices: dict[int, dict[str, DeviceRow]] = {agent_id: {} for agent_id in agents}
    for row in _DEVICES_OF_AGENTS.rows(connection, agent_ids=list(agents)):
        loaded = DeviceRow(*row)
        devices[loaded.agent_id][loaded.device_key] = loaded
    transitions: list[tuple[_AgentRow, Transition]] = []
    removed: list[int] = []  # devices that made room for new ones
    for agent in agents.values():  # a lease that ran out unnoticed first
        _settle_row(agent, devices[agent.id].values(), now, transitions)
    for change in agent_changes:
        own = devices.get(change.caller.agent_id)
        if own is None:  # the agent is gone (its account was deleted)
            continue
        device = own.get(change.device_key)
        if isinstance(change, SocketOpened):
            if device is None:
                # Room for it, as _new_device makes it (the sockets an agent holds open
                # are bounded on their own: max_sockets_per_agent).
                over = len(own) + 1 - rt.settings.max_devices_per_agent
                for gone in longest_disconnected(own.values(), now)[: max(over, 0)]:
                    del own[gone.device_key]
                    if gone.id is not None:
                        removed.append(gone.id)
                device = own[change.device_key] = DeviceRow(
                    id=None,
                    agent_id=change.caller.agent_id,
                    device_key=change.device_key,
                    kind=change.kind,
                    status=DeviceStatus.OFFLINE,
                    last_seen_at=now,
                    connected_until=now,
                    last_heartbeat_at=None,
                    socket_id=None,
                    idle_at=None,
                )
            device.kind = change.kind
            device.status = change.status
            device.socket_id = change.socket_id
            device.last_seen_at = now
            device.connected_until = max(device.connected_until, now + rt.agent_device_timeout)
            device.changed = True
        elif device is not None and device.socket_id == change.socket_id:
            # The socket is gone: connected only as long as its REST heartbeat says.
            device.socket_id = None
            device.last_seen_at = now
            heartbeat_lease = (
                device.last_heartbeat_at + rt.agent_device_timeout
                if device.last_heartbeat_at
                else now
            )
            device.connected_until = max(now, heartbeat_lease)
            device.changed = True
    for agent in agents.values():
        _settle_row(agent, devices[agent.id].values(), now, transitions)
    _write_rows(connection, devices.values(), transitions)
    if removed:
        connection.execute(delete(_devices).where(_devices.c.id.in_(removed)))
    events = [
        PresenceEvent(
            account_id=agent.account_id,
            change=transition.change,
            at=transition.at,
            agent_id=agent.id,
        )
        for agent, transition in transitions
    ]
    notifications.presence_recorded(session, rt, events)
    return events


@dataclass(slots=True)
class _AgentRow:
    """What settling an agent reads of it (``sockets_changed``, in plain statements)."""

    id: int
    account_id: int
    online: bool
    active: bool


@dataclass(slots=True)
class DeviceRow:
    """A device as ``sockets_changed`` reads and changes it; ``id`` None: a new one."""

    id: int | None
    agent_id: int
    device_key: str
    kind: DeviceKind
    status: DeviceStatus
    last_seen_at: datetime
    connected_until: datetime
    last_heartbeat_at: datetime | None
    socket_id: str | None
    idle_at: datetime | None  # read only: activity is written elsewhere (devices.py)
    changed: bool = False


def _settle_row(
    agent: _AgentRow,
    devices: Iterable[DeviceRow],
    now: datetime,
    transitions: list[tuple[_AgentRow, Transition]],
) -> None:
    """``settle_agent`` for a row: its transition, if the facts show one, added to
    ``transitions`` and to the row."""
    transition = agent_transition(
        was_online=agent.online,
        active=agent.active,
        devices=[DeviceFacts(d.status, d.connected_until, d.idle_at) for d in devices],
        now=now,
    )
    if transition is not None:
        agent.online = transition.change is PresenceChange.AGENT_ONLINE
        transitions.append((agent, transition))


def _write_rows(
    connection: Connection,
    devices: Iterable[dict[str, DeviceRow]],
    transitions: list[tuple[_AgentRow, Transition]],
) -> None:
    """What ``sockets_changed`` changed of agents and devices, and the transitions, in one
    statement each."""
    new_devices: list[dict[str, object]] = []
    changed_devices: list[dict[str, object]] = []
    for own in devices:
        for device in own.values():
            if not device.changed:
                continue
            values = {
                "new_kind": device.kind,
                "new_status": device.status,
                "seen": device.last_seen_at,
                "until": device.connected_until,
                "socket": device.socket_id,
            }
            if device.id is None:
                new_devices.append(values | {"owner": device.agent_id, "key": device.device_key})
            else:
                changed_devices.append(values | {"device_id": device.id})
    if changed_devices:
        _UPDATE_DEVICE.run_many(connection, changed_devices)
    if new_devices:
        _INSERT_DEVICE.run_many(connection, new_devices)
    if transitions:
        # The row holds the agent's final state, however many transitions it had.
        changed_agents = {agent.id: agent for agent, _ in transitions}
        _SET_AGENT_ONLINE.run_many(
            connection,
            [
                {"agent_id": agent.id, "now_online": agent.online}
                for agent in changed_agents.values()
            ],
        )
        AGENT_PRESENCE_CHANGED.run_many(
            connection,
            [
                {
                    "account_id": agent.account_id,
                    "agent_id": agent.id,
                    "change": transition.change,
                    "at": transition.at,
                }
                for agent, transition in transitions
            ],
        )


_agents = table_of(Agent)


_devices = table_of(Device)


_AGENTS = PlainStatement(
    select(_agents.c.id, _agents.c.account_id, _agents.c.online, _agents.c.active).where(
        _agents.c.id.in_(bindparam("agent_ids", expanding=True))
    )
)


_DEVICES_OF_AGENTS = PlainStatement(
    select(
        _devices.c.id,
        _devices.c.agent_id,
        _devices.c.device_key,
        _devices.c.kind,
        _devices.c.status,
        _devices.c.last_seen_at,
        _devices.c.connected_until,
        _devices.c.last_heartbeat_at,
        _devices.c.socket_id,
        _devices.c.idle_at,
    )
    .where(_devices.c.agent_id.in_(bindparam("agent_ids", expanding=True)))
    .order_by(_devices.c.id)
)


# What sockets_changed writes of a device, new or not.
_DEVICE_VALUES: dict[str, BindParameter[Any]] = {
    "kind": bindparam("new_kind"),
    "status": bindparam("new_status"),
    "last_seen_at": bindparam("seen"),
    "connected_until": bindparam("until"),
    "socket_id": bindparam("socket"),
}


_UPDATE_DEVICE = PlainStatement(
    update(_devices).where(_devices.c.id == bindparam("device_id")).values(**_DEVICE_VALUES)
)


_INSERT_DEVICE = PlainStatement(
    insert(_devices).values(
        agent_id=bindparam("owner"), device_key=bindparam("key"), looking=True, **_DEVICE_VALUES
    )
)


_SET_AGENT_ONLINE = PlainStatement(
    update(_agents)
    .where(_agents.c.id == bindparam("agent_id"))
    .values(online=bindparam("now_online"))
)


def renew_sockets(
    rt: Runtime, *, device_sockets: Collection[str], visitor_ids: Collection[int]
) -> None:
    """Extend the leases of the sockets this process holds. Called every third of the
    shortest lease, so an open socket never lapses while its process lives."""
    now = rt.clock.now()
    with rt.database.write() as session:
        if device_sockets:
            # The lists as one parameter each (store.among), and no rows fetched back to
            # match the session's objects (it holds none): with 10,000 sockets, the ORM's
            # placeholders and matching took a thread 20-60 ms of the interpreter every
            # ten seconds, in which the event loop's fan-outs waited for it.
            session.execute(
                update(Device)
                .where(among_texts(Device.socket_id, device_sockets))
                .values(connected_until=now + rt.agent_device_timeout, last_seen_at=now)
                .execution_options(synchronize_session=False)
            )
        if visitor_ids:
            session.execute(
                update(Visitor)
                .where(among(Visitor.id, visitor_ids))
                .values(present_until=now + rt.visitor_left_after)
                .execution_options(synchronize_session=False)
            )
