"""The presence rules of SPEC section 3, on their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from frontdesk.core.model import DeviceStatus, Plan
from frontdesk.core.presence import DeviceFacts, agent_is_online, scope_agent_ids

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TIMEOUT = timedelta(seconds=60)


def device(status: str, seen_ago: float, *, socket_open: bool = False) -> DeviceFacts:
    return DeviceFacts(
        status=DeviceStatus(status),
        last_seen_at=NOW - timedelta(seconds=seen_ago),
        socket_open=socket_open,
    )


def online(*devices: DeviceFacts, active: bool = True) -> bool:
    return agent_is_online(active=active, devices=devices, now=NOW, timeout=TIMEOUT)


def test_an_agent_without_devices_is_offline() -> None:
    assert not online()


def test_web_offline_but_mobile_online_is_online() -> None:
    """The seed: 'you were not really offline: check all devices, the mobile app included'."""
    assert online(device("offline", 1), device("online", 5))


def test_all_devices_offline_is_offline() -> None:
    assert not online(device("offline", 1), device("offline", 1))


def test_a_device_that_stopped_heartbeating_does_not_count() -> None:
    assert online(device("online", 60))
    assert not online(device("online", 60.001))


def test_an_open_socket_counts_however_old_the_last_heartbeat() -> None:
    assert online(device("online", 3600, socket_open=True))


def test_a_deactivated_agent_is_never_online() -> None:
    assert not online(device("online", 0), active=False)


@pytest.mark.parametrize("plan", [Plan.FREE, Plan.STANDARD])
def test_groups_do_not_narrow_the_scope_below_pro(plan: Plan) -> None:
    assert scope_agent_ids(plan=plan, group_member_ids=[1], active_agent_ids=[1, 2, 3]) == {
        1,
        2,
        3,
    }


def test_a_pro_group_scope_is_its_active_members() -> None:
    scope = scope_agent_ids(plan=Plan.PRO, group_member_ids=[2, 3, 9], active_agent_ids=[1, 2, 3])
    assert scope == {2, 3}


def test_without_a_group_the_scope_is_every_active_agent() -> None:
    assert scope_agent_ids(plan=Plan.PRO, group_member_ids=None, active_agent_ids=[4, 5]) == {4, 5}
