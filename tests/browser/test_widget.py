"""The visitor chat widget in real Chromium against a real server: the offline form and its
e-mail, the live chat, a page navigation that keeps the visitor, a customer's website on
another origin, PRO groups, keyboard use, translations, hostile text and a doubled script
tag. Every page records dialogs and errors; each test ends with both lists empty."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Route, expect

from frontdesk.mail.catcher import caught_mail
from tests.browser.conftest import SiteFactory, Watched
from tests.browser.widget_page import (
    WAIT_MS,
    Widget,
    conversation,
    conversations_of,
    customer_site,
)
from tests.support import LiveServer, eventually, live_sign_up


def nothing_went_wrong(watched: Watched) -> None:
    assert watched.dialogs == []
    assert watched.errors == []


@pytest.fixture
def site(serve_site: SiteFactory) -> Iterator[LiveServer]:
    with serve_site() as server:
        yield server


def test_offline_the_visitor_leaves_a_message_and_the_owner_gets_it_by_email(
    watched: Watched, site: LiveServer
) -> None:
    owner = live_sign_up(site)  # no agent socket: nobody is online
    widget = Widget(watched.page)
    watched.page.goto(f"{site.base_url}/demo?key={owner.widget_key}")
    widget.open()

    text = "Do you ship teapots to Norway?"
    widget.leave_message(email="ingrid@example.net", name="Ingrid", text=text)

    expect(widget.dialog.get_by_role("status")).to_have_text(widget.text("thanks"))
    expect(widget.bubbles("visitor")).to_have_text([text])
    mail = eventually(
        lambda: [m for m in caught_mail(site.runtime.settings.mail_dir) if text in m.raw.decode()],
        what="the offline-message e-mail",
    )
    assert len(mail) == 1
    assert owner.email in mail[0].recipients
    assert text in (mail[0].body("plain") or "")
    [unserved] = conversations_of(owner)
    assert unserved["visitor"]["email"] == "ingrid@example.net"
    assert unserved["visitor"]["name"] == "Ingrid"
    assert unserved["visitor"]["page_url"].startswith(f"{site.base_url}/demo")
    nothing_went_wrong(watched)


def test_online_an_agent_reply_appears_in_the_widget_while_it_is_open(
    watched: Watched, site: LiveServer
) -> None:
    owner = live_sign_up(site)
    with owner.socket() as agent_socket:
        agent_socket.wait_for("hello")
        widget = Widget(watched.page)
        watched.page.goto(f"{site.base_url}/demo?key={owner.widget_key}")
        widget.open()
        expect(widget.dialog.get_by_role("heading", name="Chat with us")).to_be_visible()
        widget.say("Is the teapot enamelled inside?")

        created = agent_socket.wait_for("conversation.created")
        conversation_id = created["conversation"]["id"]
        reply = owner.call(
            "POST", f"/conversations/{conversation_id}/messages", {"text": "Yes, it is."}
        )
        assert reply.status_code == 201, reply.text

        expect(widget.bubbles("agent")).to_have_text(["Yes, it is."], timeout=WAIT_MS)
        # Replying joined the conversation, which the visitor sees as a system line.
        expect(widget.bubbles("system")).to_have_count(1)
        expect(widget.log.locator(".msg")).to_have_count(3)
    nothing_went_wrong(watched)


def test_moving_to_another_page_keeps_the_visitor_its_messages_and_its_presence(
    watched: Watched, serve_site: SiteFactory
) -> None:
    left_after = 2.5
    with serve_site(visitor_left_after=left_after) as server:
        owner = live_sign_up(server)
        with owner.socket() as agent_socket:
            agent_socket.wait_for("hello")
            page = watched.page
            widget = Widget(page)
            page.goto(f"{server.base_url}/demo?key={owner.widget_key}")
            widget.open()
            widget.say("First question, on the shop page")
            conversation_id = agent_socket.wait_for("conversation.created")["conversation"]["id"]

            page.get_by_role("link", name="Our cast-iron teapot").click()
            page.wait_for_url(f"{server.base_url}/demo/product?key={owner.widget_key}")
            # The panel stays open and shows the conversation so far.
            expect(widget.dialog).to_be_visible()
            expect(widget.bubbles("visitor")).to_have_text(["First question, on the shop page"])

            # Past visitor_left_after, and the sweep that records a departure up to a
            # second after it: only the new page's socket can keep the visitor now.
            frames = agent_socket.quiet_for(left_after + 3)
            departures = [
                f for f in frames if f["type"] == "presence.changed" and f.get("online") is False
            ]
            assert departures == []
            assert conversation(owner, conversation_id)["visitor"]["on_website"] is True

            widget.say("Second question, on the product page")
        details = conversation(owner, conversation_id)
        assert [m["text"] for m in details["messages"]] == [
            "First question, on the shop page",
            "Second question, on the product page",
        ]
        assert [c["id"] for c in conversations_of(owner)] == [conversation_id]
    nothing_went_wrong(watched)


def test_a_website_on_another_origin_embeds_the_widget_with_one_tag(
    watched: Watched, site: LiveServer
) -> None:
    owner = live_sign_up(site)
    tag = f'<script src="{site.base_url}/widget.js" data-key="{owner.widget_key}" async></script>'
    with owner.socket() as agent_socket, customer_site(f"<!doctype html><p>Tea</p>{tag}") as shop:
        agent_socket.wait_for("hello")
        assert shop != site.base_url  # another port: another origin
        widget = Widget(watched.page)
        watched.page.goto(f"{shop}/teapots")
        widget.open()
        widget.say("Hello from another origin")

        created = agent_socket.wait_for("conversation.created")["conversation"]
        assert created["visitor"]["page_url"] == f"{shop}/teapots"
        details = conversation(owner, created["id"])
        assert [m["text"] for m in details["messages"]] == ["Hello from another origin"]
        owner.call("POST", f"/conversations/{created['id']}/messages", {"text": "Hi there"})
        expect(widget.bubbles("agent")).to_have_text(["Hi there"], timeout=WAIT_MS)
    nothing_went_wrong(watched)


def test_a_message_whose_answer_was_lost_is_sent_again_and_stored_once(
    watched: Watched, site: LiveServer
) -> None:
    """The server stores the message, and its answer never reaches the browser (a proxy
    restarted, a connection cut): the widget sends the message again with the same
    Idempotency-Key, from another origin (the browser asks first whether it may send that
    header), and the server answers with the message it stored."""
    owner = live_sign_up(site)
    tag = f'<script src="{site.base_url}/widget.js" data-key="{owner.widget_key}"></script>'
    keys: list[str | None] = []

    def lose_the_first_answer(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            route.fetch()  # the server takes the message; its answer is dropped
            route.abort("connectionreset")
        else:
            route.continue_()

    with owner.socket() as agent_socket, customer_site(f"<!doctype html>{tag}") as shop:
        agent_socket.wait_for("hello")
        watched.page.route(re.compile(r".*/api/v1/widget/[^/]+/messages$"), lose_the_first_answer)
        widget = Widget(watched.page)
        watched.page.goto(f"{shop}/teapots")
        widget.open()
        widget.say("Is the teapot in stock?")

        created = agent_socket.wait_for("conversation.created")["conversation"]
        assert len(keys) == 2
        assert keys[0] is not None
        assert keys[0] == keys[1]
        details = conversation(owner, created["id"])
        assert [m["text"] for m in details["messages"]] == ["Is the teapot in stock?"]
        expect(widget.alert).to_be_empty()
    nothing_went_wrong(watched)


def test_a_visitor_over_the_message_limit_is_told_to_wait_and_keeps_the_text(
    watched: Watched, serve_site: SiteFactory
) -> None:
    with serve_site(
        rate_limits=True, rate_limit_messages_per_visitor="1 per 10 minutes"
    ) as limited:
        owner = live_sign_up(limited)
        tag = f'<script src="{limited.base_url}/widget.js" data-key="{owner.widget_key}"></script>'
        with owner.socket() as agent_socket, customer_site(f"<!doctype html>{tag}") as shop:
            agent_socket.wait_for("hello")
            widget = Widget(watched.page)
            watched.page.goto(f"{shop}/teapots")  # another origin: the body says how long
            widget.open()
            widget.say("The first one")
            widget.message_box.fill("One too many")
            widget.dialog.get_by_role("button", name="Send", exact=True).click()
            expect(widget.alert).to_have_text(
                re.compile(r"^You are writing faster than we can take\. Please wait \d+ s")
            )
            expect(widget.message_box).to_have_value("One too many")
            expect(widget.bubbles("visitor")).to_have_text(["The first one"])
    nothing_went_wrong(watched)


def test_a_group_widget_is_online_only_with_an_agent_of_the_group(
    watched: Watched, site: LiveServer
) -> None:
    owner = live_sign_up(site, plan="pro")
    created = owner.call("POST", "/groups", {"name": "Teapots"})
    assert created.status_code == 201, created.text
    group_id = created.json()["id"]
    member = owner.invite(group_ids=[group_id])
    widget = Widget(watched.page)
    url = f"{site.base_url}/demo?key={owner.widget_key}&group={group_id}"

    with owner.socket() as owner_socket:  # online, but not of the group
        owner_socket.wait_for("hello")
        watched.page.goto(url)
        widget.open()
        expect(widget.dialog.get_by_role("heading", name="Leave a message")).to_be_visible()

        with member.socket() as member_socket:
            member_socket.wait_for("hello")
            watched.page.reload()
            expect(widget.dialog.get_by_role("heading", name="Chat with us")).to_be_visible()
            widget.say("Which teapot holds a litre?")
            conversation_id = owner_socket.wait_for("conversation.created")["conversation"]["id"]
            assert conversation(owner, conversation_id)["group_id"] == group_id
        # The widget's socket hears that the group's only agent went offline.
        expect(widget.dialog.get_by_role("heading", name="Leave a message")).to_be_visible(
            timeout=WAIT_MS
        )
    nothing_went_wrong(watched)


def test_the_keyboard_opens_writes_sends_and_closes_and_roles_name_every_control(
    watched: Watched, site: LiveServer
) -> None:
    owner = live_sign_up(site)
    with owner.socket() as agent_socket:
        agent_socket.wait_for("hello")
        page = watched.page
        widget = Widget(page)
        page.goto(f"{site.base_url}/demo?key={owner.widget_key}")
        expect(widget.launcher).to_have_attribute("aria-expanded", "false")

        widget.launcher.focus()
        page.keyboard.press("Enter")
        expect(widget.dialog).to_be_visible()
        expect(widget.launcher).to_have_attribute("aria-expanded", "true")
        expect(widget.message_box).to_be_focused()
        expect(widget.log).to_have_attribute("aria-live", "polite")
        expect(widget.dialog.get_by_role("button", name="Close chat")).to_be_visible()

        page.keyboard.type("two lines:")
        page.keyboard.press("Shift+Enter")
        page.keyboard.type("this one too")
        expect(widget.message_box).to_have_value("two lines:\nthis one too")
        page.keyboard.press("Enter")
        expect(widget.bubbles("visitor")).to_have_text(["two lines:\nthis one too"])
        expect(widget.message_box).to_have_value("")
        agent_socket.wait_for("message.created")

        page.keyboard.press("Tab")
        expect(widget.dialog.get_by_role("button", name="Send", exact=True)).to_be_focused()
        page.keyboard.press("Escape")
        expect(widget.dialog).to_be_hidden()
        expect(widget.launcher).to_be_focused()
        expect(widget.launcher).to_have_attribute("aria-expanded", "false")

        page.keyboard.press("Enter")
        expect(widget.message_box).to_be_focused()
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Enter")  # on the close button
        expect(widget.dialog).to_be_hidden()
        expect(widget.launcher).to_be_focused()
    nothing_went_wrong(watched)


@pytest.mark.parametrize("locale", ["de", "cs"])
def test_the_widget_speaks_the_locale_of_the_page(
    watched: Watched, site: LiveServer, locale: str
) -> None:
    owner = live_sign_up(site)
    widget = Widget(watched.page, locale)
    watched.page.goto(f"{site.base_url}/demo?key={owner.widget_key}&locale={locale}")
    widget.open()
    expect(widget.dialog.get_by_role("button", name=widget.text("close"))).to_be_visible()
    expect(widget.log).to_be_attached()
    widget.leave_message(email="jana@example.net", text="Dobrý den / Guten Tag")
    expect(widget.dialog.get_by_role("status")).to_have_text(widget.text("thanks"))
    nothing_went_wrong(watched)


def test_the_lang_of_the_host_page_chooses_the_locale_without_data_locale(
    watched: Watched, site: LiveServer
) -> None:
    owner = live_sign_up(site)
    tag = f'<script src="{site.base_url}/widget.js" data-key="{owner.widget_key}" async></script>'
    with customer_site(f'<!doctype html><html lang="de-AT"><p>Tee</p>{tag}</html>') as shop:
        widget = Widget(watched.page, "de")
        watched.page.goto(shop)
        widget.open()
        expect(widget.dialog.get_by_role("heading", name=widget.text("leave"))).to_be_visible()
    nothing_went_wrong(watched)


def test_hostile_text_from_visitor_and_agent_stays_text(watched: Watched, site: LiveServer) -> None:
    owner = live_sign_up(site)
    from_visitor, from_agent = "<img src=x onerror=alert(1)>", "<script>alert(2)</script>"
    with owner.socket() as agent_socket:
        agent_socket.wait_for("hello")
        widget = Widget(watched.page)
        watched.page.goto(f"{site.base_url}/demo?key={owner.widget_key}")
        widget.open()
        widget.say(from_visitor)
        conversation_id = agent_socket.wait_for("conversation.created")["conversation"]["id"]
        owner.call("POST", f"/conversations/{conversation_id}/messages", {"text": from_agent})
        expect(widget.bubbles("agent")).to_have_text([from_agent], timeout=WAIT_MS)

        watched.page.reload()  # and again from the history the widget loads
        expect(widget.bubbles("visitor")).to_have_text([from_visitor])
        expect(widget.bubbles("agent")).to_have_text([from_agent])
    assert widget.shadow_count("img, script") == 0
    assert watched.page.locator("img").count() == 0
    nothing_went_wrong(watched)


def test_the_script_tag_twice_draws_one_widget(watched: Watched, site: LiveServer) -> None:
    owner = live_sign_up(site)
    tag = f'<script src="{site.base_url}/widget.js" data-key="{owner.widget_key}" async></script>'
    with customer_site(f"<!doctype html><p>Tea</p>{tag}{tag}") as shop:
        widget = Widget(watched.page)
        watched.page.goto(shop)  # waits for the load event, which waits for both scripts
        expect(widget.launcher).to_have_count(1)
        assert watched.page.locator("frontdesk-chat").count() == 1
        widget.open()
        expect(widget.dialog).to_have_count(1)
    nothing_went_wrong(watched)


def test_a_stored_visitor_the_server_does_not_know_is_replaced_by_a_new_one(
    watched: Watched, site: LiveServer
) -> None:
    owner = live_sign_up(site)
    page = watched.page
    storage_key = f"frontdesk:{owner.widget_key}:visitor"
    page.goto(f"{site.base_url}/demo?key={owner.widget_key}")
    page.evaluate("key => localStorage.setItem(key, 'vt_forgotten_by_the_server')", storage_key)
    with owner.socket() as agent_socket:
        agent_socket.wait_for("hello")
        page.reload()
        widget = Widget(page)
        widget.open()
        widget.say("Anyone there?")
        agent_socket.wait_for("conversation.created")
        stored = page.evaluate("key => localStorage.getItem(key)", storage_key)
        assert stored is not None
        assert stored != "vt_forgotten_by_the_server"
        expect(widget.alert).to_be_empty()
    nothing_went_wrong(watched)


def test_an_api_error_is_shown_in_the_alert(watched: Watched, site: LiveServer) -> None:
    widget = Widget(watched.page)
    watched.page.goto(f"{site.base_url}/demo?key=no_such_widget")
    widget.open()
    expect(widget.alert).to_have_text("There is no widget with this key.")
    # The offline form is the best it can offer; sending fails just as plainly.
    widget.alert.evaluate("alert => { alert.textContent = '' }")
    widget.leave_message(email="ingrid@example.net", text="Hello?")
    expect(widget.alert).to_have_text("There is no widget with this key.")
    expect(widget.bubbles("visitor")).to_have_count(0)
    expect(widget.dialog.get_by_role("status")).to_be_empty()
    nothing_went_wrong(watched)


def test_the_demo_without_an_account_explains_how_to_get_a_widget(
    watched: Watched, site: LiveServer
) -> None:
    watched.page.goto(f"{site.base_url}/demo")
    expect(watched.page.get_by_role("heading", name="No chat widget to show yet")).to_be_visible()
    expect(watched.page.get_by_role("link", name="/app")).to_be_visible()
    assert watched.page.locator("script").count() == 0
    nothing_went_wrong(watched)
