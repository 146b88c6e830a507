"""The agent dashboard as a page: the files and configuration the server sends it, the
strings its modules use in every language, and its sessions in real Chromium: signing up,
logging in, and returning to the login when the session ends elsewhere."""

from __future__ import annotations

import html
import json
import re

from playwright.sync_api import expect

import frontdesk
from frontdesk.core.model import DeviceKind, Folder, Plan, Role
from frontdesk.core.notifications import (
    DeliveryState,
    NotificationKind,
    NotificationState,
    NotRecipientBecause,
    SuppressedBecause,
)
from tests.browser.conftest import SiteFactory, Watched, assert_nothing_ran
from tests.browser.dashboard_page import LIVE_TIMEOUT_MS, Dashboard, agent_is_online, rest
from tests.support import REPO_ROOT, eventually, live_sign_up

STATIC = REPO_ROOT / "src/frontdesk/web/static"


def test_the_page_carries_its_configuration_and_runs_only_its_own_files(
    watched: Watched, serve_site: SiteFactory
) -> None:
    with serve_site() as server:
        with server.http() as http:
            response = http.get(f"{server.base_url}/app")
        assert response.status_code == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
        sent = response.text
        # No inline script or style: the policy would refuse them.
        assert "<script>" not in sent
        assert " style=" not in sent
        config = re.search(r'data-config="([^"]*)"', sent)
        assert config is not None
        assert json.loads(html.unescape(config.group(1)))["locales"] == ["en", "de", "cs"]

        # Chromium follows the modules' relative imports: every file of the dashboard comes
        # from the folder of this version, and none is missing.
        page = watched.page
        loaded: list[str] = []
        page.on("requestfinished", lambda request: loaded.append(request.url))
        page.on("requestfailed", lambda request: watched.errors.append(request.url))
        Dashboard(page, server).open()
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        folder = f"{server.base_url}/static/dashboard@{frontdesk.__version__}/"
        dashboard_files = [url for url in loaded if "/static/dashboard" in url]
        assert all(url.startswith(folder) for url in dashboard_files), dashboard_files
        assert sorted(url.removeprefix(folder) for url in dashboard_files) == sorted(
            path.name for path in (STATIC / "dashboard").iterdir() if path.suffix in (".js", ".css")
        )
    assert_nothing_ran(watched)


def test_every_locale_has_every_string_the_dashboard_uses() -> None:
    """Keys the modules name literally, and those they build from the server's vocabulary
    (folders, reasons, delivery states …), exist in English, German and Czech alike."""
    locales = {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((STATIC / "locales").glob("*.json"))
    }
    assert set(locales) == {"en", "de", "cs"}
    script = "\n".join(
        path.read_text(encoding="utf-8") for path in sorted((STATIC / "dashboard").glob("*.js"))
    )
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


def test_an_agent_deactivated_while_working_is_returned_to_the_login(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = live_sign_up(server)
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


def test_logging_out_everywhere_ends_this_session_and_the_others(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner = live_sign_up(server)  # a session of its own, as another browser would hold
        dashboard = Dashboard(page, server)
        dashboard.log_in(owner.email)
        dashboard.go("#/profile")
        dashboard.section("Sessions").get_by_role("button", name="Log out everywhere").click()
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        assert page.evaluate("() => Object.keys(localStorage).filter(k => /token/.test(k))") == []
        assert owner.call("GET", "/me").status_code == 401
    assert_nothing_ran(watched)
