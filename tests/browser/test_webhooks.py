"""Settings → Webhooks in Chromium: an owner adds an endpoint (a real receiver on loopback,
tests/webhookreceiver.py), sees its signing secret, sends a test event and reads what the
endpoint answered in its delivery log, and switches it off."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import SiteFactory, Watched, assert_nothing_ran
from tests.browser.dashboard_page import owner_logged_in, rest
from tests.support import eventually
from tests.webhookreceiver import webhook_receiver


def test_an_owner_adds_an_endpoint_tests_it_and_reads_its_delivery_log(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with webhook_receiver() as receiver, serve_site(webhook_local_hosts=["127.0.0.1"]) as server:
        owner, dashboard = owner_logged_in(page, server)
        dashboard.go("#/settings")
        hooks = page.get_by_role("region", name="Webhooks")
        expect(hooks.get_by_text("No webhook endpoints yet.")).to_be_visible()

        hooks.get_by_label("URL").fill(f"{receiver.url}/crm")
        hooks.get_by_label("Description").fill("Our <b>CRM</b>")
        hooks.get_by_label("Every message").check()
        hooks.get_by_role("button", name="Add endpoint").click()
        secret = hooks.locator(".webhook-secret")
        expect(secret).to_contain_text("whsec_")
        receiver.secrets["/crm"] = secret.inner_text()
        assert receiver.secrets["/crm"].startswith("whsec_")
        (made,) = rest(owner, "GET", "/webhooks")
        assert made["events"] == [
            "notification.offline_message",
            "notification.missed_conversation",
            "message.created",
        ]
        item = hooks.locator(".webhook")
        expect(item.locator(".webhook-url")).to_have_text(f"{receiver.url}/crm")
        expect(item.get_by_text("Our <b>CRM</b>")).to_be_visible()  # as typed, not markup
        expect(item.get_by_text("On", exact=True)).to_be_visible()

        item.get_by_role("button", name="Send a test event").click()
        expect(item.get_by_text("Test event sent")).to_be_visible()
        expect(item.locator(".webhook-attempts li")).to_contain_text("HTTP 200 in")
        expect(item.locator(".webhook-delivery")).to_contain_text("webhook.test")
        expect(item.locator(".webhook-delivery")).to_contain_text("Delivered")
        (test,) = eventually(lambda: receiver.at("/crm"), what="the test event")
        assert test.verified
        assert test.json["type"] == "webhook.test"

        item.get_by_role("button", name="Switch off").click()
        expect(hooks.locator(".webhook").get_by_text("Switched off", exact=True)).to_be_visible()
        assert rest(owner, "GET", "/webhooks")[0]["enabled"] is False
    assert_nothing_ran(watched)
