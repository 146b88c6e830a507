"""Who a conversation belongs to, and who of them is, or was, online (docs/spec.md section 3).

The *scope* of a conversation is its PRO group's active members, or every active agent of
the account. The widget, the presence side and the notification engine all ask these
questions, so they are answered here once, from the devices (now) and from the recorded
presence history (then).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    or_,
    select,
)
from sqlalchemy.orm import Session

from frontdesk.core.model import DeviceStatus, Plan
from frontdesk.core.plans import group_that_applies
from frontdesk.core.presence import (
    DeviceFacts,
    PresenceChange,
    Transition,
    agent_transition,
    scope_agent_ids,
)
from frontdesk.store.models import Account, Agent, Device, GroupMember, PresenceChangeRow
from frontdesk.store.plain import PlainStatement


def scope_of(session: Session, account: Account, group_id: int | None) -> frozenset[int]:
    """The agents a conversation of this account (and group, if any) belongs to."""
    return scope_of_plan(
        session.connection(), account_id=account.id, plan=account.plan, group_id=group_id
    )


def scope_of_plan(
    connection: Connection, *, account_id: int, plan: Plan, group_id: int | None
) -> frozenset[int]:
    """``scope_of`` in plain statements, given the account's plan."""
    active = [row[0] for row in _ACTIVE_AGENTS.rows(connection, account_id=account_id)]
    members = None
    applies = group_that_applies(plan, group_id)
    if applies is not None:
        members = [row[0] for row in _GROUP_MEMBERS.rows(connection, group_id=applies)]
    return scope_agent_ids(group_member_ids=members, active_agent_ids=active)


_ACTIVE_AGENTS = PlainStatement(
    select(Agent.id).where(Agent.account_id == bindparam("account_id"), Agent.active.is_(True))
)
_GROUP_MEMBERS = PlainStatement(
    select(GroupMember.agent_id).where(GroupMember.group_id == bindparam("group_id"))
)


def device_counts_at(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    """``frontdesk.core.presence.device_counts`` as SQL: a device that makes its agent
    online at ``now`` (status online, its lease running, not idle)."""
    return and_(
        Device.status == DeviceStatus.ONLINE,
        Device.connected_until > now,
        or_(Device.idle_at.is_(None), Device.idle_at > now),
    )


def scope_is_online(
    connection: Connection, *, account_id: int, plan: Plan, group_id: int | None, now: datetime
) -> bool:
    """Whether an agent of the scope (``scope_of``) is online now, in one plain statement:
    what a visitor message asks on every call."""
    applies = group_that_applies(plan, group_id)
    if applies is not None:
        return (
            _GROUP_ONLINE.first(connection, account_id=account_id, group_id=applies, now=now)
            is not None
        )
    return _ACCOUNT_ONLINE.first(connection, account_id=account_id, now=now) is not None


_ACCOUNT_ONLINE = PlainStatement(
    select(Device.id)
    .join(Agent, Agent.id == Device.agent_id)
    .where(
        Agent.account_id == bindparam("account_id"),
        Agent.active.is_(True),
        device_counts_at(bindparam("now")),
    )
    .limit(1)
)
_GROUP_ONLINE = PlainStatement(
    select(Device.id)
    .join(Agent, Agent.id == Device.agent_id)
    .join(GroupMember, GroupMember.agent_id == Agent.id)
    .where(
        Agent.account_id == bindparam("account_id"),
        Agent.active.is_(True),
        GroupMember.group_id == bindparam("group_id"),
        device_counts_at(bindparam("now")),
    )
    .limit(1)
)


def accounts_online(
    connection: Connection, account_ids: Collection[int], *, now: datetime
) -> frozenset[int]:
    """Which of these accounts have an agent online now: ``scope_is_online`` of many
    accounts' conversations without a group, in one statement."""
    if not account_ids:
        return frozenset()
    return frozenset(
        row[0] for row in _ACCOUNTS_ONLINE.rows(connection, account_ids=list(account_ids), now=now)
    )


def _online_in_accounts(*columns: Any) -> Select[Any]:
    """``columns`` of the active agents of the accounts ``account_ids`` with a device
    online at ``now``, each row once."""
    return (
        select(*columns)
        .join(Device, Device.agent_id == Agent.id)
        .where(
            Agent.account_id.in_(bindparam("account_ids", expanding=True)),
            Agent.active.is_(True),
            device_counts_at(bindparam("now")),
        )
        .distinct()
    )


_ACCOUNTS_ONLINE = PlainStatement(_online_in_accounts(Agent.account_id))


def online_agents_of_accounts(
    connection: Connection, account_ids: Collection[int], *, now: datetime
) -> dict[int, frozenset[int]]:
    """``online_agent_ids`` of each of these accounts, in one query."""
    found: dict[int, set[int]] = {account_id: set() for account_id in account_ids}
    if found:
        for account_id, agent_id in _ONLINE_AGENTS_OF_ACCOUNTS.rows(
            connection, account_ids=list(found), now=now
        ):
            found[account_id].add(agent_id)
    return {account_id: frozenset(agents) for account_id, agents in found.items()}


_ONLINE_AGENTS_OF_ACCOUNTS = PlainStatement(_online_in_accounts(Agent.account_id, Device.agent_id))


def online_agent_ids(
    session: Session, *, account_id: int, now: datetime, among: Collection[int] | None = None
) -> frozenset[int]:
    """The agents of an account who are online now, from their devices."""
    query = (
        select(Device.agent_id)
        .join(Agent, Agent.id == Device.agent_id)
        .where(
            Agent.account_id == account_id,
            Agent.active.is_(True),
            device_counts_at(now),
        )
        .distinct()
    )
    if among is not None:
        query = query.where(Agent.id.in_(list(among)))
    return frozenset(session.scalars(query))


def online_history(
    session: Session, agent_ids: Collection[int], *, start: datetime, now: datetime
) -> dict[int, list[Transition]]:
    """Each agent's online transitions from the last one at or before ``start`` up to
    ``now``, as ``frontdesk.core.presence.online_at_some_moment`` reads them.

    A lease that ran out but that no sweep has recorded yet is added as the offline
    transition it will be recorded as, so the answer does not depend on when the sweep ran.

    Plain statements, the agents' transitions since ``start`` and their devices each read
    in one: the sweep asks this for every scope its departures belong to, and through the
    ORM it was a quarter of a sweep's time under load (docs/performance.md)."""
    ids = sorted(set(agent_ids))
    if not ids:
        return {}
    connection = session.connection()
    history: dict[int, list[Transition]] = {}
    facts: dict[int, tuple[bool, bool]] = {}
    for agent_id, online, active in _AGENTS.rows(connection, agent_ids=ids):
        facts[agent_id] = (online, active)
        before = _LAST_ONLINE_CHANGE_BY.rows(connection, agent_id=agent_id, start=start)
        history[agent_id] = [Transition(change, at) for change, at in before]
    for agent_id, change, at in _ONLINE_CHANGES_AFTER.rows(
        connection, agent_ids=list(facts), start=start
    ):
        history[agent_id].append(Transition(change, at))
    devices: dict[int, list[DeviceFacts]] = {agent_id: [] for agent_id in facts}
    for agent_id, status, connected_until, idle_at in _DEVICES.rows(
        connection, agent_ids=list(facts)
    ):
        devices[agent_id].append(DeviceFacts(status, connected_until, idle_at))
    for agent_id, (online, active) in facts.items():
        pending = agent_transition(
            was_online=online, active=active, devices=devices[agent_id], now=now
        )
        if pending is not None:
            history[agent_id].append(pending)
    return history


# (Not ``in_``: a plain statement's lists are of ids.)
_AN_ONLINE_CHANGE = or_(
    PresenceChangeRow.change == PresenceChange.AGENT_ONLINE,
    PresenceChangeRow.change == PresenceChange.AGENT_OFFLINE,
)
_AGENTS = PlainStatement(
    select(Agent.id, Agent.online, Agent.active).where(
        Agent.id.in_(bindparam("agent_ids", expanding=True))
    )
)
_LAST_ONLINE_CHANGE_BY = PlainStatement(
    select(PresenceChangeRow.change, PresenceChangeRow.at)
    .where(
        PresenceChangeRow.agent_id == bindparam("agent_id"),
        _AN_ONLINE_CHANGE,
        PresenceChangeRow.at <= bindparam("start"),
    )
    .order_by(PresenceChangeRow.at.desc(), PresenceChangeRow.id.desc())
    .limit(1)
)
_ONLINE_CHANGES_AFTER = PlainStatement(
    select(PresenceChangeRow.agent_id, PresenceChangeRow.change, PresenceChangeRow.at)
    .where(
        PresenceChangeRow.agent_id.in_(bindparam("agent_ids", expanding=True)),
        _AN_ONLINE_CHANGE,
        PresenceChangeRow.at > bindparam("start"),
    )
    .order_by(PresenceChangeRow.at, PresenceChangeRow.id)
)
_DEVICES = PlainStatement(
    select(Device.agent_id, Device.status, Device.connected_until, Device.idle_at).where(
        Device.agent_id.in_(bindparam("agent_ids", expanding=True))
    )
)
