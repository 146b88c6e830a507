"""Idle and away (docs/reachability.md): an agent whose every online device has had no
activity for the account's ``agent_idle_after`` is away, counted offline by the widget and
the rules, until activity returns; with the real rules on a manual clock."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from frontdesk.clock import ManualClock
from frontdesk.core.model import DeviceKind, DeviceStatus, Plan
from frontdesk.core.notifications import NotificationKind, NotificationState, SuppressedBecause
from frontdesk.core.presence import PresenceChange
from frontdesk.service import accounts, presence
from frontdesk.service.accounts import authenticate_agent
from frontdesk.service.runtime import AgentCaller, Runtime
from frontdesk.service.scope import scope_is_online
from frontdesk.store.models import Notification
from tests.support import SignedUp, new_visitor

ONLINE = DeviceStatus.ONLINE
IDLE_AFTER = 600.0


def caller(runtime: Runtime, agent: SignedUp) -> AgentCaller:
    return authenticate_agent(runtime, agent.token)


def history(runtime: Runtime, agent: SignedUp, since: float) -> list[tuple[PresenceChange, float]]:
    """The agent's transitions as (change, seconds before now)."""
    now = runtime.clock.now()
    rows = presence.changes_since(
        runtime, agent_ids=[agent.agent_id], since=now - timedelta(seconds=since)
    )
    return [(r.change, (now - r.at).total_seconds()) for r in rows]


def own(events: list[presence.PresenceEvent], agent: SignedUp) -> list[PresenceChange]:
    return [e.change for e in events if e.agent_id == agent.agent_id]


def widget_online(runtime: Runtime, agent: SignedUp) -> bool:
    with runtime.database.read() as session:
        return scope_is_online(
            session.connection(),
            account_id=caller(runtime, agent).account_id,
            plan=Plan.STANDARD,
            group_id=None,
            now=runtime.clock.now(),
        )


def state(runtime: Runtime, agent: SignedUp) -> str:
    me = caller(runtime, agent)
    return presence.presence_state(
        True, presence.list_devices(runtime, me), now=runtime.clock.now()
    )


def dashboard(runtime: Runtime, agent: SignedUp, socket_id: str = "s1") -> AgentCaller:
    """A dashboard tab with its socket open that reported activity once, as on loading."""
    me = caller(runtime, agent)
    presence.socket_opened(
        runtime, me, device_key="tab", kind=DeviceKind.WEB, status=ONLINE, socket_id=socket_id
    )
    presence.device_active(runtime, me, device_key="tab")
    return me


def keep_socket(runtime: Runtime, clock: ManualClock, seconds: float) -> None:
    """Let time pass with the socket's lease renewed, as its process does."""
    for _ in range(int(seconds // 20)):
        clock.advance(20)
        presence.renew_sockets(runtime, device_sockets=["s1"], visitor_ids=[])
    clock.advance(seconds % 20)
    presence.renew_sockets(runtime, device_sockets=["s1"], visitor_ids=[])


def test_an_idle_dashboard_makes_its_agent_away_at_the_idle_moment_and_activity_back(
    runtime: Runtime, account: SignedUp, clock: ManualClock
) -> None:
    accounts.update_notification_settings(
        runtime, caller(runtime, account), agent_idle_after=IDLE_AFTER
    )
    me = dashboard(runtime, account)
    assert state(runtime, account) == "online"
    assert widget_online(runtime, account)

    keep_socket(runtime, clock, IDLE_AFTER - 1)
    assert own(presence.sweep(runtime), account) == []
    next_sweep = presence.next_sweep_at(runtime)
    assert next_sweep is not None
    assert next_sweep <= clock.now() + timedelta(seconds=1)
    keep_socket(runtime, clock, 31)  # idle 30 s ago; the socket is open all along

    assert own(presence.sweep(runtime), account) == [PresenceChange.AGENT_OFFLINE]
    assert state(runtime, account) == "away"
    assert not widget_online(runtime, account)
    (device,) = presence.list_devices(runtime, me)
    assert presence.device_is_idle(device, now=clock.now())
    assert not presence.device_is_online(device, now=clock.now())

    clock.advance(5)
    back = presence.device_active(runtime, me, device_key="tab")
    assert own(back.events, account) == [PresenceChange.AGENT_ONLINE]
    assert state(runtime, account) == "online"
    assert widget_online(runtime, account)
    # Away at the idle moment, not when the sweep noticed; back at the activity.
    assert history(runtime, account, since=IDLE_AFTER + 60) == [
        (PresenceChange.AGENT_ONLINE, IDLE_AFTER + 35),
        (PresenceChange.AGENT_OFFLINE, 35),
        (PresenceChange.AGENT_ONLINE, 0),
    ]


def test_activity_keeps_an_agent_online_and_idle_off_never_makes_anybody_away(
    runtime: Runtime, account: SignedUp, clock: ManualClock
) -> None:
    me = dashboard(runtime, account)  # idle is off: the activity is only noted
    keep_socket(runtime, clock, 3 * IDLE_AFTER)
    assert own(presence.sweep(runtime), account) == []
    assert state(runtime, account) == "online"

    accounts.update_notification_settings(runtime, me, agent_idle_after=IDLE_AFTER)
    for _ in range(4):  # activity every 500 s: never idle for 600
        keep_socket(runtime, clock, 500)
        presence.device_active(runtime, me, device_key="tab")
        assert own(presence.sweep(runtime), account) == []
    assert state(runtime, account) == "online"


def test_switching_idle_on_makes_long_idle_agents_away_now_not_in_the_past(
    runtime: Runtime, account: SignedUp, clock: ManualClock
) -> None:
    me = dashboard(runtime, account)
    keep_socket(runtime, clock, 2 * IDLE_AFTER)  # no activity for 1200 s, idle off

    accounts.update_notification_settings(runtime, me, agent_idle_after=IDLE_AFTER)
    assert state(runtime, account) == "away"  # recorded by the change itself
    assert history(runtime, account, since=10) == [(PresenceChange.AGENT_OFFLINE, 0)]
    assert own(presence.sweep(runtime), account) == []

    # Switched off again: every device counts again, at once.
    switched = accounts.update_notification_settings(runtime, me, agent_idle_after=None)
    assert switched.agent_idle_after is None
    assert state(runtime, account) == "online"
    assert history(runtime, account, since=10) == [
        (PresenceChange.AGENT_OFFLINE, 0),
        (PresenceChange.AGENT_ONLINE, 0),
    ]


def test_a_phone_that_does_not_report_activity_keeps_an_idle_dashboard_s_agent_online(
    runtime: Runtime, account: SignedUp, clock: ManualClock
) -> None:
    """The help article's "check all devices, the mobile app included": an app that
    heartbeats without reporting activity is never idle, so the agent is online because of
    it, and the devices say which one is idle."""
    accounts.update_notification_settings(
        runtime, caller(runtime, account), agent_idle_after=IDLE_AFTER
    )
    me = dashboard(runtime, account)
    for _ in range(int(2 * IDLE_AFTER // 30)):
        clock.advance(30)
        presence.heartbeat(runtime, me, device_key="phone", kind=DeviceKind.MOBILE, status=ONLINE)
        presence.renew_sockets(runtime, device_sockets=["s1"], visitor_ids=[])
    assert own(presence.sweep(runtime), account) == []
    assert state(runtime, account) == "online"
    devices = {d.device_key: d for d in presence.list_devices(runtime, me)}
    now = clock.now()
    assert presence.device_is_idle(devices["tab"], now=now)
    assert not presence.device_is_idle(devices["phone"], now=now)
    assert presence.device_is_online(devices["phone"], now=now)

    # A heartbeat that says the app is in use makes the phone idle-tracked like a tab.
    presence.heartbeat(
        runtime, me, device_key="phone", kind=DeviceKind.MOBILE, status=ONLINE, active=True
    )
    clock.advance(IDLE_AFTER + 1)
    presence.renew_sockets(runtime, device_sockets=["s1"], visitor_ids=[])
    presence.heartbeat(runtime, me, device_key="phone", kind=DeviceKind.MOBILE, status=ONLINE)
    assert state(runtime, account) == "away"


def test_an_away_agent_is_offline_for_the_rules_and_coming_back_calls_notifications_off(
    runtime: Runtime, client: TestClient, account: SignedUp, clock: ManualClock
) -> None:
    """A visitor writing while the only agent is away opens an offline notification; the
    agent's activity is an agent coming online, which calls it off."""
    accounts.update_notification_settings(
        runtime, caller(runtime, account), agent_idle_after=IDLE_AFTER
    )
    me = dashboard(runtime, account)
    keep_socket(runtime, clock, IDLE_AFTER + 1)
    presence.sweep(runtime)
    conversation_id = (
        new_visitor(client, account.widget_key).say("Anyone?").json()["conversation_id"]
    )

    def offline_notification() -> tuple[NotificationState, SuppressedBecause | None]:
        with runtime.database.read() as session:
            found = session.scalars(
                select(Notification).where(
                    Notification.conversation_id == conversation_id,
                    Notification.kind == NotificationKind.OFFLINE_MESSAGE,
                )
            ).one()
            return found.state, found.reason

    assert offline_notification() == (NotificationState.SCHEDULED, None)
    clock.advance(10)
    presence.device_active(runtime, me, device_key="tab")
    assert offline_notification() == (
        NotificationState.SUPPRESSED,
        SuppressedBecause.AGENT_CAME_ONLINE,
    )
