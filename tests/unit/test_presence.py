"""The presence rules of docs/spec.md section 3, on their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from frontdesk.core.model import DeviceStatus, Plan
from frontdesk.core.plans import group_that_applies
from frontdesk.core.presence import (
    DeviceFacts,
    PresenceChange,
    Transition,
    agent_is_online,
    agent_transition,
    online_at_some_moment,
    online_until,
    scope_agent_ids,
    visitor_transition,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def device(status: str, lease_left: float) -> DeviceFacts:
    return DeviceFacts(status=DeviceStatus(status), connected_until=at(lease_left))


def online(*devices: DeviceFacts, active: bool = True) -> bool:
    return agent_is_online(active=active, devices=devices, now=NOW)


def test_an_agent_without_devices_is_offline() -> None:
    assert not online()


def test_web_offline_but_mobile_online_is_online() -> None:
    """The help article: 'you were not really offline: check all devices, the mobile app
    included'."""
    assert online(device("offline", 50), device("online", 5))


def test_all_devices_offline_is_offline() -> None:
    assert not online(device("offline", 50), device("offline", 50))


def test_a_device_whose_lease_ran_out_does_not_count() -> None:
    assert online(device("online", 0.001))
    assert not online(device("online", 0))
    assert not online(device("online", -10))


def test_a_deactivated_agent_is_never_online() -> None:
    assert not online(device("online", 50), active=False)


def test_online_until_is_the_longest_online_lease() -> None:
    assert online_until([device("online", 5), device("online", 20), device("offline", 90)]) == at(
        20
    )
    assert online_until([device("offline", 90)]) is None


def test_coming_online_happens_now() -> None:
    transition = agent_transition(
        was_online=False, active=True, devices=[device("online", 60)], now=NOW
    )
    assert transition is not None
    assert (transition.change, transition.at) == (PresenceChange.AGENT_ONLINE, NOW)


def test_a_lapsed_lease_goes_offline_when_it_ran_out_not_when_noticed() -> None:
    transition = agent_transition(
        was_online=True, active=True, devices=[device("online", -7), device("online", -3)], now=NOW
    )
    assert transition is not None
    assert (transition.change, transition.at) == (PresenceChange.AGENT_OFFLINE, at(-3))


def test_switching_offline_or_deactivation_goes_offline_now() -> None:
    switched = agent_transition(
        was_online=True, active=True, devices=[device("offline", 60)], now=NOW
    )
    deactivated = agent_transition(
        was_online=True, active=False, devices=[device("online", 60)], now=NOW
    )
    assert switched is not None
    assert deactivated is not None
    assert switched.at == deactivated.at == NOW


def test_no_transition_when_nothing_turned() -> None:
    assert (
        agent_transition(was_online=True, active=True, devices=[device("online", 1)], now=NOW)
        is None
    )
    assert agent_transition(was_online=False, active=True, devices=[], now=NOW) is None


def test_a_visitor_leaves_when_the_grace_ran_out() -> None:
    assert visitor_transition(was_present=True, present_until=at(1), now=NOW) is None
    left = visitor_transition(was_present=True, present_until=at(-2), now=NOW)
    assert left is not None
    assert (left.change, left.at) == (PresenceChange.VISITOR_LEFT, at(-2))
    arrived = visitor_transition(was_present=False, present_until=at(30), now=NOW)
    assert arrived is not None
    assert arrived.change is PresenceChange.VISITOR_ARRIVED


@pytest.mark.parametrize("plan", [Plan.FREE, Plan.STANDARD])
def test_groups_do_not_narrow_the_scope_below_pro(plan: Plan) -> None:
    assert group_that_applies(plan, 7) is None
    assert group_that_applies(Plan.PRO, 7) == 7


def test_a_group_scope_is_its_active_members() -> None:
    scope = scope_agent_ids(group_member_ids=[2, 3, 9], active_agent_ids=[1, 2, 3])
    assert scope == {2, 3}


def test_without_a_group_the_scope_is_every_active_agent() -> None:
    assert scope_agent_ids(group_member_ids=None, active_agent_ids=[4, 5]) == {4, 5}


# --- a scope's history ------------------------------------------------------------------------


def went_online(when: datetime) -> Transition:
    return Transition(PresenceChange.AGENT_ONLINE, when)


def went_offline(when: datetime) -> Transition:
    return Transition(PresenceChange.AGENT_OFFLINE, when)


def test_online_at_the_start_counts() -> None:
    history = {1: [went_online(at(-100))]}
    assert online_at_some_moment(history, start=at(0), end=at(10))


def test_offline_before_the_start_and_nothing_after_does_not() -> None:
    history = {
        1: [
            went_online(at(-100)),
            went_offline(at(-50)),
        ]
    }
    assert not online_at_some_moment(history, start=at(0), end=at(10))


def test_coming_online_inside_the_window_counts_even_if_gone_again() -> None:
    history = {
        1: [went_offline(at(-50))],
        2: [
            went_online(at(3)),
            went_offline(at(4)),
        ],
    }
    assert online_at_some_moment(history, start=at(0), end=at(10))


def test_coming_online_after_the_window_does_not_count() -> None:
    history = {1: [went_online(at(11))]}
    assert not online_at_some_moment(history, start=at(0), end=at(10))
    assert not online_at_some_moment({}, start=at(0), end=at(10))


def test_going_offline_exactly_at_the_start_is_offline_then() -> None:
    history = {
        1: [
            went_online(at(-5)),
            went_offline(at(0)),
        ]
    }
    assert not online_at_some_moment(history, start=at(0), end=at(10))
