"""The installable dashboard and its pushes, in Chromium: the manifest as Chromium reads it,
the service worker registered for /app, a push the engine made (taken from a real push
service on loopback, tests/pushservice.py) delivered to that service worker through the
DevTools protocol, the notification it shows, and its click, which opens the conversation,
marks it read, and so leaves the e-mail unsent (``read_in_dashboard``)."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime
from typing import Any

import httpx2 as httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import SiteFactory, Watched, assert_nothing_ran
from tests.browser.dashboard_page import notifications_of, owner_logged_in, rest
from tests.pushservice import push_service
from tests.support import LiveServer, eventually, new_live_visitor

HIDE_THE_TAB = (
    "Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'})"
)
# Long enough for the push, its notification and the click that reads the conversation on a
# busy machine; the e-mail is then decided at this time.
EMAIL_DELAY = 8
HOSTILE_NAME = '<img src=x onerror="alert(1)">'
HOSTILE_TEXT = "<script>alert(2)</script> Is the *teapot* <b>in stock</b>?"


def png_size(server: LiveServer, path: str) -> tuple[int, int]:
    response = httpx.get(f"{server.base_url}{path}")
    assert response.status_code == 200, path
    assert response.headers["content-type"] == "image/png"
    width, height = struct.unpack(">II", response.content[16:24])  # the IHDR chunk
    return width, height


def test_the_manifest_makes_the_dashboard_installable(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site() as server:
        owner_logged_in(page, server)
        devtools = page.context.new_cdp_session(page)
        manifest = devtools.send("Page.getAppManifest")

        assert manifest["url"] == f"{server.base_url}/app.webmanifest"
        assert manifest["errors"] == []
        data = json.loads(manifest["data"])
        assert (data["name"], data["start_url"], data["display"]) == (
            "Frontdesk",
            "/app",
            "standalone",
        )
        sizes = {icon["sizes"]: png_size(server, icon["src"]) for icon in data["icons"]}
        assert sizes == {"192x192": (192, 192), "512x512": (512, 512)}
        assert any(icon.get("purpose") == "maskable" for icon in data["icons"])
        assert scope_of_service_worker(page) == f"{server.base_url}/app"
    assert_nothing_ran(watched)


def scope_of_service_worker(page: Page) -> str:
    scope: str = page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
    return scope


def test_a_push_shows_the_visitors_words_as_text_and_its_click_opens_and_reads_it(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with (
        push_service(lambda: datetime.now(UTC)) as pushes,
        serve_site(
            offline_push_delay=0.2, offline_email_delay=EMAIL_DELAY, push_http_hosts=["127.0.0.1"]
        ) as server,
    ):
        page.context.grant_permissions(["notifications"], origin=server.base_url)
        owner, dashboard = owner_logged_in(page, server)
        assert scope_of_service_worker(page) == f"{server.base_url}/app"
        # The engine's push goes to a push service on loopback: what it carries is then
        # handed to Chromium's service worker, as the browser's push service would.
        phone = pushes.subscribe()
        rest(owner, "POST", "/me/push-subscriptions", phone.subscription_json())
        dashboard.go("#/profile")
        visitor = new_live_visitor(server, owner.widget_key, name=HOSTILE_NAME)
        conversation_id = visitor.say(HOSTILE_TEXT)["conversation_id"]
        (pushed,) = eventually(lambda: pushes.received_by(phone), what="the engine's push")

        shown = deliver_push(page, server, pushed.payload)

        assert shown == [
            {
                "title": f'New message from "{HOSTILE_NAME}" on Shop',
                "body": HOSTILE_TEXT,
                "tag": f"frontdesk-conversation-{conversation_id}",
                "data": {"conversationId": conversation_id},
            }
        ]
        click_notification(page)
        expect(page).to_have_url(f"{server.base_url}/app#/conversations/{conversation_id}")
        expect(dashboard.messages).to_contain_text(HOSTILE_TEXT)

        def decided() -> dict[str, Any] | None:
            (notification,) = notifications_of(owner, conversation_id)
            return notification if notification["state"] != "scheduled" else None

        notification = eventually(decided, timeout=EMAIL_DELAY + 10, what="the e-mail's decision")
        assert (notification["state"], notification["reason"]) == (
            "suppressed",
            "read_in_dashboard",
        )
        # Who was told, and how: the push beside the e-mail that was not needed.
        pushes_told = dashboard.why_panel.locator(".pushes")
        expect(pushes_told).to_contain_text("Browser · 127.0.0.1", timeout=10_000)
        expect(pushes_told).to_contain_text("taken by its push service 201")
        expect(dashboard.why_panel.locator(".decision-reason")).to_contain_text("read_in_dashboard")
    assert_nothing_ran(watched)


def deliver_push(page: Page, server: LiveServer, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """A push to the dashboard's service worker, through the DevTools protocol; the
    notifications it then shows.

    Chromium drops, now and then (1 run in 8 here), a push DevTools delivers while it is
    still attaching to the worker, as a push service would find the browser away; it is
    delivered again then, as a push service would. Its tag is the conversation's, so a
    second delivery replaces the first notification rather than adding one."""
    devtools = page.context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    activated: set[str] = set()
    devtools.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(event["registrations"]),
    )
    devtools.on(
        "ServiceWorker.workerVersionUpdated",
        lambda event: activated.update(
            v["registrationId"] for v in event["versions"] if v["status"] == "activated"
        ),
    )
    devtools.send("ServiceWorker.enable")

    def ours() -> str | None:
        page.evaluate("0")  # Playwright's sync API hands over the events when called
        for registration in registrations:
            if (
                registration["scopeURL"] == f"{server.base_url}/app"
                and registration["registrationId"] in activated
                and not registration.get("isDeleted")
            ):
                return str(registration["registrationId"])
        return None

    registration_id = eventually(ours, what="the service worker's registration")
    for _ in range(4):
        devtools.send(
            "ServiceWorker.deliverPushMessage",
            {
                "origin": server.base_url,
                "registrationId": registration_id,
                "data": json.dumps(payload),
            },
        )
        try:
            return eventually(lambda: notifications_shown(page), timeout=3, what="a notification")
        except TimeoutError:
            continue
    raise AssertionError("no notification after four pushes")


def _service_worker(page: Page) -> Any:
    return eventually(lambda: page.context.service_workers, what="the service worker")[0]


def notifications_shown(page: Page) -> list[dict[str, Any]]:
    """What the dashboard's service worker registration shows, asked from the page."""
    shown: list[dict[str, Any]] = page.evaluate(
        """navigator.serviceWorker.ready.then((registration) => registration.getNotifications())
            .then((shown) =>
                shown.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data })))"""
    )
    return shown


def what_the_page_knows(page: Page) -> dict[str, Any]:
    """Why a page may show no notification: its permission, its visibility, its worker."""
    known: dict[str, Any] = page.evaluate(
        """navigator.serviceWorker.getRegistration("/app").then((registration) => ({
            permission: Notification.permission,
            visibility: document.visibilityState,
            worker: registration?.active?.state ?? null,
            controlled: Boolean(navigator.serviceWorker.controller),
        }))"""
    )
    return known


def click_notification(page: Page) -> None:
    """The notification's click, as the service worker hears it."""
    _service_worker(page).evaluate(
        """self.registration.getNotifications().then(([shown]) => {
            self.dispatchEvent(new NotificationEvent("notificationclick", { notification: shown }));
        })"""
    )


def test_the_profile_lists_devices_tests_them_removes_one_and_switches_pushes_off(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with (
        push_service(lambda: datetime.now(UTC)) as pushes,
        serve_site(push_http_hosts=["127.0.0.1"]) as server,
    ):
        owner, dashboard = owner_logged_in(page, server)
        phone = pushes.subscribe()
        rest(
            owner,
            "POST",
            "/me/push-subscriptions",
            phone.subscription_json() | {"device_name": HOSTILE_NAME},
        )
        dashboard.go("#/profile")
        section = dashboard.section("Push notifications")
        expect(section).to_contain_text(HOSTILE_NAME)  # a device's name is text too
        expect(section).to_contain_text("Not pushed yet.")

        section.get_by_role("button", name="Send a test push").click()

        expect(section.get_by_role("status")).to_have_text(
            f"{HOSTILE_NAME}: delivered to its push service (201)."
        )
        (received,) = pushes.received_by(phone)
        assert received.payload["kind"] == "test"
        expect(section).to_contain_text("Last push: 201,")

        section.get_by_label("Push offline messages to me").uncheck()
        section.get_by_role("button", name="Save").click()
        expect(section.get_by_role("status").first).to_have_text("Saved")
        assert rest(owner, "GET", "/me/notifications")["offline_message_push"] is False

        section.get_by_role("button", name="Remove").click()
        expect(section).to_contain_text("No browser or phone gets push notifications yet.")
        assert rest(owner, "GET", "/me/push-subscriptions") == []

        # This headless browser may not show notifications: it is told so, in words.
        section.get_by_role("button", name="Push to this browser").click()
        expect(section.get_by_role("alert")).to_have_text(
            "Notifications are blocked for this site. Allow them in the browser's site "
            "settings, then try again."
        )
    assert_nothing_ran(watched)


def test_a_new_conversation_in_a_background_tab_shows_a_notification_unless_switched_off(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    # What the dashboard's socket hears: the notification comes from its frames alone.
    heard: list[str] = []
    page.on(
        "websocket",
        lambda socket: socket.on("framereceived", lambda frame: heard.append(str(frame)[:160])),
    )
    said: list[str] = []  # the page's console: a notification it could not show says why
    page.on("console", lambda message: said.append(f"{message.type}: {message.text}"))
    with serve_site() as server:
        page.context.grant_permissions(["notifications"], origin=server.base_url)
        owner, dashboard = owner_logged_in(page, server)
        assert scope_of_service_worker(page) == f"{server.base_url}/app"
        # Headless Chromium shows every tab at once: the tab says it is in the background.
        page.evaluate(HIDE_THE_TAB)
        assert page.evaluate("document.visibilityState") == "hidden"

        def hello_heard() -> bool:
            page.wait_for_timeout(50)  # Playwright hands over the socket's events while called
            return any('"hello"' in frame for frame in heard)

        eventually(hello_heard, what="the socket's hello")

        vera = new_live_visitor(server, owner.widget_key, name=HOSTILE_NAME)
        conversation_id = vera.say(HOSTILE_TEXT)["conversation_id"]

        def shown_in_the_background() -> list[dict[str, Any]]:
            shown = notifications_shown(page)
            assert shown, (
                f"no notification; the dashboard's socket heard {heard}; the page knows "
                f"{what_the_page_knows(page)} and said {said}"
            )
            return shown

        shown = eventually(shown_in_the_background, what="the notification")

        assert shown == [
            {
                "title": f"New conversation with {HOSTILE_NAME}",
                "body": HOSTILE_TEXT,
                "tag": f"frontdesk-conversation-{conversation_id}",
                "data": {"conversationId": conversation_id},
            }
        ]
        expect(dashboard.folder("Unserved")).to_contain_text("1")

        # Switched off in the profile: the next conversation is counted, and shown nowhere.
        dashboard.go("#/profile")
        dashboard.section("Push notifications").get_by_label(
            "A sound and a notification for a new conversation while this tab is in the background"
        ).uncheck()
        dashboard.go("#/conversations")
        new_live_visitor(server, owner.widget_key, name="Ken").say("Hello?")
        # Counted by the hidden tab: it has heard the new conversation's frames.
        expect(dashboard.folder("Unserved")).to_contain_text("2")
        assert page.evaluate("document.visibilityState") == "hidden"
        assert [n["data"] for n in notifications_shown(page)] == [
            {"conversationId": conversation_id}
        ]
    assert_nothing_ran(watched)
