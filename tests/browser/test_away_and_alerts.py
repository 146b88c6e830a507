"""Reachability in Chromium (docs/reachability.md): a dashboard nobody touches makes its
agent away and says so, and the agent's next move brings them back; the owners' banner
shows an alert and dismisses it; the widget tells the visitor that nobody can be reached,
and outside business hours when the team is back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import SiteFactory, Watched, assert_nothing_ran, watching
from tests.browser.dashboard_page import agent_is_online, owner_logged_in, rest
from tests.browser.widget_page import WAIT_MS, Widget
from tests.support import LiveServer, eventually, new_live_visitor

IDLE_AFTER = 1.5  # seconds


@pytest.fixture
def site(serve_site: SiteFactory) -> Iterator[LiveServer]:
    with serve_site() as server:
        yield server


def test_an_untouched_dashboard_goes_away_and_a_move_brings_it_back(
    watched: Watched, site: LiveServer
) -> None:
    page = watched.page
    owner, dashboard = owner_logged_in(page, site)
    rest(owner, "PATCH", "/settings/notifications", {"agent_idle_after": IDLE_AFTER})
    # A click: activity, and online; online for IDLE_AFTER only, too short a moment to be
    # sure a slow machine's poll sees it. Away below needs the switch's online status.
    dashboard.online_switch.click()

    # Nobody touches the page: away, said in the header with the idle device.
    expect(dashboard.devices).to_contain_text("You are away", timeout=WAIT_MS)
    expect(dashboard.devices).to_contain_text("web (")
    assert rest(owner, "GET", "/me/status")["state"] == "away"
    assert not agent_is_online(owner)

    page.mouse.move(200, 300)
    page.mouse.move(220, 320)
    eventually(lambda: agent_is_online(owner) or None, what="online again")
    expect(dashboard.devices).not_to_contain_text("You are away", timeout=WAIT_MS)
    assert_nothing_ran(watched)


def test_the_owner_sees_an_alert_the_widget_says_nobody_can_be_reached(
    watched: Watched, site: LiveServer, browser: Browser
) -> None:
    page = watched.page
    owner, _dashboard = owner_logged_in(page, site)
    rest(owner, "PATCH", "/me/notifications", {"offline_message_email": False})
    new_live_visitor(site, owner.widget_key, name="<img src=x onerror=alert(1)>").say("Hello?")

    banner = page.get_by_role("alert", name="Alerts")
    expect(banner).to_contain_text("A visitor's message reached nobody", timeout=WAIT_MS)
    expect(banner).to_contain_text("switched these e-mails off")

    with watching(browser) as visitor:
        widget = Widget(visitor.page)
        visitor.page.goto(f"{site.base_url}/demo?key={owner.widget_key}")
        widget.open()
        expect(widget.dialog).to_contain_text("Nobody can be reached right now", timeout=WAIT_MS)
        assert_nothing_ran(visitor)

    banner.get_by_role("button", name="Dismiss").click()
    expect(banner).to_be_hidden(timeout=WAIT_MS)
    (alert,) = rest(owner, "GET", "/alerts")["alerts"]
    assert (alert["open"], alert["cleared_by"]) == (False, "dismissed")
    assert_nothing_ran(watched)


def test_outside_business_hours_the_widget_says_when_the_team_is_back(
    watched: Watched, site: LiveServer
) -> None:
    owner, _dashboard = owner_logged_in(watched.page, site)
    today = datetime.now(UTC).date()
    rest(
        owner,
        "PUT",
        "/settings/hours",
        {
            "time_zone": "UTC",
            "weekly": {},
            # Closed today; open tomorrow all day.
            "exceptions": {(today + timedelta(days=1)).isoformat(): ["00:00-24:00"]},
        },
    )
    widget = Widget(watched.page)
    watched.page.goto(f"{site.base_url}/demo?key={owner.widget_key}")
    widget.open()
    expect(widget.dialog).to_contain_text("We are closed now and back", timeout=WAIT_MS)
    assert_nothing_ran(watched)
