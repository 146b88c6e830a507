"""Settings → Business hours in Chromium: an owner sets weekly openings in a time zone and
dated exceptions, sees what the server refuses in its own words, and switches the hours off;
an agent reads them without changing them (docs/reachability.md). The real clock runs here,
so nothing asserted depends on the weekday or the time of day."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Locator, expect

from tests.browser.conftest import SiteFactory, Watched, assert_nothing_ran
from tests.browser.dashboard_page import Dashboard, owner_logged_in, rest

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
WORKDAYS = WEEKDAYS[:5]
NINE_TO_FIVE = {day.lower(): ["09:00-17:00"] for day in WORKDAYS}
# Whatever the clock says, with these hours the team is open now or closed until a time.
SOME_STATE = re.compile(
    r"^(Open now|Closed now — back .+|Closed now — not open again within two weeks)$"
)


def _day(hours: Locator, name: str) -> Locator:
    return hours.get_by_role("group", name=name, exact=True)


def test_an_owner_sets_the_hours_sees_a_refusal_and_switches_them_off(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner, dashboard = owner_logged_in(page, server)
        dashboard.go("#/settings")
        hours = dashboard.section("Business hours")
        now = hours.locator(".hours-now")
        expect(now).to_have_text("Always open: there are no business hours.")
        switch = hours.get_by_role("switch", name="Business hours")
        expect(switch).not_to_be_checked()
        expect(hours.get_by_label("Time zone")).to_be_hidden()

        switch.check()
        hours.get_by_label("Time zone").fill("America/New_York")
        for name in WEEKDAYS:
            day = _day(hours, name)
            if name in WORKDAYS:
                day.get_by_label("Closed", exact=True).set_checked(False)
                day.get_by_label("From").fill("09:00")
                day.get_by_label("To").fill("17:00")
            else:
                day.get_by_label("Closed", exact=True).set_checked(True)
                expect(day.get_by_label("From")).to_be_hidden()
        hours.get_by_role("button", name="Add a date").click()
        christmas = hours.locator(".hours-exception").last
        christmas.get_by_label("Date", exact=True).fill("2026-12-25")
        expect(christmas.get_by_label("Closed all day")).to_be_checked()
        hours.get_by_role("button", name="Add a date").click()
        eve = hours.locator(".hours-exception").last
        eve.get_by_label("Date", exact=True).fill("2026-12-24")
        eve.get_by_label("Closed all day").uncheck()
        eve.get_by_label("From").fill("09:00")
        eve.get_by_label("To").fill("12:00")
        hours.get_by_role("button", name="Save").click()
        expect(hours.get_by_role("status").filter(has_text="Saved")).to_be_visible()
        expect(now).to_have_text(SOME_STATE)

        chosen = {
            "time_zone": "America/New_York",
            "weekly": NINE_TO_FIVE,
            "exceptions": {"2026-12-24": ["09:00-12:00"], "2026-12-25": []},
        }
        assert rest(owner, "GET", "/settings/hours")["hours"] == chosen

        # Shown again as stored, on coming back to the screen.
        dashboard.go("#/profile")
        dashboard.go("#/settings")
        hours = dashboard.section("Business hours")
        expect(hours.get_by_role("switch", name="Business hours")).to_be_checked()
        expect(hours.get_by_label("Time zone")).to_have_value("America/New_York")
        expect(_day(hours, "Friday").get_by_label("To")).to_have_value("17:00")
        expect(_day(hours, "Sunday").get_by_label("Closed", exact=True)).to_be_checked()
        expect(hours.locator(".hours-exception").get_by_label("Date", exact=True)).to_have_count(2)

        # An opening that ends before it starts: the server's words, and nothing changes.
        monday = _day(hours, "Monday")
        monday.get_by_label("From").fill("17:00")
        monday.get_by_label("To").fill("09:00")
        hours.get_by_role("button", name="Save").click()
        expect(hours.get_by_role("alert")).to_have_text(
            "These hours cannot be saved: monday: '17:00-09:00' must end after it starts"
        )
        assert rest(owner, "GET", "/settings/hours")["hours"] == chosen

        # Off: always open.
        hours.get_by_role("switch", name="Business hours").uncheck()
        hours.get_by_role("button", name="Save").click()
        expect(hours.get_by_role("status").filter(has_text="Saved")).to_be_visible()
        expect(hours.locator(".hours-now")).to_have_text(
            "Always open: there are no business hours."
        )
        answer = rest(owner, "GET", "/settings/hours")
        assert answer["hours"] is None
        assert answer["open"] is True
    assert_nothing_ran(watched)


def test_an_agent_reads_the_hours_and_when_the_team_is_back(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner, _ = owner_logged_in(page, server)
        agent = owner.invite(name="Anna")
        # Closed today and the next two days whatever the time, open on the third: the
        # team is closed now and back then, on any weekday at any hour.
        today = datetime.now(UTC).date()
        closed: dict[str, list[str]] = {
            (today + timedelta(days=n)).isoformat(): [] for n in range(3)
        }
        back = (today + timedelta(days=3)).isoformat()
        set_hours = {
            "time_zone": "UTC",
            "weekly": NINE_TO_FIVE,
            "exceptions": closed | {back: ["10:00-12:00"]},
        }
        answer = rest(owner, "PUT", "/settings/hours", set_hours)
        assert answer["open"] is False
        assert answer["back_at"].startswith(f"{back}T10:00")

        dashboard = Dashboard(page, server)
        dashboard.log_out()
        dashboard.log_in(agent.email, "agent-password")
        dashboard.go("#/settings")
        hours = dashboard.section("Business hours")
        now = hours.locator(".hours-now")
        expect(now).to_contain_text("Closed now — back ")
        expect(now.locator("time")).to_have_attribute("datetime", answer["back_at"])

        switch = hours.get_by_role("switch", name="Business hours")
        expect(switch).to_be_checked()
        expect(switch).to_be_disabled()
        expect(hours.get_by_label("Time zone")).to_have_value("UTC")
        expect(hours.get_by_label("Time zone")).to_be_disabled()
        monday = _day(hours, "Monday")
        expect(monday.get_by_label("From")).to_have_value("09:00")
        expect(monday.get_by_label("To")).to_have_value("17:00")
        expect(monday.get_by_label("From")).to_be_disabled()
        expect(_day(hours, "Saturday").get_by_label("Closed", exact=True)).to_be_checked()
        expect(_day(hours, "Saturday").get_by_label("Closed", exact=True)).to_be_disabled()
        expect(hours.locator(".hours-exception").get_by_label("Date", exact=True)).to_have_count(4)
        expect(hours.get_by_role("button")).to_have_count(0)
        expect(
            hours.get_by_text("Only owners and admins can change the business hours.")
        ).to_be_visible()
    assert_nothing_ran(watched)
