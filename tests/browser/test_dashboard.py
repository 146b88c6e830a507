"""The agent dashboard in real Chromium against a real server: an agent logs in, goes online,
serves a visitor live, explains a missing e-mail, and manages settings, profile, agents and
groups. Visitors are played over the REST API and their WebSocket (the widget has tests of
its own); every outcome is checked on the server too, not only on the page."""

from __future__ import annotations

import html
import json
import re
import time
from datetime import datetime

from playwright.sync_api import expect
from sqlalchemy import func, select

from frontdesk.core.model import DeviceKind, Folder, Plan, Role
from frontdesk.core.notifications import (
    DeliveryState,
    NotificationKind,
    NotificationState,
    NotRecipientBecause,
    SuppressedBecause,
)
from frontdesk.mail.verp import verp_token
from frontdesk.service import bounces
from frontdesk.service.secrets import address_confirmation
from frontdesk.store.models import Delivery, OutboxEmail
from tests.browser.conftest import SiteFactory, Watched
from tests.browser.dashboard_page import (
    LIVE_TIMEOUT_MS,
    OWNER_PASSWORD,
    Dashboard,
    agent_is_online,
    notifications_of,
    rest,
    wait_for_visitor_message,
)
from tests.live.conftest import new_visitor, sign_up
from tests.support import REPO_ROOT, eventually

HOSTILE_NAME = "<script>alert(2)</script>"
HOSTILE_TEXT = "<img src=x onerror=alert(1)>"
STATIC = REPO_ROOT / "src/frontdesk/web/static"


def assert_nothing_ran(watched: Watched) -> None:
    assert watched.dialogs == []
    assert watched.errors == []


def test_an_agent_goes_online_and_serves_a_visitor_without_reloading(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = sign_up(server)
        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)
        # A browser the agent never switched on does not make the agent online.
        expect(dashboard.online_switch).not_to_be_checked()
        assert not agent_is_online(owner)

        dashboard.online_switch.check()
        eventually(lambda: agent_is_online(owner), what="the agent online on the server")

        visitor = new_visitor(server, owner.widget_key, name="Vera")
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
        owner = sign_up(server)
        visitor = new_visitor(server, owner.widget_key, name=HOSTILE_NAME)
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


def test_why_no_e_mail_shows_that_the_agent_came_online_within_the_delay(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    # A delay long enough to open the conversation and switch online before it is due.
    with serve_site(offline_email_delay=3) as server:
        owner = sign_up(server)
        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)
        expect(dashboard.online_switch).not_to_be_checked()

        visitor = new_visitor(server, owner.widget_key, name="Vera")
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


def test_settings_changed_in_the_dashboard_persist(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = sign_up(server)
        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)
        dashboard.go("#/settings")
        offline = page.get_by_role("switch", name="E-mail notifications for offline messages")
        missed = page.get_by_role("switch", name="E-mail notifications for missed conversations")
        delay = page.get_by_label("Delay of offline-message e-mails")
        expect(offline).to_be_checked()
        expect(missed).to_be_enabled()
        expect(delay).to_have_value("")
        # serve_site's default delay, shown for the empty field.
        expect(page.get_by_text("the server's default, 0.5 seconds")).to_be_visible()

        offline.uncheck()
        delay.fill("3")
        page.get_by_label("Unit of the delay").select_option("minutes")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("main").get_by_role("status")).to_have_text("Saved")
        settings = rest(owner, "GET", "/settings/notifications")
        assert settings["offline_message_email"] is False
        assert settings["offline_email_delay"] == 180

        page.reload()
        expect(offline).not_to_be_checked()
        expect(delay).to_have_value("3")
        expect(page.get_by_label("Unit of the delay")).to_have_value("minutes")

        # Emptied, the delay is the server's default again.
        delay.fill("")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("main").get_by_role("status")).to_have_text("Saved")
        assert rest(owner, "GET", "/settings/notifications")["offline_email_delay"] is None
    assert_nothing_ran(watched)


def test_on_free_the_missed_conversation_switch_is_disabled_with_a_note(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = sign_up(server, plan="free")
        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)
        dashboard.go("#/settings")
        missed = page.get_by_role("switch", name="E-mail notifications for missed conversations")
        expect(missed).to_be_disabled()
        expect(
            page.get_by_text(re.compile("only available in the STANDARD and PRO plans"))
        ).to_be_visible()
        expect(
            page.get_by_role("switch", name="E-mail notifications for offline messages")
        ).to_be_enabled()
    assert_nothing_ran(watched)


def test_changing_the_language_speaks_german_from_then_on(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = sign_up(server)
        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)
        dashboard.go("#/profile")
        details = dashboard.section("Your details")
        details.get_by_label("Language").select_option("de")
        details.get_by_role("button", name="Save").click()

        expect(page.get_by_role("heading", level=1)).to_have_text("Profil")
        expect(dashboard.navigation.get_by_role("link", name="Einstellungen")).to_be_visible()
        expect(page.get_by_role("tab", name=re.compile("^Nicht bedient"))).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "de")
        assert rest(owner, "GET", "/me")["locale"] == "de"

        page.reload()
        expect(page.get_by_role("button", name="Abmelden", exact=True)).to_be_visible()
        dashboard.go("#/settings")
        expect(
            page.get_by_role("switch", name="E-Mail-Benachrichtigungen für Offline-Nachrichten")
        ).to_be_checked()
    assert_nothing_ran(watched)


def test_an_agent_opts_out_of_offline_e_mails_in_the_profile(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = sign_up(server)
        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)
        dashboard.go("#/profile")
        mine = dashboard.section("My e-mail notifications")
        mine.get_by_label("E-mail me offline messages").uncheck()
        mine.get_by_role("button", name="Save").click()
        expect(mine.get_by_role("status")).to_have_text("Saved")
        assert rest(owner, "GET", "/me/notifications") == {
            "offline_message_email": False,
            "missed_conversation_email": True,
        }
        page.reload()
        expect(
            dashboard.section("My e-mail notifications").get_by_label("E-mail me offline messages")
        ).not_to_be_checked()
    assert_nothing_ran(watched)


def test_a_time_zone_the_server_does_not_know_is_refused_in_words(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = sign_up(server)
        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)
        dashboard.go("#/profile")
        details = dashboard.section("Your details")
        details.get_by_label("Time zone").fill("Mars/Olympus_Mons")
        details.get_by_role("button", name="Save").click()
        expect(details.get_by_role("alert")).to_have_text(re.compile("^Unknown time zone"))
        assert rest(owner, "GET", "/me")["time_zone"] == "UTC"

        details.get_by_label("Time zone").fill("Europe/Prague")
        details.get_by_role("button", name="Save").click()
        expect(dashboard.section("Your details").get_by_role("status")).to_have_text("Saved")
        assert rest(owner, "GET", "/me")["time_zone"] == "Europe/Prague"
    assert_nothing_ran(watched)


def test_a_new_e_mail_address_needs_the_current_password_and_becomes_the_login(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = sign_up(server)
        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)
        dashboard.go("#/profile")
        details = dashboard.section("Your details")
        current_password = details.get_by_label("Current password")
        expect(current_password).to_be_hidden()

        details.get_by_label("E-mail").fill("info@shop.example")
        expect(current_password).to_be_visible()
        current_password.fill("not-my-password")
        details.get_by_role("button", name="Save").click()
        # A 401 for a wrong password: said in the form, and the session goes on.
        expect(details.get_by_role("alert")).to_contain_text("enter your current password")
        assert rest(owner, "GET", "/me")["email"] == owner.email

        current_password.fill("owner-password")
        details.get_by_role("button", name="Save").click()
        expect(dashboard.section("Your details").get_by_role("status")).to_have_text("Saved")
        with server.http() as http:
            login = http.post(
                "/auth/login", json={"email": "info@shop.example", "password": "owner-password"}
            )
        assert login.status_code == 200, login.text
        assert login.json()["agent_id"] == owner.agent_id
    assert_nothing_ran(watched)


def test_a_bounced_address_is_a_warning_in_the_profile_and_in_why_no_e_mail(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = sign_up(server)
        visitor = new_visitor(server, owner.widget_key, name="Vera")
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
        diagnostic = "550 5.1.1 Recipient address rejected: User unknown"
        token = verp_token(bounces.verp_key(server.runtime), delivery_id)
        assert (
            bounces.record_bounce(server.runtime, token, status="5.1.1", diagnostic=diagnostic)
            is bounces.BounceResult.BOUNCED
        )

        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)
        dashboard.go("#/profile")
        warning = page.get_by_role("alert")
        expect(warning).to_contain_text("E-mails to your address bounce")
        expect(warning).to_contain_text(owner.email)
        expect(warning).to_contain_text(f"5.1.1 {diagnostic}")

        dashboard.go(f"#/conversations/{conversation_id}")
        why = dashboard.why_panel
        expect(why).to_contain_text("Bounced")
        expect(why).to_contain_text(diagnostic)
        # Nobody else got it, so the whole notification failed; the recipient is "You".
        expect(why).to_contain_text("Failed")
        expect(why).to_contain_text(f"You <{owner.email}>")
    assert_nothing_ran(watched)


def test_owners_invite_agents_and_agents_see_no_manager_controls(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = sign_up(server)
        leaving = owner.invite(name="Bea")
        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)
        dashboard.go("#/agents")

        page.get_by_role("button", name="Deactivate Bea").click()
        expect(page.get_by_role("button", name="Activate Bea")).to_be_visible()
        bea = next(a for a in rest(owner, "GET", "/agents") if a["id"] == leaving.agent_id)
        assert bea["active"] is False

        invite = dashboard.section("Invite an agent")
        invite.get_by_label("Name").fill("Adam")
        invite.get_by_label("E-mail").fill("adam@shop.example")
        invite.get_by_role("button", name="Invite").click()
        shown = invite.get_by_role("status")
        expect(shown).to_contain_text("It is shown only this once")
        initial_password = shown.locator("code").inner_text()
        assert len(initial_password) >= 8
        expect(page.get_by_role("row").filter(has_text="adam@shop.example")).to_contain_text(
            "Active"
        )
        adam = next(a for a in rest(owner, "GET", "/agents") if a["email"] == "adam@shop.example")
        assert adam["role"] == "agent"

        dashboard.log_out()
        dashboard.log_in("adam@shop.example", initial_password)
        expect(dashboard.navigation.get_by_role("link", name="Settings")).to_be_visible()
        expect(dashboard.navigation.get_by_role("link", name="Agents")).to_have_count(0)
        dashboard.go("#/settings")
        expect(
            page.get_by_role("switch", name="E-mail notifications for offline messages")
        ).to_be_disabled()
        expect(page.get_by_label("Delay of offline-message e-mails")).to_be_disabled()
        expect(page.get_by_role("button", name="Save")).to_have_count(0)
        expect(
            page.get_by_text("Only owners and admins can change these settings.")
        ).to_be_visible()
        dashboard.go("#/agents")
        expect(page.get_by_text("Only owners and admins manage the agents")).to_be_visible()
        expect(page.get_by_role("button", name="Invite")).to_have_count(0)
    assert_nothing_ran(watched)


def test_an_agent_deactivated_while_working_is_returned_to_the_login(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = sign_up(server)
        colleague = owner.invite(name="Adam")
        dashboard = Dashboard(page, server)
        dashboard.log_in(colleague.email, "agent-password")
        dashboard.online_switch.check()
        eventually(lambda: agent_is_online(colleague), what="Adam online")

        rest(owner, "PATCH", f"/agents/{colleague.agent_id}", {"active": False})
        # The server closes the agent's socket (4401 agent_deactivated): no reconnecting.
        expect(page.get_by_role("status")).to_have_text(
            "You were deactivated by an owner or admin of your account.",
            timeout=LIVE_TIMEOUT_MS,
        )
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        assert not agent_is_online(colleague, asked_by=owner)
    assert_nothing_ran(watched)


def test_on_pro_an_owner_creates_a_group_with_members(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = sign_up(server, plan="pro")
        colleague = owner.invite(name="Adam")
        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)
        dashboard.go("#/groups")
        create = dashboard.section("New group")
        create.get_by_label("Group name").fill("Sales")
        create.get_by_role("button", name="Create group").click()

        sales = dashboard.section("Sales")
        expect(sales).to_be_visible()
        sales.get_by_label("Adam").check()
        sales.get_by_role("button", name="Save").click()
        expect(sales.get_by_role("status")).to_have_text("Saved")
        (group,) = rest(owner, "GET", "/groups")
        assert (group["name"], group["agent_ids"]) == ("Sales", [colleague.agent_id])

        page.reload()
        sales = dashboard.section("Sales")
        expect(sales.get_by_label("Adam")).to_be_checked()

        # Deleting asks once more on the page, not in a browser dialog.
        sales.get_by_role("button", name="Delete group").click()
        sales.get_by_role("button", name="Yes, delete it").click()
        expect(page.get_by_role("status")).to_have_text("Group Sales is deleted.")
        expect(dashboard.section("Sales")).to_have_count(0)
        assert rest(owner, "GET", "/groups") == []
    assert_nothing_ran(watched)


def test_below_pro_the_groups_page_says_groups_need_pro(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = sign_up(server, plan="free")
        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)
        dashboard.go("#/groups")
        expect(
            page.get_by_text("Groups are part of the PRO plan. This account is on the FREE plan.")
        ).to_be_visible()
        expect(page.get_by_role("button", name="Create group")).to_have_count(0)
    assert_nothing_ran(watched)


def test_the_header_shows_the_agents_other_devices_that_are_online(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = sign_up(server)
        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)
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


def test_a_new_installation_signs_up_in_the_browser_and_a_dead_session_returns_to_login(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        dashboard = Dashboard(page, server)
        dashboard.open()
        page.get_by_label("E-mail").fill("nobody@shop.example")
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("alert")).to_have_text("Wrong e-mail address or password.")

        page.get_by_role("link", name="Create an account").click()
        page.get_by_label("Company or website name").fill("Kettle Shop")
        page.get_by_label("Plan").select_option("pro")
        page.get_by_label("Your name").fill("Olga")
        page.get_by_label("E-mail").fill("olga@kettle.example")
        page.get_by_label("Password").fill("kettle-password")
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
        expect(page.get_by_role("banner")).to_contain_text("Kettle Shop")

        with server.http() as http:
            login = http.post(
                "/auth/login", json={"email": "olga@kettle.example", "password": "kettle-password"}
            )
            assert login.status_code == 200, login.text
            assert (
                http.get(
                    "/account", headers={"Authorization": f"Bearer {login.json()['token']}"}
                ).json()["plan"]
                == "pro"
            )

            # Logged out elsewhere: the token's socket closes, and the page shows the login.
            token = page.evaluate("() => localStorage.getItem('frontdesk.token')")
            assert (
                http.post("/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code
                == 204
            )
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        expect(page.get_by_role("status")).to_have_text("Your session has ended. Log in again.")
        assert page.evaluate("() => localStorage.getItem('frontdesk.token')") is None
    assert_nothing_ran(watched)


def test_every_locale_has_every_string_the_dashboard_uses() -> None:
    """Keys the script names literally, and those it builds from the server's vocabulary
    (folders, reasons, delivery states …), exist in English, German and Czech alike."""
    locales = {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((STATIC / "locales").glob("*.json"))
    }
    assert set(locales) == {"en", "de", "cs"}
    script = (STATIC / "dashboard.js").read_text(encoding="utf-8")
    literal = set(re.findall(r"""\bt(?:Nodes)?\(\s*"([a-z_]+(?:\.[a-z_]+)+)\"""", script))
    built = (
        {f"folder.{f}" for f in Folder}
        | {f"list.empty.{f}" for f in Folder}
        | {f"status.{f}" for f in ("unserved", "served", "closed")}
        | {f"role.{r}" for r in Role}
        | {f"plan.{p}" for p in Plan}
        | {f"plan.{p}.summary" for p in Plan}
        | {f"device.{k}" for k in DeviceKind}
        | {f"kind.{k}" for k in NotificationKind}
        | {f"state.{s}" for s in NotificationState}
        | {f"state.{s}.explained" for s in NotificationState}
        | {f"reason.{r}" for r in SuppressedBecause}
        | {f"not_recipient.{r}" for r in NotRecipientBecause}
        | {f"delivery.{d}{suffix}" for d in DeliveryState for suffix in ("", ".detail", ".label")}
        | {f"session.{s}" for s in ("expired", "deactivated", "logged_out_elsewhere")}
    )
    english = locales["en"]
    assert literal, "no t(...) calls found: the pattern no longer matches the script"
    assert sorted((literal | built) - set(english)) == []
    for name, strings in locales.items():
        assert set(strings) == set(english), name
        assert all(isinstance(v, str) and v.strip() for v in strings.values()), name
        for key, text in strings.items():
            # A translation keeps the placeholders the script fills in.
            assert set(re.findall(r"\{\w+\}", text)) == set(re.findall(r"\{\w+\}", english[key])), (
                f"{name}: {key}"
            )


def test_the_page_carries_its_configuration_and_runs_only_its_own_files(
    serve_site: SiteFactory,
) -> None:
    with serve_site() as server, server.http() as http:
        response = http.get(f"{server.base_url}/app")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page = response.text
    # No inline script or style: the policy would refuse them.
    assert "<script>" not in page
    assert " style=" not in page
    config = re.search(r'data-config="([^"]*)"', page)
    assert config is not None
    assert json.loads(html.unescape(config.group(1)))["locales"] == ["en", "de", "cs"]
    for asset in ("dashboard.js", "dashboard.css"):
        assert f"/static/{asset}?v=" in page
        assert (STATIC / asset).stat().st_size > 0


def test_an_owner_makes_an_agent_admin_renames_a_group_and_changes_the_password(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = sign_up(server, plan="pro")
        colleague = owner.invite(name="Adam")
        rest(owner, "POST", "/groups", {"name": "Sales", "agent_ids": [colleague.agent_id]})
        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)

        dashboard.go("#/agents")
        page.get_by_label("Role of Adam").select_option("admin")
        expect(page.get_by_role("status")).to_contain_text("Adam's role is changed.")
        adam = next(a for a in rest(owner, "GET", "/agents") if a["id"] == colleague.agent_id)
        assert adam["role"] == "admin"

        dashboard.go("#/groups")
        sales = dashboard.section("Sales")
        sales.get_by_label("Group name").fill("B2B sales")
        sales.get_by_role("button", name="Save").click()
        expect(dashboard.section("B2B sales")).to_be_visible()
        (group,) = rest(owner, "GET", "/groups")
        assert (group["name"], group["agent_ids"]) == ("B2B sales", [colleague.agent_id])

        dashboard.go("#/profile")
        password = dashboard.section("Password")
        password.get_by_label("New password").fill("a-new-tea-password")
        password.get_by_label("Current password").fill("not-my-password")
        password.get_by_role("button", name="Change password").click()
        expect(password.get_by_role("alert")).to_contain_text("current password")
        password.get_by_label("Current password").fill(OWNER_PASSWORD)
        password.get_by_role("button", name="Change password").click()
        expect(password.get_by_role("status")).to_have_text("Your password is changed.")

        dashboard.log_out()
        dashboard.log_in(owner.email, "a-new-tea-password")
    assert_nothing_ran(watched)


def test_logging_out_everywhere_ends_this_session_and_the_others(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = sign_up(server)  # a session of its own, as another browser would hold
        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)
        dashboard.go("#/profile")
        dashboard.section("Sessions").get_by_role("button", name="Log out everywhere").click()
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        assert page.evaluate("() => Object.keys(localStorage).filter(k => /token/.test(k))") == []
        assert owner.call("GET", "/me").status_code == 401
    assert_nothing_ran(watched)


def test_an_unconfirmed_address_is_a_warning_until_its_link_is_followed(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site(confirm_addresses=True, confirmation_resend_after=0) as server:
        owner = sign_up(server)
        assert rest(owner, "GET", "/me")["email_confirmed"] is False
        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)
        dashboard.go("#/profile")
        warning = page.get_by_role("alert").filter(has_text="not confirmed")
        expect(warning).to_contain_text("Your e-mail address is not confirmed yet")
        expect(warning).to_contain_text(owner.email)
        warning.get_by_role("button", name="Send the link again").click()
        expect(warning).to_contain_text(f"A new link is on its way to {owner.email}.")
        with server.runtime.database.read() as session:
            sent = session.scalar(
                select(func.count())
                .select_from(OutboxEmail)
                .where(OutboxEmail.agent_id == owner.agent_id)
            )
        assert sent == 2  # the one of the sign-up, and the one asked for again

        # The link of the e-mail, followed in the same browser: confirmed, and said so.
        token = address_confirmation(server.runtime, owner.agent_id, owner.email)
        dashboard.go(f"#/confirm?token={token}")
        expect(page.get_by_role("status").filter(has_text="is confirmed")).to_contain_text(
            f"{owner.email} is confirmed"
        )
        expect(page.get_by_role("alert").filter(has_text="not confirmed")).to_have_count(0)
        assert rest(owner, "GET", "/me")["email_confirmed"] is True

        # An invited agent is marked in the list until they follow their invitation.
        invited = rest(
            owner,
            "POST",
            "/agents",
            {"name": "Ivan", "email": "ivan@example.com", "password": "steep-the-oolong-4"},
        )
        dashboard.go("#/agents")
        row = page.locator(f"tr[data-agent-id='{invited['id']}']")
        expect(row).to_contain_text("ivan@example.com (address not confirmed)")
        expect(page.locator(f"tr[data-agent-id='{owner.agent_id}']")).not_to_contain_text(
            "not confirmed"
        )
    assert_nothing_ran(watched)


def test_a_long_conversation_opens_at_its_newest_page_and_shows_earlier_on_asking(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = sign_up(server)
        visitor = new_visitor(server, owner.widget_key, name="Vera")
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
