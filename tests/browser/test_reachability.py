"""Can I be reached? In Chromium: an agent set up to fail (e-mails switched off, an address
whose e-mail bounced, no push subscription) sees each failing item in the profile's
checklist with what to do, and the owner sees it in the team's checklist in Settings; the
"Send me a test notification" button makes an e-mail arrive in the built-in mail catcher and
a push at a push service on loopback (tests/pushservice.py), and the checklist shows both
as accepted."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import SiteFactory, Watched, assert_nothing_ran, watching
from tests.browser.dashboard_page import LIVE_TIMEOUT_MS, Dashboard, owner_logged_in, rest
from tests.mailsink import mail_sink
from tests.pushservice import push_service
from tests.support import (
    eventually,
    free_port,
    live_sign_up,
    new_live_visitor,
    report,
    send_until_taken,
)

HOSTILE_NAME = '<img src=x onerror="alert(1)">'


def check(page: Page, key: str) -> Locator:
    return page.locator(f".checklist li[data-key='{key}']").first


def test_an_agent_set_up_to_fail_sees_each_failing_item_and_the_owner_the_team_s(
    watched: Watched, browser: Browser, serve_site: SiteFactory
) -> None:
    inbound = free_port()
    with (
        mail_sink() as sink,
        serve_site(
            smtp_url=sink.url,
            inbound_port=inbound,
            bounce_address="bounces@shop.example",
            smtp_retry_base=0.3,
        ) as server,
    ):
        owner = live_sign_up(server)
        agent = owner.invite(name=HOSTILE_NAME)
        # A notification e-mail to the agent is accepted, then comes back undelivered.
        visitor = new_live_visitor(server, owner.widget_key, name="Vera")
        visitor.say("Do you ship to Brno?")
        (caught,) = sink.wait_for(1, to=agent.email)
        # As the mail server that took it would: again if the 250 is not recorded yet.
        taken = send_until_taken(inbound, caught.mail_from, report(caught.mail_from, agent.email))
        assert taken == 250
        eventually(
            lambda: rest(agent, "GET", "/me")["email_bounced"],
            timeout=10,
            what="the bounce recorded",
        )
        # And the agent has switched offline-message e-mails off, and never subscribed.
        rest(agent, "PATCH", "/me/notifications", {"offline_message_email": False})

        page = watched.page
        dashboard = Dashboard(page, server)
        dashboard.log_in(agent.email, "agent-password")
        dashboard.go("#/profile")
        checklist = dashboard.section("Can I be reached?")
        expect(checklist).to_be_visible()

        failing = {
            "emails_on": "E-mails are switched off in the agent's own choices",
            "address_not_bouncing": "E-mails to this address come back undelivered",
            "push_subscribed": "No browser or phone gets push notifications",
            "last_email": "The last e-mail was accepted, then returned undelivered",
            # The relay sends as frontdesk@localhost, which no receiver can check.
            "sender_domain": "Receivers may not trust e-mail from this domain",
        }
        for key, advice in failing.items():
            row = check(page, key)
            expect(row).to_have_attribute("data-ok", "false")
            expect(row.locator(".check-problem")).to_contain_text(advice)
            expect(row.locator(".badge").first).to_have_text("To fix")
        expect(check(page, "address_confirmed")).to_have_attribute("data-ok", "true")
        expect(check(page, "address_not_bouncing").locator(".bounce-text")).to_contain_text("5.1.1")
        expect(check(page, "last_email")).to_contain_text("A notification to")
        expect(check(page, "last_email").locator(".address")).to_have_text(agent.email)
        expect(check(page, "devices_online")).to_contain_text("(web)")
        assert page.locator(".checklist li[data-ok='false']").count() == len(failing)

        with watching(browser) as owners:
            owners_dashboard = Dashboard(owners.page, server)
            owners_dashboard.log_in(owner.email)
            owners_dashboard.go("#/settings")
            team = owners_dashboard.section("Can the team be reached?")
            expect(team).to_be_visible(timeout=LIVE_TIMEOUT_MS)
            entry = team.locator(f"details[data-agent-id='{agent.agent_id}']")
            expect(entry.locator("summary")).to_contain_text(HOSTILE_NAME)
            expect(entry.locator("summary")).to_contain_text(f"{len(failing)} to fix")
            expect(entry).to_have_attribute("open", "")
            for key, advice in failing.items():
                expect(entry.locator(f"li[data-key='{key}'] .check-problem")).to_contain_text(
                    advice
                )
            assert_nothing_ran(owners)
    assert_nothing_ran(watched)


def test_the_test_notification_arrives_in_the_catcher_and_at_the_push_service(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with (
        push_service(lambda: datetime.now(UTC)) as pushes,
        serve_site(push_http_hosts=["127.0.0.1"]) as server,
    ):
        owner, dashboard = owner_logged_in(page, server)
        pushes.vapid_public_key = rest(owner, "GET", "/push/vapid-key")["public_key"]
        phone = pushes.subscribe()
        rest(
            owner,
            "POST",
            "/me/push-subscriptions",
            phone.subscription_json() | {"device_name": "Pixel"},
        )
        dashboard.go("#/profile")
        checklist = dashboard.section("Can I be reached?")
        expect(check(page, "push_subscribed")).to_have_attribute("data-ok", "true")
        expect(check(page, "test_notification")).to_contain_text("No test notification yet.")

        checklist.get_by_role("button", name="Send me a test notification").click()

        expect(checklist.get_by_role("status")).to_contain_text(f"an e-mail to {owner.email}")
        (pushed,) = eventually(lambda: pushes.received_by(phone), what="the test push")
        assert pushed.payload["kind"] == "test"
        tested = check(page, "test_notification")
        expect(tested).to_contain_text("Pixel: delivered to its push service (201).")
        expect(tested.locator(".badge.delivery-sent")).to_have_text("Sent", timeout=LIVE_TIMEOUT_MS)
        expect(tested).to_have_attribute("data-ok", "true")
        expect(tested.locator(".smtp-reply")).to_contain_text("250")

        # Sent again at once: the server says to wait, and the page says so.
        checklist.get_by_role("button", name="Send me a test notification").click()
        expect(checklist.get_by_role("alert")).to_contain_text("a moment ago")
        assert len(pushes.received_by(phone)) == 1

        page.goto(f"{server.base_url}/dev/mail")
        link = page.get_by_role("link", name="A test notification from Frontdesk")
        expect(link).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        link.click()
        expect(page.locator("pre")).to_contain_text("You asked for a test notification")
    assert_nothing_ran(watched)
