"""Presence: is an agent really online, is a visitor still on the website, and is a
conversation's scope online (docs/spec.md section 3). Design notes: docs/presence.md.

Every connection is a *lease*: a time until which it counts. A REST heartbeat extends a
device's lease by ``agent_device_timeout``; an open WebSocket holds a lease that its server
process renews well before it runs out, so the sockets of a process that dies expire on their
own. An agent is online iff active and some device with status ``online`` holds a lease: the
help article's "you were not really offline, check all devices, the mobile app included" is this
rule. A visitor is on the website until ``visitor_left_after`` past its last open connection.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from frontdesk.core.model import DeviceStatus


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    status: DeviceStatus
    connected_until: datetime
    # When the device turns idle unless its agent does something on it: its last activity
    # plus the account's ``agent_idle_after`` (docs/reachability.md). ``None``: it never
    # does (idle is off, or the device does not report activity).
    idle_at: datetime | None = None


def device_is_connected(device: DeviceFacts, *, now: datetime) -> bool:
    return now < device.connected_until


def device_is_idle(device: DeviceFacts, *, now: datetime) -> bool:
    return device.idle_at is not None and device.idle_at <= now


def counts_until(device: DeviceFacts) -> datetime:
    """Until when a device with status online makes its agent online: the end of its
    lease, or the moment it turns idle if that comes first."""
    if device.idle_at is None:
        return device.connected_until
    return min(device.connected_until, device.idle_at)


def device_counts(device: DeviceFacts, *, now: datetime) -> bool:
    """Whether the device makes its agent online: status online, connected, not idle."""
    return device.status is DeviceStatus.ONLINE and now < counts_until(device)


def agent_is_online(*, active: bool, devices: Iterable[DeviceFacts], now: datetime) -> bool:
    return active and any(device_counts(d, now=now) for d in devices)


def agent_is_away(*, active: bool, devices: Collection[DeviceFacts], now: datetime) -> bool:
    """Away: not online, only because every online, connected device has been idle too
    long (docs/reachability.md). The widget and the rules count an away agent offline."""
    return (
        active
        and not agent_is_online(active=active, devices=devices, now=now)
        and any(
            d.status is DeviceStatus.ONLINE and device_is_connected(d, now=now) for d in devices
        )
    )


def online_until(devices: Iterable[DeviceFacts]) -> datetime | None:
    """When an agent stops being online if no device renews or changes: the end of the
    longest lease among its online devices, each cut short where it turns idle
    (``None``: it is not online at all)."""
    leases = [counts_until(d) for d in devices if d.status is DeviceStatus.ONLINE]
    return max(leases, default=None)


class PresenceChange(StrEnum):
    AGENT_ONLINE = "agent_online"
    AGENT_OFFLINE = "agent_offline"
    VISITOR_ARRIVED = "visitor_arrived"
    VISITOR_LEFT = "visitor_left"


# Not frozen: one is made for each visitor message, where a frozen one takes three times
# as long to make (docs/performance.md).
@dataclass(slots=True)
class Transition:
    change: PresenceChange
    at: datetime


def agent_transition(
    *, was_online: bool, active: bool, devices: Collection[DeviceFacts], now: datetime
) -> Transition | None:
    """The change of an agent's online state that the facts show, if any.

    Going online happens now. Going offline happened when the last lease ran out, which may
    be earlier than now (a sweep notices an expiry after it happened); an agent switched
    off or deactivated goes offline now.
    """
    is_online = agent_is_online(active=active, devices=devices, now=now)
    if is_online == was_online:
        return None
    if is_online:
        return Transition(PresenceChange.AGENT_ONLINE, now)
    lease_end = online_until(devices) if active else None
    at = lease_end if lease_end is not None and lease_end <= now else now
    return Transition(PresenceChange.AGENT_OFFLINE, at)


def visitor_transition(
    *, was_present: bool, present_until: datetime | None, now: datetime
) -> Transition | None:
    is_present = present_until is not None and now < present_until
    if is_present == was_present:
        return None
    if is_present:
        return Transition(PresenceChange.VISITOR_ARRIVED, now)
    # Left when the last connection's grace ran out, which a sweep may notice later.
    return Transition(PresenceChange.VISITOR_LEFT, min(present_until or now, now))


def scope_agent_ids(
    *, group_member_ids: Collection[int] | None, active_agent_ids: Collection[int]
) -> frozenset[int]:
    """The agents a conversation (or a widget about to open one) belongs to: the active
    members of the group that applies (``frontdesk.core.plans.group_that_applies``), or
    every active agent where none does (``group_member_ids`` is ``None``)."""
    if group_member_ids is not None:
        return frozenset(active_agent_ids).intersection(group_member_ids)
    return frozenset(active_agent_ids)


# --- a scope's history ---------------------------------------------------------------------


def online_at_some_moment(
    history: Mapping[int, Sequence[Transition]], *, start: datetime, end: datetime
) -> bool:
    """Was any of these agents online at some moment in ``[start, end]``?

    ``history`` holds, per agent, its transitions up to ``end`` in the order they happened,
    including the last one at or before ``start`` (which says whether it was online then).
    """
    for transitions in history.values():
        online = False
        for transition in transitions:
            if transition.at > end:
                break
            if transition.at <= start:
                online = transition.change is PresenceChange.AGENT_ONLINE
            elif transition.change is PresenceChange.AGENT_ONLINE:
                return True
        if online:
            return True
    return False
