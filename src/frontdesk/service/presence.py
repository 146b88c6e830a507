"""Presence in the store: device and visitor leases, and the durable history of who was
online or on the website when (docs/presence.md).

Each write here re-checks the rule of ``frontdesk.core.presence`` for the agent or visitor it
touched and records a transition in ``presence_changes`` when the state turned. Leases that
simply run out change nobody's row, so ``sweep`` finds them and records each transition at
the moment the lease ended, not when the sweep happened to notice.

Every recorded transition is handed, in its transaction, to the notification engine's one
entry point from presence, ``frontdesk.service.notifications.presence_recorded``: an agent
coming online calls off offline notifications, a visitor leaving may open a
missed-conversation notification. So any sign of life that records an earlier, unnoticed
leaving first (a visitor message, a reconnect) may open one; that is the rule, not a side
effect.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, TypeVar

from sqlalchemy import (
    BindParameter,
    Connection,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from frontdesk.core.model import ConversationStatus, DeviceKind, DeviceStatus
from frontdesk.core.presence import (
    DeviceFacts,
    PresenceChange,
    Transition,
    agent_is_online,
    agent_transition,
    visitor_transition,
)
from frontdesk.errors import Conflict
from frontdesk.service import notifications
from frontdesk.service.events import PresenceChanged
from frontdesk.service.runtime import AgentCaller, Runtime, VisitorCaller
from frontdesk.service.scope import online_agents_of_accounts
from frontdesk.store.models import Agent, Conversation, Device, PresenceChangeRow, Visitor, table_of
from frontdesk.store.plain import PlainStatement

# A device, loaded (``Device``) or as the socket batches read it (``_DeviceRow``).
D = TypeVar("D", "Device", "_DeviceRow")

# How many agents or visitors one sweep transaction settles at most; the next sweep
# continues, so a burst of expiries never makes one long write transaction.
SWEEP_BATCH = 500
_visitors = table_of(Visitor)


@dataclass(frozen=True, slots=True)
class PresenceEvent:
    """A recorded transition, for the live side to announce, with what the announcement
    needs read in the same transaction: for an agent, who of the account is online now (so
    each widget can recompute its status); for a visitor, its open conversations (leaving
    and returning are events of the conversation)."""

    account_id: int
    change: PresenceChange
    at: datetime
    agent_id: int | None = None
    visitor_id: int | None = None
    online_agent_ids: frozenset[int] = frozenset()
    conversation_ids: tuple[int, ...] = ()

    @property
    def online(self) -> bool:
        return self.change in (PresenceChange.AGENT_ONLINE, PresenceChange.VISITOR_ARRIVED)


@dataclass(frozen=True, slots=True)
class DeviceChange:
    devices: list[Device]
    events: list[PresenceEvent]


# --- agent devices ----------------------------------------------------------------------


def set_status(
    rt: Runtime, caller: AgentCaller, *, status: DeviceStatus, device_key: str | None
) -> DeviceChange:
    """Set one device's status (creating it as a web device, which this call also keeps
    connected like a heartbeat), or the status of every device of the agent."""
    now = rt.clock.now()
    with rt.database.write() as session:
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
            _heartbeat(device, now, rt.device_lease)
        return _settle_devices(session, rt, caller, now, lapsed)


def heartbeat(
    rt: Runtime, caller: AgentCaller, *, device_key: str, kind: DeviceKind, status: DeviceStatus
) -> DeviceChange:
    now = rt.clock.now()
    with rt.database.write() as session:
        lapsed = _record_lapse(session, rt, caller, now)
        device = _device(session, caller.agent_id, device_key) or _new_device(
            session, rt, caller.agent_id, device_key, kind, now
        )
        device.kind = kind
        device.status = status
        _heartbeat(device, now, rt.device_lease)
        return _settle_devices(session, rt, caller, now, lapsed)


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
    now = rt.clock.now()
    visitor_ids = list(
        dict.fromkeys(c.caller.visitor_id for c in changes if isinstance(c, VisitorSocket))
    )
    agent_changes = [c for c in changes if not isinstance(c, VisitorSocket)]
    with rt.database.write() as session:
        seen: list[PresenceEvent] = []
        # Loaded in one query; each is then settled from the session's identity map.
        visitors = session.scalars(select(Visitor).where(Visitor.id.in_(visitor_ids))).all()
        for visitor in visitors:
            seen += _visitor_seen(session, rt, visitor, now)
        if agent_changes:
            seen += _agent_sockets_changed(session, rt, agent_changes, now)
        return _announced(session, rt, seen)


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
    devices: dict[int, dict[str, _DeviceRow]] = {agent_id: {} for agent_id in agents}
    for row in _DEVICES_OF_AGENTS.rows(connection, agent_ids=list(agents)):
        loaded = _DeviceRow(*row)
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
                for gone in _longest_disconnected(own.values(), now)[: max(over, 0)]:
                    del own[gone.device_key]
                    if gone.id is not None:
                        removed.append(gone.id)
                device = own[change.device_key] = _DeviceRow(
                    None,
                    change.caller.agent_id,
                    change.device_key,
                    change.kind,
                    DeviceStatus.OFFLINE,
                    now,
                    now,
                    None,
                    None,
                )
            device.kind = change.kind
            device.status = change.status
            device.socket_id = change.socket_id
            device.last_seen_at = now
            device.connected_until = max(device.connected_until, now + rt.device_lease)
            device.changed = True
        elif device is not None and device.socket_id == change.socket_id:
            # The socket is gone: connected only as long as its REST heartbeat says.
            device.socket_id = None
            device.last_seen_at = now
            heartbeat_lease = (
                device.last_heartbeat_at + rt.device_lease if device.last_heartbeat_at else now
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
class _DeviceRow:
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
    changed: bool = False


def _settle_row(
    agent: _AgentRow,
    devices: Iterable[_DeviceRow],
    now: datetime,
    transitions: list[tuple[_AgentRow, Transition]],
) -> None:
    """``settle_agent`` for a row: its transition, if the facts show one, added to
    ``transitions`` and to the row."""
    transition = agent_transition(
        was_online=agent.online,
        active=agent.active,
        devices=[DeviceFacts(status=d.status, connected_until=d.connected_until) for d in devices],
        now=now,
    )
    if transition is not None:
        agent.online = transition.change is PresenceChange.AGENT_ONLINE
        transitions.append((agent, transition))


def _write_rows(
    connection: Connection,
    devices: Iterable[dict[str, _DeviceRow]],
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
        _AGENT_PRESENCE_CHANGED.run_many(
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
        agent_id=bindparam("owner"), device_key=bindparam("key"), **_DEVICE_VALUES
    )
)
_SET_AGENT_ONLINE = PlainStatement(
    update(_agents)
    .where(_agents.c.id == bindparam("agent_id"))
    .values(online=bindparam("now_online"))
)


def _presence_changed(who: str) -> PlainStatement:
    """An ``INSERT`` of presence changes of agents (``who``: ``agent_id``) or of visitors
    (``visitor_id``), that column bound and the other one empty."""
    return PlainStatement(
        insert(table_of(PresenceChangeRow)).values(
            account_id=bindparam("account_id"),
            change=bindparam("change"),
            at=bindparam("at"),
            **{"agent_id": None, "visitor_id": None, who: bindparam(who)},
        )
    )


_AGENT_PRESENCE_CHANGED = _presence_changed("agent_id")


def socket_status(
    rt: Runtime, caller: AgentCaller, *, device_key: str, status: DeviceStatus
) -> DeviceChange:
    """A status frame from a device's socket."""
    now = rt.clock.now()
    with rt.database.write() as session:
        lapsed = _record_lapse(session, rt, caller, now)
        device = _device(session, caller.agent_id, device_key)
        if device is not None:
            device.status = status
            device.last_seen_at = now
        return _settle_devices(session, rt, caller, now, lapsed)


def socket_closed(
    rt: Runtime, caller: AgentCaller, *, device_key: str, socket_id: str
) -> DeviceChange:
    """The socket is gone: the device stays connected only as long as its REST heartbeat
    says. A socket that a reconnect has replaced changes nothing."""
    events = sockets_changed(rt, [SocketClosed(caller, device_key, socket_id)])
    return DeviceChange(devices=list_devices(rt, caller), events=events)


def renew_sockets(
    rt: Runtime, *, device_sockets: Collection[str], visitor_ids: Collection[int]
) -> None:
    """Extend the leases of the sockets this process holds. Called every third of the
    shortest lease, so an open socket never lapses while its process lives."""
    now = rt.clock.now()
    with rt.database.write() as session:
        if device_sockets:
            session.execute(
                update(Device)
                .where(Device.socket_id.in_(list(device_sockets)))
                .values(connected_until=now + rt.device_lease, last_seen_at=now)
            )
        if visitor_ids:
            session.execute(
                update(Visitor)
                .where(Visitor.id.in_(list(visitor_ids)))
                .values(present_until=now + rt.visitor_grace)
            )


def list_devices(rt: Runtime, caller: AgentCaller) -> list[Device]:
    with rt.database.read() as session:
        return _devices_of(session, caller.agent_id)


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
        devices = _devices_of(session, agent.id)
    transition = agent_transition(
        was_online=agent.online,
        active=agent.active,
        devices=[_facts(d) for d in devices],
        now=now,
    )
    if transition is None:
        return None
    agent.online = transition.change is PresenceChange.AGENT_ONLINE
    event = _record(session, agent.account_id, transition, agent_id=agent.id)
    notifications.presence_recorded(session, rt, [event])
    return event


def settle_and_describe(
    session: Session, rt: Runtime, agent: Agent, now: datetime
) -> list[PresenceEvent]:
    """``settle_agent`` for callers outside this module (an agent deactivated or
    reactivated), with what it recorded described and announced after the commit."""
    event = settle_agent(session, rt, agent, now)
    return _announced(session, rt, [event] if event else [])


# --- visitors ---------------------------------------------------------------------------


def visitor_seen(rt: Runtime, caller: VisitorCaller) -> list[PresenceEvent]:
    """A visitor connection opened, closed, or heartbeated: the visitor is on the website
    for at least ``visitor_left_after`` more."""
    with rt.database.write() as session:
        visitor = session.get_one(Visitor, caller.visitor_id)
        return mark_visitor_seen(session, rt, visitor)


def mark_visitor_seen(
    session: Session, rt: Runtime, visitor: Visitor, *, now: datetime | None = None
) -> list[PresenceEvent]:
    """In the caller's transaction: the visitor showed a sign of life (a connection, a
    heartbeat, a message) at ``now``."""
    return _announced(session, rt, _visitor_seen(session, rt, visitor, now or rt.clock.now()))


def _visitor_seen(
    session: Session, rt: Runtime, visitor: Visitor, now: datetime
) -> list[PresenceEvent]:
    """``mark_visitor_seen``, its events not described (nor recorded) yet."""
    # Gone unnoticed before this sign of life (the sweep has not come by): that was a
    # leaving, recorded at its moment, and this is a return.
    left = _settle_visitor(session, rt, visitor, now)
    grace_end = now + rt.visitor_grace
    visitor.present_until = max(visitor.present_until or grace_end, grace_end)
    arrived = _settle_visitor(session, rt, visitor, now)
    return [e for e in (left, arrived) if e is not None]


class VisitorLease(Enum):
    """What a visitor message does to its visitor's lease (``visitor_lease``)."""

    KEEP = "keep"  # on the website, the lease reaches far enough: nothing written
    RENEW = "renew"  # on the website: the lease renewed
    ARRIVE = "arrive"  # not on the website: an arrival recorded
    RECORD_LEAVING_FIRST = "record_leaving_first"  # lapsed, unrecorded: the full path


def visitor_lease(
    rt: Runtime, *, present: bool, present_until: datetime | None, now: datetime
) -> tuple[VisitorLease, datetime | None]:
    """What a visitor message does to the lease, as ``visitor_active`` explains, and the
    lease's new end (renewed, or arrived)."""
    grace_end = now + rt.visitor_grace
    if present and present_until is not None and present_until > now:
        if present_until < grace_end:
            return VisitorLease.RENEW, grace_end + timedelta(
                seconds=rt.settings.visitor_seen_coalesce
            )
        return VisitorLease.KEEP, None
    if present:
        return VisitorLease.RECORD_LEAVING_FIRST, None
    return VisitorLease.ARRIVE, max(present_until or grace_end, grace_end)


def visitor_active(
    session: Session,
    rt: Runtime,
    connection: Connection,
    *,
    visitor_id: int,
    account_id: int,
    present: bool,
    present_until: datetime | None,
    now: datetime,
) -> list[PresenceEvent]:
    """``mark_visitor_seen`` for the hot path (a visitor message), given the visitor's
    lease as the caller read it, in plain statements. A visitor on the website whose lease
    already reaches ``visitor_left_after`` past ``now`` writes nothing; one whose lease
    needs renewing gets it renewed ``visitor_seen_coalesce`` further, so that the messages
    of the next moment write nothing either. A lease is never shortened, and at most that
    much longer than the rule's (docs/presence.md). A visitor arriving is recorded here
    too; only a leaving nobody has recorded yet (a lapsed lease) takes the full path,
    which records it first and may open a missed-conversation notification."""
    lease, until = visitor_lease(rt, present=present, present_until=present_until, now=now)
    if lease is VisitorLease.KEEP:
        return []
    if lease is VisitorLease.RENEW:
        _RENEW_VISITOR_LEASE.run(connection, visitor_id=visitor_id, renewed=until)
        return []
    if lease is VisitorLease.RECORD_LEAVING_FIRST:
        return mark_visitor_seen(session, rt, session.get_one(Visitor, visitor_id), now=now)
    assert until is not None
    open_ids = [row[0] for row in _OPEN_CONVERSATION_IDS.rows(connection, visitor_id=visitor_id)]
    return visitors_arrived(
        session, rt, connection, [(account_id, visitor_id, until, open_ids)], now=now
    )


def visitors_arrived(
    session: Session,
    rt: Runtime,
    connection: Connection,
    arrivals: Sequence[tuple[int, int, datetime, Sequence[int]]],
    *,
    now: datetime,
) -> list[PresenceEvent]:
    """Visitors arriving (``VisitorLease.ARRIVE``) by their messages, in one statement per
    table: (account, visitor, the lease's end, the visitor's open conversations) each,
    announced once the transaction commits."""
    if not arrivals:
        return []
    events: list[PresenceEvent] = []
    for account_id, visitor_id, until, open_ids in arrivals:
        transition = visitor_transition(was_present=False, present_until=until, now=now)
        assert transition is not None  # not present, and the lease runs: an arrival
        events.append(
            PresenceEvent(
                account_id=account_id,
                change=transition.change,
                at=transition.at,
                visitor_id=visitor_id,
                conversation_ids=tuple(open_ids),
            )
        )
    _VISITOR_ARRIVED.run_many(
        connection,
        [{"visitor_id": visitor_id, "until": until} for _, visitor_id, until, _ in arrivals],
    )
    _PRESENCE_CHANGED.run_many(
        connection,
        [
            {
                "account_id": event.account_id,
                "visitor_id": event.visitor_id,
                "change": event.change,
                "at": event.at,
            }
            for event in events
        ],
    )
    rt.record(session, PresenceChanged(tuple(events)))
    return events


def renew_visitor_leases(connection: Connection, renewals: Sequence[tuple[int, datetime]]) -> None:
    """``VisitorLease.RENEW`` for many visitors: (visitor, the lease's new end) each."""
    _RENEW_VISITOR_LEASE.run_many(
        connection, [{"visitor_id": visitor_id, "renewed": until} for visitor_id, until in renewals]
    )


_VISITOR_ARRIVED = PlainStatement(
    update(_visitors)
    .where(_visitors.c.id == bindparam("visitor_id"))
    .values(present=True, present_until=bindparam("until"))
)
_PRESENCE_CHANGED = _presence_changed("visitor_id")
_OPEN_CONVERSATION_IDS = PlainStatement(
    select(Conversation.id)
    .where(
        Conversation.visitor_id == bindparam("visitor_id"),
        Conversation.status != ConversationStatus.CLOSED,
    )
    .order_by(Conversation.id)
)
_RENEW_VISITOR_LEASE = PlainStatement(
    update(_visitors)
    .where(
        _visitors.c.id == bindparam("visitor_id"),
        # Never shorter: a socket's renewal may have gone further meanwhile.
        or_(_visitors.c.present_until.is_(None), _visitors.c.present_until < bindparam("renewed")),
    )
    .values(present_until=bindparam("renewed"))
)


# --- the sweep --------------------------------------------------------------------------


def sweep(rt: Runtime) -> list[PresenceEvent]:
    """Record the transitions of leases that ran out since the last sweep."""
    now = rt.clock.now()
    events: list[PresenceEvent] = []
    with rt.database.write() as session:
        lapsed_agents = session.scalars(
            select(Agent)
            .where(Agent.online.is_(True))
            .where(
                ~select(Device.id)
                .where(
                    Device.agent_id == Agent.id,
                    Device.status == DeviceStatus.ONLINE,
                    Device.connected_until > now,
                )
                .exists()
            )
            .order_by(Agent.id)
            .limit(SWEEP_BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        for agent in lapsed_agents:
            if (event := settle_agent(session, rt, agent, now)) is not None:
                events.append(event)
        described = _announced(session, rt, events)
        return described + _sweep_visitors(session, rt, now)


def _sweep_visitors(session: Session, rt: Runtime, now: datetime) -> list[PresenceEvent]:
    """The visitors whose lease ran out, recorded as gone at its end, in a few statements
    for the whole batch (the sweep has to keep up with the visitors arriving)."""
    left = session.execute(
        select(Visitor.id, Visitor.account_id, Visitor.present_until)
        .where(Visitor.present.is_(True), Visitor.present_until <= now)
        # The longest gone first: a sweep behind its backlog still records each departure
        # within a batch or two of its lease's end (the index on both columns serves it).
        .order_by(Visitor.present_until, Visitor.id)
        .limit(SWEEP_BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    if not left:
        return []
    departures: list[PresenceEvent] = []
    for visitor_id, account_id, present_until in left:
        transition = visitor_transition(was_present=True, present_until=present_until, now=now)
        assert transition is not None
        assert transition.change is PresenceChange.VISITOR_LEFT
        departures.append(
            PresenceEvent(
                account_id=account_id,
                change=transition.change,
                at=transition.at,
                visitor_id=visitor_id,
            )
        )
    visitor_ids = [visitor_id for visitor_id, _, _ in left]
    session.execute(
        update(Visitor)
        .where(Visitor.id.in_(visitor_ids))
        .values(present=False)
        .execution_options(synchronize_session=False)
    )
    _PRESENCE_CHANGED.run_many(
        session.connection(),
        [
            {
                "account_id": d.account_id,
                "visitor_id": d.visitor_id,
                "change": PresenceChange.VISITOR_LEFT,
                "at": d.at,
            }
            for d in departures
        ],
    )
    notifications.presence_recorded(session, rt, departures)
    open_ids: dict[int | None, list[int]] = {}
    for visitor_id, conversation_id in session.execute(
        select(Conversation.visitor_id, Conversation.id)
        .where(
            Conversation.visitor_id.in_(visitor_ids),
            Conversation.status != ConversationStatus.CLOSED,
        )
        .order_by(Conversation.id)
    ):
        open_ids.setdefault(visitor_id, []).append(conversation_id)
    events = [
        replace(d, conversation_ids=tuple(open_ids.get(d.visitor_id, ()))) for d in departures
    ]
    rt.record(session, PresenceChanged(tuple(events)))
    return events


def next_sweep_at(rt: Runtime) -> datetime | None:
    """When the next lease of someone online or on the website runs out."""
    now = rt.clock.now()
    # Only leases still running count: one that ended while the same agent holds another
    # is no reason to sweep again (and would make the sweep spin).
    with rt.database.read() as session:
        agent_lease = session.scalar(
            select(func.min(Device.connected_until))
            .join(Agent, Agent.id == Device.agent_id)
            .where(
                Agent.online.is_(True),
                Device.status == DeviceStatus.ONLINE,
                Device.connected_until > now,
            )
        )
        # A visitor still present is one to record as gone at its lease's end, even
        # if that end has passed (it ran out while the last sweep was under way).
        visitor_lease = session.scalar(
            select(func.min(Visitor.present_until)).where(Visitor.present.is_(True))
        )
    leases = [t for t in (agent_lease, visitor_lease) if t is not None]
    return min(leases, default=None)


def changes_since(
    rt: Runtime, *, agent_ids: Sequence[int], since: datetime
) -> list[PresenceChangeRow]:
    """The recorded transitions of these agents after ``since``, oldest first."""
    with rt.database.read() as session:
        return list(
            session.scalars(
                select(PresenceChangeRow)
                .where(PresenceChangeRow.agent_id.in_(agent_ids), PresenceChangeRow.at > since)
                .order_by(PresenceChangeRow.at, PresenceChangeRow.id)
            )
        )


# --- inside ---------------------------------------------------------------------------


def _announced(session: Session, rt: Runtime, events: list[PresenceEvent]) -> list[PresenceEvent]:
    """The events with what their announcements need, read in one query per account (who
    is online) and one for all the visitors' open conversations, recorded on the
    transaction: they are announced once it commits (``PresenceChanged``)."""
    if not events:
        return []
    session.flush()
    visitor_ids = {event.visitor_id for event in events if event.visitor_id is not None}
    conversations: dict[int, list[int]] = {visitor_id: [] for visitor_id in visitor_ids}
    if visitor_ids:
        for conversation_id, visitor_id in session.execute(
            select(Conversation.id, Conversation.visitor_id)
            .where(
                Conversation.visitor_id.in_(list(visitor_ids)),
                Conversation.status != ConversationStatus.CLOSED,
            )
            .order_by(Conversation.id)
        ):
            conversations[visitor_id].append(conversation_id)
    online = online_agents_of_accounts(
        session.connection(),
        {event.account_id for event in events if event.agent_id is not None},
        now=rt.clock.now(),
    )
    described = []
    for event in events:
        if event.agent_id is not None:
            described.append(replace(event, online_agent_ids=online[event.account_id]))
        else:
            assert event.visitor_id is not None
            described.append(
                replace(event, conversation_ids=tuple(conversations[event.visitor_id]))
            )
    rt.record(session, PresenceChanged(tuple(described)))
    return described


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
        devices=_devices_of(session, caller.agent_id),
        events=_announced(session, rt, lapsed + ([event] if event else [])),
    )


def _settle_visitor(
    session: Session, rt: Runtime, visitor: Visitor, now: datetime
) -> PresenceEvent | None:
    transition = visitor_transition(
        was_present=visitor.present, present_until=visitor.present_until, now=now
    )
    if transition is None:
        return None
    visitor.present = transition.change is PresenceChange.VISITOR_ARRIVED
    event = _record(session, visitor.account_id, transition, visitor_id=visitor.id)
    notifications.presence_recorded(session, rt, [event])
    return event


def _record(
    session: Session,
    account_id: int,
    transition: Transition,
    *,
    agent_id: int | None = None,
    visitor_id: int | None = None,
) -> PresenceEvent:
    session.add(
        PresenceChangeRow(
            account_id=account_id,
            agent_id=agent_id,
            visitor_id=visitor_id,
            change=transition.change,
            at=transition.at,
        )
    )
    return PresenceEvent(
        account_id=account_id,
        change=transition.change,
        at=transition.at,
        agent_id=agent_id,
        visitor_id=visitor_id,
    )


def _heartbeat(device: Device, now: datetime, lease: timedelta) -> None:
    device.last_seen_at = now
    device.last_heartbeat_at = now
    device.connected_until = max(device.connected_until, now + lease)


def _facts(device: Device) -> DeviceFacts:
    return DeviceFacts(status=device.status, connected_until=device.connected_until)


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
    devices = _devices_of(session, agent_id)
    over = len(devices) + 1 - rt.settings.max_devices_per_agent
    if over > 0:
        gone = _longest_disconnected(devices, now)
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


def _longest_disconnected(devices: Iterable[D], now: datetime) -> list[D]:
    """The devices with no socket and no lease left, the longest gone first."""
    gone = [d for d in devices if d.socket_id is None and d.connected_until <= now]
    return sorted(gone, key=lambda d: d.last_seen_at)


def _devices_of(session: Session, agent_id: int) -> list[Device]:
    return list(
        session.scalars(select(Device).where(Device.agent_id == agent_id).order_by(Device.id))
    )
