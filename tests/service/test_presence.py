"""Presence in the store: leases, the recorded transitions and the sweep, with the real
rules on a manual clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from frontdesk import metrics
from frontdesk.clock import ManualClock
from frontdesk.core.model import DeviceKind, DeviceStatus
from frontdesk.core.notifications import NotificationKind, NotificationState, SuppressedBecause
from frontdesk.core.presence import PresenceChange
from frontdesk.service import notifications, presence
from frontdesk.service.accounts import authenticate_agent
from frontdesk.service.presence import sweeping
from frontdesk.service.runtime import AgentCaller, Runtime
from frontdesk.service.widget import authenticate_visitor
from frontdesk.store.database import Database
from frontdesk.store.models import Notification
from tests.support import SignedUp, new_visitor, sign_up

ONLINE, OFFLINE = DeviceStatus.ONLINE, DeviceStatus.OFFLINE


def caller(runtime: Runtime, agent: SignedUp) -> AgentCaller:
    return authenticate_agent(runtime, agent.token)


def history(runtime: Runtime, agent: SignedUp) -> list[tuple[PresenceChange, float]]:
    """The agent's recorded transitions, as (change, seconds after the clock's start)."""
    start = runtime.clock.now() - timedelta(days=1)
    rows = presence.changes_since(runtime, agent_ids=[agent.agent_id], since=start)
    first = rows[0].at if rows else start
    return [(r.change, (r.at - first).total_seconds()) for r in rows]


def test_a_heartbeat_lease_lapses_at_its_end_not_when_the_sweep_notices(
    runtime: Runtime, account: SignedUp, clock: ManualClock
) -> None:
    me = caller(runtime, account)
    change = presence.heartbeat(
        runtime, me, device_key="phone", kind=DeviceKind.MOBILE, status=ONLINE
    )
    assert [e.change for e in change.events] == [PresenceChange.AGENT_ONLINE]
    clock.advance(59)
    # Only this agent: visitors of earlier tests on the same database may lapse meanwhile.
    assert [e for e in presence.sweep(runtime) if e.agent_id == account.agent_id] == []
    clock.advance(30)  # the lease (60 s) ended 29 s ago
    (event,) = [e for e in presence.sweep(runtime) if e.agent_id == account.agent_id]
    assert event.change is PresenceChange.AGENT_OFFLINE
    assert history(runtime, account) == [
        (PresenceChange.AGENT_ONLINE, 0),
        (PresenceChange.AGENT_OFFLINE, 60),
    ]
    assert [e for e in presence.sweep(runtime) if e.agent_id == account.agent_id] == []


def test_switching_one_device_off_keeps_an_agent_online_on_another(
    runtime: Runtime, account: SignedUp
) -> None:
    me = caller(runtime, account)
    presence.set_status(runtime, me, status=ONLINE, device_key="laptop")
    presence.heartbeat(runtime, me, device_key="phone", kind=DeviceKind.MOBILE, status=ONLINE)
    assert presence.set_status(runtime, me, status=OFFLINE, device_key="laptop").events == []
    off = presence.set_status(runtime, me, status=OFFLINE, device_key=None)
    assert [e.change for e in off.events] == [PresenceChange.AGENT_OFFLINE]
    assert [c for c, _ in history(runtime, account)] == [
        PresenceChange.AGENT_ONLINE,
        PresenceChange.AGENT_OFFLINE,
    ]


def test_a_socket_holds_the_device_until_it_closes(
    runtime: Runtime, account: SignedUp, clock: ManualClock
) -> None:
    me = caller(runtime, account)
    presence.socket_opened(
        runtime, me, device_key="tab", kind=DeviceKind.WEB, status=ONLINE, socket_id="s1"
    )
    for _ in range(5):  # renewals every 20 s keep a 60 s lease alive for 100 s
        clock.advance(20)
        presence.renew_sockets(runtime, device_sockets=["s1"], visitor_ids=[])
        assert all(e.agent_id != account.agent_id for e in presence.sweep(runtime))
    closed = presence.socket_closed(runtime, me, device_key="tab", socket_id="s1")
    assert [e.change for e in closed.events] == [PresenceChange.AGENT_OFFLINE]
    assert history(runtime, account) == [
        (PresenceChange.AGENT_ONLINE, 0),
        (PresenceChange.AGENT_OFFLINE, 100),
    ]


def test_an_old_socket_closing_after_a_reconnect_does_not_end_the_new_one(
    runtime: Runtime, account: SignedUp
) -> None:
    me = caller(runtime, account)
    presence.socket_opened(
        runtime, me, device_key="tab", kind=DeviceKind.WEB, status=ONLINE, socket_id="old"
    )
    presence.socket_opened(
        runtime, me, device_key="tab", kind=DeviceKind.WEB, status=ONLINE, socket_id="new"
    )
    assert presence.socket_closed(runtime, me, device_key="tab", socket_id="old").events == []
    assert presence.list_devices(runtime, me)[0].socket_id == "new"


def test_a_storm_of_sockets_is_recorded_in_one_batch_each_agent_settled_once(
    runtime: Runtime, account: SignedUp, clock: ManualClock
) -> None:
    """What a proxy restart does: every socket back at once, then every socket gone at
    once. One transaction each way; one transition per agent, not one per socket."""
    agents = [account, account.invite(), account.invite()]
    callers = [caller(runtime, agent) for agent in agents]
    opened = [
        presence.SocketOpened(me, f"tab{n}", DeviceKind.WEB, ONLINE, f"s{i}-{n}")
        for i, me in enumerate(callers)
        for n in range(4)
    ]
    # A device whose socket was replaced in the same moment: the newer socket holds it.
    opened.append(presence.SocketOpened(callers[0], "tab0", DeviceKind.WEB, ONLINE, "s0-new"))
    events = presence.sockets_changed(runtime, opened)
    assert sorted((e.agent_id, e.change) for e in events) == sorted(
        (agent.agent_id, PresenceChange.AGENT_ONLINE) for agent in agents
    )
    assert {e.account_id: e.online_agent_ids for e in events}[account.account_id] == {
        agent.agent_id for agent in agents
    }
    assert presence.sockets_changed(runtime, opened[1:3]) == []  # again: no new transition
    clock.advance(5)
    closed = [presence.SocketClosed(o.caller, o.device_key, o.socket_id) for o in opened]
    events = presence.sockets_changed(runtime, closed[1:])  # all but s0-0, replaced anyway
    assert sorted((e.agent_id, e.change) for e in events) == sorted(
        (agent.agent_id, PresenceChange.AGENT_OFFLINE) for agent in agents
    )
    assert all(e.at == clock.now() for e in events)
    assert presence.sockets_changed(runtime, closed[:1]) == []  # the replaced one: nothing
    for agent in agents:
        assert [c for c, _ in history(runtime, agent)] == [
            PresenceChange.AGENT_ONLINE,
            PresenceChange.AGENT_OFFLINE,
        ]


def test_a_closed_socket_leaves_a_recent_rest_heartbeat_in_force(
    runtime: Runtime, account: SignedUp, clock: ManualClock
) -> None:
    me = caller(runtime, account)
    presence.heartbeat(runtime, me, device_key="app", kind=DeviceKind.DESKTOP, status=ONLINE)
    presence.socket_opened(
        runtime, me, device_key="app", kind=DeviceKind.DESKTOP, status=ONLINE, socket_id="s"
    )
    clock.advance(10)
    assert presence.socket_closed(runtime, me, device_key="app", socket_id="s").events == []
    clock.advance(51)
    (event,) = [e for e in presence.sweep(runtime) if e.agent_id == account.agent_id]
    assert event.at == clock.now() - timedelta(seconds=1)


def test_deactivation_records_the_agent_going_offline(runtime: Runtime, account: SignedUp) -> None:
    colleague = account.invite()
    presence.set_status(runtime, caller(runtime, colleague), status=ONLINE, device_key="tab")
    account.patch(f"/agents/{colleague.agent_id}", {"active": False})
    assert [c for c, _ in history(runtime, colleague)] == [
        PresenceChange.AGENT_ONLINE,
        PresenceChange.AGENT_OFFLINE,
    ]


def test_a_visitor_leaves_a_grace_period_after_its_last_connection(
    runtime: Runtime, client: TestClient, account: SignedUp, clock: ManualClock
) -> None:
    visitor = new_visitor(client, account.widget_key)
    who = authenticate_visitor(runtime, account.widget_key, visitor.token)
    (arrived,) = presence.visitor_seen(runtime, who)
    assert arrived.change is PresenceChange.VISITOR_ARRIVED
    clock.advance(25)
    assert presence.visitor_seen(runtime, who) == []  # a page navigation: still here
    clock.advance(29)
    assert all(e.visitor_id != who.visitor_id for e in presence.sweep(runtime))
    clock.advance(2)
    (left,) = [e for e in presence.sweep(runtime) if e.visitor_id == who.visitor_id]
    assert left.change is PresenceChange.VISITOR_LEFT
    assert left.at == clock.now() - timedelta(seconds=1)


def test_a_sweep_behind_its_backlog_records_the_longest_gone_first(
    runtime: Runtime,
    client: TestClient,
    account: SignedUp,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not in the order the visitors came: the one whose lease ended first is recorded
    first, so no departure waits behind a backlog of later ones."""
    presence.sweep(runtime)  # settle what earlier tests left behind
    first, second = (
        authenticate_visitor(
            runtime, account.widget_key, new_visitor(client, account.widget_key).token
        )
        for _ in range(2)
    )
    presence.visitor_seen(runtime, first)
    clock.advance(5)
    presence.visitor_seen(runtime, second)
    clock.advance(5)
    presence.visitor_seen(runtime, first)  # the first one's lease now ends last
    clock.advance(60)
    monkeypatch.setattr(sweeping, "SWEEP_BATCH", 1)
    monkeypatch.setattr(sweeping, "POSTGRESQL_SWEEP_BATCHES", 1)
    assert [e.visitor_id for e in presence.sweep(runtime)] == [second.visitor_id]
    assert [e.visitor_id for e in presence.sweep(runtime)] == [first.visitor_id]


def test_a_sweep_on_postgresql_settles_more_at_once(
    runtime: Runtime,
    client: TestClient,
    account: SignedUp,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On PostgreSQL a sweep settles POSTGRESQL_SWEEP_BATCHES times SQLite's batch: its
    fixed cost is a round trip per scope, its thread holds only the rows it settles."""
    presence.sweep(runtime)  # settle what earlier tests left behind
    monkeypatch.setattr(sweeping, "SWEEP_BATCH", 2)
    monkeypatch.setattr(sweeping, "POSTGRESQL_SWEEP_BATCHES", 2)
    for _ in range(5):
        presence.visitor_seen(
            runtime,
            authenticate_visitor(
                runtime, account.widget_key, new_visitor(client, account.widget_key).token
            ),
        )
    clock.advance(60)
    expected = [4, 1] if runtime.database.is_postgresql else [2, 2, 1]
    assert [len(presence.sweep(runtime)) for _ in expected] == expected
    assert presence.sweep(runtime) == []


def test_a_visitor_back_after_an_unnoticed_leaving_left_and_returned(
    runtime: Runtime, client: TestClient, account: SignedUp, clock: ManualClock
) -> None:
    visitor = new_visitor(client, account.widget_key)
    who = authenticate_visitor(runtime, account.widget_key, visitor.token)
    presence.visitor_seen(runtime, who)
    clock.advance(45)  # gone for good after 30 s; no sweep came by
    left, back = presence.visitor_seen(runtime, who)
    assert (left.change, left.at) == (
        PresenceChange.VISITOR_LEFT,
        clock.now() - timedelta(seconds=15),
    )
    assert (back.change, back.at) == (PresenceChange.VISITOR_ARRIVED, clock.now())


def test_a_heartbeat_after_an_unnoticed_lapse_records_the_gap(
    runtime: Runtime, account: SignedUp, clock: ManualClock
) -> None:
    me = caller(runtime, account)
    presence.heartbeat(runtime, me, device_key="phone", kind=DeviceKind.MOBILE, status=ONLINE)
    clock.advance(90)  # the lease ended 30 s ago; no sweep came by
    change = presence.heartbeat(
        runtime, me, device_key="phone", kind=DeviceKind.MOBILE, status=ONLINE
    )
    went, came = change.events
    assert (went.change, went.at) == (
        PresenceChange.AGENT_OFFLINE,
        clock.now() - timedelta(seconds=30),
    )
    assert (came.change, came.at) == (PresenceChange.AGENT_ONLINE, clock.now())


def test_the_next_sweep_is_due_no_later_than_a_new_lease_ends(
    runtime: Runtime, account: SignedUp, clock: ManualClock
) -> None:
    me = caller(runtime, account)
    presence.sweep(runtime)  # settle what earlier tests left behind
    presence.heartbeat(runtime, me, device_key="p", kind=DeviceKind.MOBILE, status=ONLINE)
    due = presence.next_sweep_at(runtime)
    assert due is not None
    assert due <= clock.now() + timedelta(seconds=60)


def test_the_history_survives_a_restart(runtime: Runtime, account: SignedUp) -> None:
    presence.set_status(runtime, caller(runtime, account), status=ONLINE, device_key="tab")
    restarted = Runtime(
        settings=runtime.settings,
        database=Database(runtime.database.url),
        clock=runtime.clock,
        passwords=runtime.passwords,
    )
    try:
        rows = presence.changes_since(
            restarted, agent_ids=[account.agent_id], since=runtime.clock.now() - timedelta(1)
        )
        assert [r.change for r in rows] == [PresenceChange.AGENT_ONLINE]
    finally:
        restarted.database.dispose()


def test_a_missed_conversation_the_account_has_off_is_decided_when_the_visitor_leaves(
    runtime: Runtime, client: TestClient, clock: ManualClock
) -> None:
    """Its decision needs nothing but the account (its plan, its setting), so the sweep that
    records the leaving records it too, and the engine has nothing due; switched on, the
    missed conversation waits for the engine as before."""
    for plan, setting, expected in (
        ("free", False, (NotificationState.SUPPRESSED, SuppressedBecause.PLAN_LACKS_FEATURE)),
        ("standard", False, (NotificationState.SUPPRESSED, SuppressedBecause.SETTING_OFF)),
        ("standard", True, (NotificationState.SCHEDULED, None)),
    ):
        account = sign_up(client, plan=plan)
        if setting:
            account.patch(
                "/settings/notifications", {"missed_conversation_email": True}
            ).raise_for_status()
        presence.set_status(runtime, caller(runtime, account), status=ONLINE, device_key="tab")
        visitor = new_visitor(client, account.widget_key)
        conversation_id = visitor.say("Anyone?").json()["conversation_id"]
        clock.advance(runtime.settings.visitor_left_after + 1)
        (left,) = [
            e
            for e in presence.sweep(runtime)
            if e.change is PresenceChange.VISITOR_LEFT and e.visitor_id == visitor.visitor_id
        ]
        with runtime.database.read() as session:
            (missed,) = session.scalars(
                select(Notification).where(
                    Notification.conversation_id == conversation_id,
                    Notification.kind == NotificationKind.MISSED_CONVERSATION,
                )
            ).all()
        assert (missed.state, missed.reason) == expected, plan
        assert missed.due_at == left.at
        if missed.state is NotificationState.SCHEDULED:
            assert missed.decided_at is None
            assert notifications.decide_due(runtime) == 1
        else:
            assert missed.decided_at == clock.now()
            assert notifications.decide_due(runtime) == 0


def test_an_agent_coming_online_calls_off_the_offline_notifications_of_its_scopes_only(
    runtime: Runtime, client: TestClient, clock: ManualClock
) -> None:
    """Called off in one statement: the agent's groups and the conversations of no group,
    not another group's, not another account's; each counted in the metrics."""
    owner = sign_up(client, plan="pro")
    colleague = owner.invite(name="Cyril")
    sales = owner.post("/groups", {"name": "Sales", "agent_ids": [owner.agent_id]}).json()["id"]
    support = owner.post("/groups", {"name": "Support", "agent_ids": [colleague.agent_id]}).json()[
        "id"
    ]
    elsewhere = sign_up(client, plan="pro")
    written = {
        "sales": new_visitor(client, owner.widget_key).say("Price?", group_id=sales),
        "support": new_visitor(client, owner.widget_key).say("Broken", group_id=support),
        "none": new_visitor(client, owner.widget_key).say("Hello"),
        "elsewhere": new_visitor(client, elsewhere.widget_key).say("Hello"),
    }
    conversation_ids = {label: r.json()["conversation_id"] for label, r in written.items()}
    counted = notification_count(NotificationState.SUPPRESSED, SuppressedBecause.AGENT_CAME_ONLINE)
    clock.advance(1)
    presence.set_status(runtime, caller(runtime, owner), status=ONLINE, device_key="tab")

    with runtime.database.read() as session:
        found = {
            n.conversation_id: (n.state, n.reason, n.decided_at)
            for n in session.scalars(
                select(Notification).where(
                    Notification.conversation_id.in_(conversation_ids.values()),
                    Notification.kind == NotificationKind.OFFLINE_MESSAGE,
                )
            )
        }
    called_off = (NotificationState.SUPPRESSED, SuppressedBecause.AGENT_CAME_ONLINE, clock.now())
    still_open = (NotificationState.SCHEDULED, None, None)
    assert {label: found[c] for label, c in conversation_ids.items()} == {
        "sales": called_off,
        "none": called_off,
        "support": still_open,
        "elsewhere": still_open,
    }
    assert (
        notification_count(NotificationState.SUPPRESSED, SuppressedBecause.AGENT_CAME_ONLINE)
        == counted + 2
    )


def notification_count(state: NotificationState, reason: SuppressedBecause) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "frontdesk_notifications_total",
        {"kind": NotificationKind.OFFLINE_MESSAGE.value, "state": state.value, "reason": reason},
    )
    return value or 0.0
