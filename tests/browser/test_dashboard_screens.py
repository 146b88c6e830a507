"""The agent dashboard's other screens in real Chromium against a real server: settings,
profile, agents and groups, as owners, admins and agents see them. Every change is checked
on the server too, not only on the page."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import func, select

from frontdesk.service.secrets import address_confirmation
from frontdesk.store.models import OutboxEmail
from tests.browser.conftest import SiteFactory, Watched, assert_nothing_ran
from tests.browser.dashboard_page import OWNER_PASSWORD, Dashboard, owner_logged_in, rest
from tests.support import eventually, live_sign_up


def test_settings_changed_in_the_dashboard_persist(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner, dashboard = owner_logged_in(page, server)
        dashboard.go("#/settings")
        form = dashboard.section("Notifications")
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
        new_agents = page.get_by_role("group", name="New agents start with")
        new_agents.get_by_label("Push missed conversations to me").uncheck()
        form.get_by_role("button", name="Save").click()
        expect(form.get_by_role("status")).to_have_text("Saved")
        settings = rest(owner, "GET", "/settings/notifications")
        assert settings["offline_message_email"] is False
        assert settings["offline_email_delay"] == 180
        assert settings["agent_defaults"]["missed_conversation_push"] is False
        assert settings["agent_defaults"]["offline_message_push"] is True
        assert settings["agent_idle_after"] is None  # off until chosen

        # Away after 10 minutes without activity; the usual reply time shown to visitors.
        form.get_by_label("Away after no activity").select_option(label="10 min")
        form.get_by_role("switch", name="Show visitors the usual reply time").check()
        form.get_by_role("button", name="Save").click()  # "Saved" is still there: ask the API
        settings = eventually(
            lambda: (s := rest(owner, "GET", "/settings/notifications"))["agent_idle_after"] and s,
            what="the second save",
        )
        assert (settings["agent_idle_after"], settings["expected_reply_time"]) == (600, True)
        assert settings["alert_nobody_online_after"] is None

        page.reload()
        expect(offline).not_to_be_checked()
        expect(delay).to_have_value("3")
        expect(page.get_by_label("Unit of the delay")).to_have_value("minutes")

        # Emptied, the delay is the server's default again.
        delay.fill("")
        form.get_by_role("button", name="Save").click()
        expect(form.get_by_role("status")).to_have_text("Saved")
        assert rest(owner, "GET", "/settings/notifications")["offline_email_delay"] is None
    assert_nothing_ran(watched)


def test_on_free_the_missed_conversation_switch_is_disabled_with_a_note(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        _owner, dashboard = owner_logged_in(page, server, plan="free")
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
        owner, dashboard = owner_logged_in(page, server)
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
        owner, dashboard = owner_logged_in(page, server)
        dashboard.go("#/profile")
        mine = dashboard.section("My e-mail notifications")
        mine.get_by_label("E-mail me offline messages").uncheck()
        mine.get_by_role("button", name="Save").click()
        expect(mine.get_by_role("status")).to_have_text("Saved")
        assert rest(owner, "GET", "/me/notifications") == {
            "offline_message_email": False,
            "missed_conversation_email": True,
            "offline_message_push": True,
            "missed_conversation_push": True,
            "unserved_conversation_push": True,
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
        owner, dashboard = owner_logged_in(page, server)
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
        owner, dashboard = owner_logged_in(page, server)
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


def test_an_unconfirmed_address_is_a_warning_until_its_link_is_followed(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site(confirm_addresses=True, confirmation_resend_after=0) as server:
        owner = live_sign_up(server)
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


def test_owners_invite_agents_and_agents_see_no_manager_controls(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = live_sign_up(server)
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


def test_on_pro_an_owner_creates_a_group_with_members(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = live_sign_up(server, plan="pro")
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
        _owner, dashboard = owner_logged_in(page, server, plan="free")
        dashboard.go("#/groups")
        expect(
            page.get_by_text("Groups are part of the PRO plan. This account is on the FREE plan.")
        ).to_be_visible()
        expect(page.get_by_role("button", name="Create group")).to_have_count(0)
    assert_nothing_ran(watched)


def test_an_owner_makes_an_agent_admin_renames_a_group_and_changes_the_password(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = live_sign_up(server, plan="pro")
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
