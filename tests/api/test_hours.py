"""Business hours through the API on a manual clock (docs/reachability.md): outside them the
widget is offline whatever the agents' presence, and says when the team is back; a PRO
group may have hours of its own; hours that cannot be are refused and change nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from frontdesk.api.app import create_app
from frontdesk.clock import ManualClock
from frontdesk.service.runtime import Runtime
from tests.support import SignedUp, assert_error, new_visitor, sign_up

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# Nothing is alerting, and the account does not show its reply time.
NOBODY_TOLD_NOTHING = {"nobody_to_tell": False, "reply_within": None}


def nine_to_five(clock: ManualClock) -> dict[str, Any]:
    """09:00-17:00 every day at UTC+1 (no summer time: each test's clock starts on another
    day, so the hours cannot depend on the weekday or the season; core/hours.py's own
    tests cross those), but closed tomorrow, a holiday. The clock says 09:00 UTC."""
    tomorrow = (clock.now() + timedelta(days=1)).date()
    return {
        "time_zone": "Etc/GMT-1",
        "weekly": {day: ["09:00-17:00"] for day in DAYS},
        "exceptions": {tomorrow.isoformat(): []},
    }


def status(account: SignedUp, group_id: int | None = None) -> dict[str, Any]:
    query = f"?group_id={group_id}" if group_id else ""
    response = account.client.get(f"/api/v1/widget/{account.widget_key}/status{query}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def go_online(agent: SignedUp) -> None:
    response = agent.put("/me/status", {"status": "online", "device_id": "tab"})
    assert response.status_code == 200, response.text


def test_without_hours_the_team_is_always_open(account: SignedUp) -> None:
    assert account.get("/settings/hours").json() == {"hours": None, "open": True, "back_at": None}
    assert status(account) == {
        "online": False,
        "open": True,
        "back_at": None,
        **NOBODY_TOLD_NOTHING,
    }
    go_online(account)
    assert status(account)["online"] is True


def test_outside_its_hours_the_widget_is_offline_and_says_when_it_is_back(
    account: SignedUp, clock: ManualClock
) -> None:
    go_online(account)
    hours = nine_to_five(clock)
    put = account.put("/settings/hours", hours)
    assert put.status_code == 200, put.text
    assert put.json() == {"hours": hours, "open": True, "back_at": None}
    assert status(account) == {"online": True, "open": True, "back_at": None, **NOBODY_TOLD_NOTHING}

    clock.advance(7 * 3600)  # 16:00 UTC, 17:00 local: closed, and tomorrow is a holiday
    go_online(account)  # the agent stays online, the widget does not
    after_the_holiday = (clock.now() + timedelta(days=2)).replace(hour=8)  # 09:00 local
    assert status(account) == {
        "online": False,
        "open": False,
        "back_at": after_the_holiday.isoformat().replace("+00:00", "Z"),
        **NOBODY_TOLD_NOTHING,
    }
    assert account.get("/settings/hours").json()["open"] is False

    assert account.delete("/settings/hours").status_code == 204
    assert status(account) == {"online": True, "open": True, "back_at": None, **NOBODY_TOLD_NOTHING}


def test_impossible_hours_are_refused_and_change_nothing(
    account: SignedUp, clock: ManualClock
) -> None:
    hours = nine_to_five(clock)
    account.put("/settings/hours", hours)
    for wrong, said in (
        ({"time_zone": "Mars/Olympus"}, "not an IANA time zone"),
        ({"weekly": {"monday": ["17:00-09:00"]}}, "must end after it starts"),
        ({"weekly": {"monday": ["09:00-12:00", "11:00-13:00"]}}, "openings overlap"),
        ({"exceptions": {"24.12.2026": []}}, "is not a date"),
    ):
        body = assert_error(account.put("/settings/hours", hours | wrong), 422, "invalid_hours")
        assert said in body["message"]
    bad_day = account.put("/settings/hours", hours | {"weekly": {"caturday": []}})
    assert_error(bad_day, 422, "invalid_input")
    assert account.get("/settings/hours").json()["hours"] == hours


def test_only_owners_and_admins_set_hours(account: SignedUp, clock: ManualClock) -> None:
    agent = account.invite()
    assert_error(agent.put("/settings/hours", nine_to_five(clock)), 403, "not_a_manager")
    assert agent.get("/settings/hours").json()["hours"] is None


def test_a_pro_group_may_keep_hours_of_its_own(
    pro_account: SignedUp, account: SignedUp, clock: ManualClock
) -> None:
    group = pro_account.post(
        "/groups", {"name": "Night shift", "agent_ids": [pro_account.agent_id]}
    )
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    go_online(pro_account)
    pro_account.put("/settings/hours", nine_to_five(clock))
    nights = {"time_zone": "UTC", "weekly": {day: ["00:00-08:00", "16:00-24:00"] for day in DAYS}}
    put = pro_account.put(f"/groups/{group_id}/hours", nights)
    assert put.status_code == 200, put.text

    clock.advance(7 * 3600)  # 16:00 UTC: the account is closed, the night shift open
    go_online(pro_account)
    assert status(pro_account)["open"] is False
    assert status(pro_account, group_id) == {
        "online": True,
        "open": True,
        "back_at": None,
        **NOBODY_TOLD_NOTHING,
    }

    assert pro_account.delete(f"/groups/{group_id}/hours").status_code == 204
    assert status(pro_account, group_id)["open"] is False
    assert_error(account.put("/groups/1/hours", nights), 403, "plan_lacks_feature")


def test_a_widget_socket_says_when_the_team_closes_and_when_it_opens(
    runtime: Runtime, clock: ManualClock
) -> None:
    """No agent changes anything: the socket wakes itself at the closing moment (on the
    manual clock, which the test moves past it) and tells the visitor, with when the team
    is back; and again at the opening."""
    with TestClient(create_app(runtime)) as client:  # with its lifespan: the sockets' parts
        account = sign_up(client)
        local_now = clock.now() + timedelta(hours=1)  # 10:00 at UTC+1
        closes = (local_now + timedelta(minutes=1)).strftime("%H:%M")
        hours = {
            "time_zone": "Etc/GMT-1",
            "weekly": {day: ["00:00-" + closes, "23:00-24:00"] for day in DAYS},
        }
        assert account.put("/settings/hours", hours).status_code == 200
        clock.advance(59.9)  # 0.1 s before the close
        go_online(account)
        visitor = new_visitor(client, account.widget_key)
        protocols = ["frontdesk", f"frontdesk.token.{visitor.token}"]
        with client.websocket_connect(
            f"/api/v1/widget/ws?widget_key={account.widget_key}", subprotocols=protocols
        ) as widget:
            assert widget.receive_json() == {
                "type": "widget.status",
                "online": True,
                "open": True,
                "back_at": None,
            }
            clock.advance(0.2)  # past the close
            closed = widget.receive_json()
            reopens = (clock.now().replace(second=0, microsecond=0) + timedelta(hours=13)).replace(
                minute=0
            )
            assert closed == {
                "type": "widget.status",
                "online": False,
                "open": False,
                "back_at": reopens.isoformat(),
            }
            clock.advance((reopens - clock.now()).total_seconds() + 0.01)
            go_online(account)  # the lease of an hour ago is long gone
            assert widget.receive_json()["online"] is True


def test_the_widget_shows_the_median_first_response_time_when_the_account_wants_it(
    client: TestClient, account: SignedUp, clock: ManualClock
) -> None:
    """Opt-in; the median over the last 7 days' answered conversations; only while online,
    and only with enough answers to say something."""
    go_online(account)
    for waited in (60, 600, 120, 30):  # the third answer is never given
        conversation_id = (
            new_visitor(client, account.widget_key).say("Hello?").json()["conversation_id"]
        )
        clock.advance(waited)
        if waited != 30:
            answered = account.post(f"/conversations/{conversation_id}/messages", {"text": "Hi"})
            assert answered.status_code == 201, answered.text
    go_online(account)
    assert status(account)["reply_within"] is None  # not asked for

    switched = account.patch("/settings/notifications", {"expected_reply_time": True})
    assert switched.json()["expected_reply_time"] is True
    assert status(account)["reply_within"] == 120  # of 60, 120 and 600 s

    account.put("/me/status", {"status": "offline", "device_id": "tab"})
    assert status(account)["reply_within"] is None  # offline: the form, no promise
    # A week later those conversations are out of the window: too few to say anything.
    clock.advance(8 * 86400)
    go_online(account)
    assert status(account)["reply_within"] is None


def test_a_group_widget_socket_greets_with_the_group_hours_then_the_account_hours(
    runtime: Runtime, clock: ManualClock
) -> None:
    """The socket's greeting reads the hours as stored (JSON): a PRO group's own while it
    has them, the account's once they are removed, and always open with neither."""
    with TestClient(create_app(runtime)) as client:
        account = sign_up(client, plan="pro")
        group = account.post("/groups", {"name": "Nights", "agent_ids": [account.agent_id]})
        assert group.status_code == 201, group.text
        group_id = group.json()["id"]
        go_online(account)
        visitor = new_visitor(client, account.widget_key)
        protocols = ["frontdesk", f"frontdesk.token.{visitor.token}"]

        def greeting() -> dict[str, Any]:
            with client.websocket_connect(
                f"/api/v1/widget/ws?widget_key={account.widget_key}&group_id={group_id}",
                subprotocols=protocols,
            ) as widget:
                frame: dict[str, Any] = widget.receive_json()
                return frame

        assert greeting()["open"] is True  # no hours anywhere
        clock.advance(7 * 3600)  # 16:00 UTC, 17:00 at UTC+1: the account is closed
        go_online(account)
        assert account.put("/settings/hours", nine_to_five(clock)).status_code == 200
        nights = {"time_zone": "UTC", "weekly": {day: ["16:00-24:00"] for day in DAYS}}
        assert account.put(f"/groups/{group_id}/hours", nights).status_code == 200
        assert greeting() == {
            "type": "widget.status",
            "online": True,
            "open": True,
            "back_at": None,
        }
        assert account.delete(f"/groups/{group_id}/hours").status_code == 204
        closed = greeting()
        assert closed["open"] is False
        assert closed["online"] is False
        assert closed["back_at"] is not None
