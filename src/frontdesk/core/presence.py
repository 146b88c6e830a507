"""Presence: is an agent really online, and is a conversation's scope online (SPEC section 3).

A device is *connected* while its socket is open or while it heartbeats at least every
``agent_device_timeout``. An agent is online iff active and some connected device says
``online``: the seed's "you were not really offline, check all devices, the mobile app
included" is this rule. The scope of a conversation is its group's members on PRO, else every
active agent of the account; the widget is online iff someone in its scope is.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from frontdesk.core.model import DeviceStatus, Plan
from frontdesk.core.plans import has_groups


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    status: DeviceStatus
    last_seen_at: datetime
    socket_open: bool = False


def device_is_connected(device: DeviceFacts, *, now: datetime, timeout: timedelta) -> bool:
    return device.socket_open or now - device.last_seen_at <= timeout


def agent_is_online(
    *, active: bool, devices: Iterable[DeviceFacts], now: datetime, timeout: timedelta
) -> bool:
    return active and any(
        d.status is DeviceStatus.ONLINE and device_is_connected(d, now=now, timeout=timeout)
        for d in devices
    )


def scope_agent_ids(
    *,
    plan: Plan,
    group_member_ids: Collection[int] | None,
    active_agent_ids: Collection[int],
) -> frozenset[int]:
    """The agents a conversation (or a widget about to open one) belongs to.

    ``group_member_ids`` is ``None`` when no group was asked for. A group counts only on a
    plan that has groups, so a downgraded account falls back to all its agents instead of
    leaving group conversations with nobody.
    """
    if group_member_ids is not None and has_groups(plan):
        return frozenset(active_agent_ids).intersection(group_member_ids)
    return frozenset(active_agent_ids)
