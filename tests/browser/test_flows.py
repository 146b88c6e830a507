"""The whole product in two browsers: a visitor on the demo shop's widget and an agent in
the dashboard, on one real server with the built-in mail catcher. These are the flows a new
user tries first; each side is only what that person sees and does."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from frontdesk.mail.catcher import caught_mail
from tests.browser.conftest import SiteFactory, Watched, watching
from tests.browser.dashboard_page import LIVE_TIMEOUT_MS, Dashboard, agent_is_online, rest
from tests.browser.widget_page import Widget
from tests.support import eventually, live_sign_up

HOSTILE = "<img src=x onerror=alert(1)>"


def assert_nothing_ran(*people: Watched) -> None:
    for person in people:
        assert person.dialogs == []
        assert person.errors == []


def test_a_visitor_in_the_widget_is_served_live_by_an_agent_in_the_dashboard(
    browser: Browser, serve_site: SiteFactory
) -> None:
    with (
        serve_site() as server,
        watching(browser) as agent_browser,
        watching(browser) as visitor_browser,
    ):
        owner = live_sign_up(server)
        dashboard = Dashboard(agent_browser.page, server)
        dashboard.log_in(owner.email)
        dashboard.online_switch.check()
        expect(dashboard.online_switch).to_be_checked()
        # The switch turns at once; the server records it a moment later. The visitor's
        # widget reads the status once when it opens (it has no socket before its first
        # message), so it comes once the agent is online.
        eventually(lambda: agent_is_online(owner) or None, what="the agent online")

        visitor_browser.page.goto(f"{server.base_url}/demo")
        widget = Widget(visitor_browser.page)
        widget.open()
        widget.say("Do you ship to Brno?")  # online mode: the chat, not the offline form

        # Live: the dashboard was not reloaded.
        dashboard.folder("Unserved").click()
        listed = dashboard.conversation_in_list("Do you ship to Brno?")
        expect(listed).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        listed.click()
        expect(dashboard.messages).to_contain_text("Do you ship to Brno?")
        (conversation,) = rest(owner, "GET", "/conversations?folder=unserved")["conversations"]
        eventually(
            lambda: rest(owner, "GET", f"/conversations/{conversation['id']}")[
                "last_read_message_id"
            ],
            what="opening the conversation marks it read",
        )

        dashboard.conversation.get_by_role("button", name="Join").click()
        expect(dashboard.folder("Mine")).to_have_attribute("aria-selected", "true")
        reply = dashboard.page.get_by_label("Reply")
        reply.fill("Yes, in two days.")
        reply.press("Enter")

        expect(widget.bubbles("agent")).to_have_text(["Yes, in two days."], timeout=LIVE_TIMEOUT_MS)
        expect(widget.bubbles("system").first).to_contain_text("joined the conversation")
        served = rest(owner, "GET", f"/conversations/{conversation['id']}")
        assert (served["status"], served["assignee_id"]) == ("served", owner.agent_id)
    assert_nothing_ran(agent_browser, visitor_browser)


def test_an_offline_message_from_the_widget_is_e_mailed_and_hostile_text_stays_text(
    browser: Browser, serve_site: SiteFactory
) -> None:
    """Nobody online: the widget asks for an e-mail address; after the delay the e-mail is
    in the catcher. The visitor's text is shown as text in the dashboard, in the e-mail's
    HTML and in its plain-text part."""
    with (
        serve_site(offline_email_delay=0.5) as server,
        watching(browser) as agent_browser,
        watching(browser) as visitor_browser,
    ):
        owner = live_sign_up(server)
        visitor_browser.page.goto(f"{server.base_url}/demo/product")
        widget = Widget(visitor_browser.page)
        widget.open()
        expect(widget.dialog).to_contain_text("We are not online right now.")
        widget.leave_message(email="vera@example.com", name="Vera", text=HOSTILE)
        expect(widget.dialog.get_by_text(widget.text("thanks"))).to_be_visible()
        expect(widget.bubbles("visitor")).to_have_text([HOSTILE])
        assert widget.shadow_count("img") == 0

        mail = eventually(
            lambda: caught_mail(server.runtime.settings.mail_dir),
            what="the offline-message e-mail in the catcher",
        )
        (email,) = mail
        assert email.recipients == owner.email
        assert email.subject == 'New message from "Vera" on Shop'
        text_part = email.message.get_body(("plain",))
        assert text_part is not None
        assert HOSTILE in text_part.get_content()

        page = agent_browser.page
        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)
        dashboard.folder("Unserved").click()
        dashboard.conversation_in_list("Vera").click()
        expect(dashboard.messages).to_contain_text(HOSTILE)
        expect(dashboard.conversation).to_contain_text("vera@example.com")
        expect(dashboard.why_panel).to_contain_text("Sent")
        assert page.locator("img[src='x']").count() == 0

        # The e-mail as the agent opens it from the dashboard's "Caught mail".
        with page.context.expect_page() as opened:
            dashboard.navigation.get_by_role("link", name=re.compile("Caught mail")).click()
        mailbox = opened.value
        mailbox.on("dialog", lambda dialog: agent_browser.dialogs.append(dialog.message))
        mailbox.get_by_role("link", name='New message from "Vera" on Shop').click()
        frame = mailbox.frame_locator("iframe[title='The HTML part']")
        expect(frame.locator("p.text")).to_have_text(HOSTILE)
        assert frame.locator("img, script").count() == 0
    assert_nothing_ran(agent_browser, visitor_browser)


def test_why_no_e_mail_explains_an_agent_who_came_back_while_the_widget_waited(
    browser: Browser, serve_site: SiteFactory
) -> None:
    with (
        serve_site(offline_email_delay=3) as server,
        watching(browser) as agent_browser,
        watching(browser) as visitor_browser,
    ):
        owner = live_sign_up(server)
        dashboard = Dashboard(agent_browser.page, server)
        dashboard.log_in(owner.email)
        expect(dashboard.online_switch).not_to_be_checked()

        visitor_browser.page.goto(f"{server.base_url}/demo")
        widget = Widget(visitor_browser.page)
        widget.open()
        widget.leave_message(email="petra@example.com", text="Is the teapot in stock?")
        expect(widget.dialog.get_by_text(widget.text("thanks"))).to_be_visible()

        dashboard.online_switch.check()  # back within the 3 s delay
        # The widget learns it live and turns into the chat.
        expect(widget.message_box).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        expect(widget.dialog.get_by_role("heading", name=widget.text("leave"))).to_have_count(0)

        dashboard.folder("Unserved").click()
        dashboard.conversation_in_list("petra@example.com").click()
        why = dashboard.why_panel
        expect(why.locator("code")).to_have_text("agent_came_online", timeout=LIVE_TIMEOUT_MS)
        assert caught_mail(server.runtime.settings.mail_dir) == []
    assert_nothing_ran(agent_browser, visitor_browser)
