"""The inbox of the agent dashboard in real Chromium against a real server: an agent goes
online, serves a visitor live, reads a long conversation, sees their other devices, and
finds out why no e-mail went out. Visitors are played over the REST API and their WebSocket
(the widget has tests of its own); every outcome is checked on the server too, not only on
the page."""

from __future__ import annotations

import time
from datetime import datetime

from playwright.sync_api import expect
from sqlalchemy import select

from frontdesk.mail.verp import verp_token
from frontdesk.service import bounces
from frontdesk.store.models import Delivery
from tests.browser.conftest import SiteFactory, Watched, assert_nothing_ran
from tests.browser.dashboard_page import (
    LIVE_TIMEOUT_MS,
    Dashboard,
    agent_is_online,
    notifications_of,
    owner_logged_in,
    rest,
    wait_for_visitor_message,
)
from tests.support import eventually, live_sign_up, new_live_visitor

HOSTILE_NAME = "<script>alert(2)</script>"
HOSTILE_TEXT = "<img src=x onerror=alert(1)>"


def test_an_agent_goes_online_and_serves_a_visitor_without_reloading(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner, dashboard = owner_logged_in(page, server)
        # A browser the agent never switched on does not make the agent online.
        expect(dashboard.online_switch).not_to_be_checked()
        assert not agent_is_online(owner)

        dashboard.online_switch.check()
        eventually(lambda: agent_is_online(owner), what="the agent online on the server")

        visitor = new_live_visitor(server, owner.widget_key, name="Vera")
        said = visitor.say("Do you ship to Brno?")
        conversation_id = said["conversation_id"]
        item = dashboard.conversation_in_list("Vera")
        expect(item).to_contain_text("Do you ship to Brno?", timeout=LIVE_TIMEOUT_MS)
        expect(item).to_contain_text("Unread")
        expect(item).to_contain_text("On the website")
        expect(dashboard.folder("Unserved")).to_contain_text("1")

        item.click()
        expect(dashboard.conversation.get_by_role("heading", name="Vera")).to_be_visible()
        expect(dashboard.messages).to_contain_text("Do you ship to Brno?")
        eventually(
            lambda: (
                rest(owner, "GET", f"/conversations/{conversation_id}")["last_read_message_id"]
                == said["message_id"]
            ),
            what="the conversation read on the server",
        )
        expect(item).not_to_contain_text("Unread", timeout=LIVE_TIMEOUT_MS)

        with visitor.socket() as visitor_socket:
            visitor_socket.wait_for("widget.status")
            dashboard.conversation.get_by_role("button", name="Join").click()
            expect(dashboard.folder("Mine")).to_have_attribute("aria-selected", "true")
            expect(dashboard.folder("Mine")).to_contain_text("1")
            expect(dashboard.conversation_in_list("Vera")).to_be_visible()
            expect(dashboard.folder("Unserved")).to_contain_text("0")
            joined = rest(owner, "GET", f"/conversations/{conversation_id}")
            assert (joined["folder"], joined["assignee_id"]) == ("mine", owner.agent_id)

            reply = page.get_by_label("Reply")
            reply.fill("Yes, in two days.")
            reply.press("Enter")
            frame = wait_for_visitor_message(visitor_socket, "Yes, in two days.")
            assert frame["message"]["author"] == "agent"
            expect(reply).to_have_value("")
            expect(dashboard.messages).to_contain_text("Yes, in two days.")

        dashboard.conversation.get_by_role("button", name="Close conversation").click()
        expect(dashboard.conversation).to_contain_text("This conversation is closed.")
        expect(reply).to_be_hidden()
        dashboard.folder("Closed").click()
        expect(dashboard.conversation_in_list("Vera")).to_be_visible()
        assert rest(owner, "GET", f"/conversations/{conversation_id}")["status"] == "closed"
    assert_nothing_ran(watched)


def test_hostile_visitor_text_is_shown_as_text_and_runs_nothing(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = live_sign_up(server)
        visitor = new_live_visitor(server, owner.widget_key, name=HOSTILE_NAME)
        visitor.say(HOSTILE_TEXT)
        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)

        item = dashboard.conversation_in_list(HOSTILE_NAME)
        expect(item).to_contain_text(HOSTILE_TEXT)
        item.click()
        expect(dashboard.conversation.get_by_role("heading", level=2)).to_have_text(HOSTILE_NAME)
        expect(dashboard.messages).to_contain_text(HOSTILE_TEXT)
        expect(page.get_by_role("region", name="Visitor")).to_contain_text(HOSTILE_NAME)

        assert page.locator("img").count() == 0
        assert page.locator("body script").count() == 0
    assert_nothing_ran(watched)


def test_a_long_conversation_opens_at_its_newest_page_and_shows_earlier_on_asking(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = live_sign_up(server)
        visitor = new_live_visitor(server, owner.widget_key, name="Vera")
        said = [visitor.say(f"line {n}") for n in range(105)]
        conversation_id = said[0]["conversation_id"]
        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)
        dashboard.go(f"#/conversations/{conversation_id}")
        items = dashboard.messages.locator("li.message")
        expect(items).to_have_count(100)
        expect(items.first).to_contain_text("line 5")
        expect(items.last).to_contain_text("line 104")
        dashboard.messages.get_by_role("button", name="Show earlier messages").click()
        expect(items).to_have_count(105)
        expect(items.first).to_contain_text("line 0")
        expect(
            dashboard.messages.get_by_role("button", name="Show earlier messages")
        ).to_have_count(0)

        # A message arriving now joins the end; the earlier page stays.
        visitor.say("one more")
        expect(items.last).to_contain_text("one more", timeout=LIVE_TIMEOUT_MS)
        expect(items).to_have_count(106)
    assert_nothing_ran(watched)


def test_the_header_shows_the_agents_other_devices_that_are_online(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner, dashboard = owner_logged_in(page, server)
        expect(dashboard.devices).to_have_text("")

        with owner.socket("desktop-1", kind="desktop"):
            # The help article's "you were not really offline": this browser is off, the app is not.
            expect(dashboard.devices).to_have_text(
                "Also online: desktop (desktop-1) — so you still count as online",
                timeout=LIVE_TIMEOUT_MS,
            )
            dashboard.online_switch.check()
            expect(dashboard.devices).to_have_text("Also online: desktop (desktop-1)")
            dashboard.online_switch.uncheck()
            expect(dashboard.devices).to_contain_text("so you still count as online")
        # The desktop app's socket closed: the agent went offline, which the page is told.
        expect(dashboard.devices).to_have_text("", timeout=LIVE_TIMEOUT_MS)

        # A device kept online over REST (PUT /me/status) counts the same.
        rest(owner, "PUT", "/me/status", {"status": "online", "device_id": "phone"})
        expect(dashboard.devices).to_contain_text(
            "Also online: web (phone)", timeout=LIVE_TIMEOUT_MS
        )
    assert_nothing_ran(watched)


def test_why_no_e_mail_shows_that_the_agent_came_online_within_the_delay(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    # A delay long enough to open the conversation and switch online before it is due.
    with serve_site(offline_email_delay=3) as server:
        owner, dashboard = owner_logged_in(page, server)
        expect(dashboard.online_switch).not_to_be_checked()

        visitor = new_live_visitor(server, owner.widget_key, name="Vera")
        conversation_id = visitor.say("Is anybody there?")["conversation_id"]
        dashboard.conversation_in_list("Vera").click()
        why = dashboard.why_panel
        expect(why).to_contain_text("Offline message")
        expect(why).to_contain_text("Scheduled")

        dashboard.online_switch.check()
        expect(why.locator("code")).to_have_text("agent_came_online", timeout=LIVE_TIMEOUT_MS)
        expect(why).to_contain_text(
            "An agent came online before the e-mail was due, so the visitor could be answered live."
        )
        expect(why).to_contain_text("Not sent")

        # Past the due time the decision stands, and no e-mail went out.
        (decision,) = notifications_of(owner, conversation_id)
        due = datetime.fromisoformat(decision["due_at"])
        time.sleep(max(0.0, (due - datetime.now(due.tzinfo)).total_seconds()) + 0.5)
        (decision,) = notifications_of(owner, conversation_id)
        assert (decision["state"], decision["reason"]) == ("suppressed", "agent_came_online")
        assert decision["recipients"] == []
        page.reload()
        expect(dashboard.why_panel.locator("code")).to_have_text("agent_came_online")
    assert_nothing_ran(watched)


def test_a_bounced_address_is_a_warning_in_the_profile_and_in_why_no_e_mail(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = live_sign_up(server)
        visitor = new_live_visitor(server, owner.widget_key, name="Vera")
        conversation_id = visitor.say("Hello?")["conversation_id"]
        # Nobody is online: the offline-message e-mail goes to the built-in catcher …
        eventually(
            lambda: any(
                r["state"] == "sent"
                for n in notifications_of(owner, conversation_id)
                for r in n["recipients"]
            ),
            what="the offline-message e-mail accepted",
        )
        # … and comes back, as a remote server's delivery-status notification would say.
        with server.runtime.database.read() as session:
            delivery_id = session.scalar(
                select(Delivery.id).where(Delivery.agent_id == owner.agent_id)
            )
        assert delivery_id is not None
        bounce_text = "550 5.1.1 Recipient address rejected: User unknown"
        token = verp_token(bounces.verp_key(server.runtime), delivery_id)
        assert (
            bounces.record_bounce(server.runtime, token, status="5.1.1", bounce_text=bounce_text)
            is bounces.BounceResult.BOUNCED
        )

        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)
        dashboard.go("#/profile")
        # In the profile; the owners' banner says too that nobody got that notification.
        warning = page.get_by_role("main").get_by_role("alert")
        expect(warning).to_contain_text("E-mails to your address bounce")
        expect(warning).to_contain_text(owner.email)
        expect(warning).to_contain_text(f"5.1.1 {bounce_text}")

        dashboard.go(f"#/conversations/{conversation_id}")
        why = dashboard.why_panel
        expect(why).to_contain_text("Bounced")
        expect(why).to_contain_text(bounce_text)
        # Nobody else got it, so the whole notification failed; the recipient is "You".
        expect(why).to_contain_text("Failed")
        expect(why).to_contain_text(f"You <{owner.email}>")
        expect(page.get_by_role("alert", name="Alerts")).to_contain_text(
            "every e-mail of its notification was refused or came back"
        )
    assert_nothing_ran(watched)
