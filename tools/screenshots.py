"""Takes the screenshots in docs/: the notification e-mails as Chromium renders their HTML
part, and the web UI (dashboard, settings, the widget online and offline) on a real
``frontdesk serve`` with a sample shop's data, driven as an agent and two visitors would.
Run: ``.venv/bin/python tools/screenshots.py`` (needs Debian's chromium)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
from playwright.sync_api import Browser, Page, expect, sync_playwright

from frontdesk.core.model import Locale
from frontdesk.core.notifications import NotificationKind
from frontdesk.mail.compose import compose
from frontdesk.mail.content import ListedMessage, NotificationEmail

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
AT = datetime(2026, 11, 25, 9, 40, tzinfo=UTC)


def sample(locale: Locale, kind: NotificationKind) -> NotificationEmail:
    return NotificationEmail(
        kind=kind,
        message_id="<frontdesk.1.1.sample@shop.example>",
        sender="Tea Shop <notify@shop.example>",
        recipient_email="olga@shop.example",
        recipient_name="Olga",
        locale=locale,
        account_name="Tea Shop",
        conversation_id=12,
        conversation_url="https://chat.shop.example/dashboard/conversations/12",
        visitor_name="Vera Nováková",
        visitor_email="vera@example.com",
        page_url="https://shop.example/tea/sencha",
        messages=(
            ListedMessage("Hello, do you ship to Brno?", AT),
            ListedMessage("And is the Sencha <b>organic</b>?", AT + timedelta(minutes=1)),
        ),
        decided_at=AT + timedelta(minutes=3),
        visitor_left_at=AT + timedelta(minutes=4),
        time_zone="Europe/Prague",
        thread_id="<frontdesk.conversation.12@shop.example>",
        list_id="<account-1.notifications.shop.example>",
        unsubscribe_url="https://chat.shop.example/api/v1/unsubscribe/sample",
    )


CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
OWNER = {"name": "Olga Nováková", "email": "olga@shop.example", "password": "tea-shop-password"}


@contextmanager
def served() -> Iterator[str]:
    """``frontdesk serve`` on the embedded default in a fresh data directory."""
    with tempfile.TemporaryDirectory() as data_dir, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")} | {
            "FRONTDESK_DATA_DIR": data_dir,
            "FRONTDESK_OFFLINE_EMAIL_DELAY": "1",
        }
        server = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            [sys.executable, "-m", "frontdesk", "serve", "--port", str(port)], env=env
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=10)


def call(base: str, method: str, path: str, token: str | None = None, **body: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.request(
        method, f"{base}/api/v1{path}", json=body or None, headers=headers, timeout=10
    )
    response.raise_for_status()
    return response.json() if response.content else None


def earlier_conversations(base: str, widget_key: str, owner_token: str) -> None:
    """A few conversations in the other folders, so the dashboard looks lived in."""
    for name, email, text, served in [
        ("Jan Dvořák", "jan@example.com", "Is the matcha whisk back in stock?", True),
        ("Emma Fischer", None, "Thank you, the parcel arrived!", False),
    ]:
        visitor = call(base, "POST", f"/widget/{widget_key}/visitors", name=name, email=email)
        posted = call(
            base, "POST", f"/widget/{widget_key}/messages", visitor["visitor_token"], text=text
        )
        conversation = posted["conversation_id"]
        if served:
            call(
                base,
                "POST",
                f"/conversations/{conversation}/messages",
                owner_token,
                text="It is: we restocked it this morning.",
            )
        else:
            call(base, "POST", f"/conversations/{conversation}/close", owner_token)


def web_shots(browser: Browser) -> None:
    with served() as base:
        owner = call(base, "POST", "/accounts", name="Tea Shop", plan="pro", owner=OWNER)
        colleague = {"name": "Tomáš Novák", "email": "tomas@shop.example"}
        call(base, "POST", "/agents", owner["token"], **colleague)
        earlier_conversations(base, owner["widget_key"], owner["token"])

        agent = browser.new_page(viewport={"width": 1280, "height": 800})
        agent.goto(f"{base}/app")
        agent.get_by_label("E-mail").fill(OWNER["email"])
        agent.get_by_label("Password").fill(OWNER["password"])
        agent.get_by_role("button", name="Log in").click()
        agent.get_by_role("switch", name="Online").check()
        expect(agent.get_by_text("This browser is online")).to_be_visible()

        visitor = browser.new_page(viewport={"width": 1000, "height": 760})
        visitor.goto(f"{base}/demo")
        visitor.get_by_role("button", name="Open chat").click()
        widget = visitor.get_by_role("dialog", name="Chat")
        message = widget.get_by_role("textbox", name="Message")
        message.fill("Hello, do you ship to Brno? And is the Sencha organic?")
        message.press("Enter")

        agent.get_by_role("tab", name=re.compile(r"^Unserved\b")).click()
        agent.get_by_role("tabpanel").get_by_role("link").filter(has_text="Hello, do you").click()
        agent.get_by_role("button", name="Join").click()
        reply = agent.get_by_label("Reply")
        reply.fill("Yes to both: we ship to Brno in two days, and the Sencha is organic.")
        reply.press("Enter")
        expect(widget.get_by_text("we ship to Brno in two days")).to_be_visible()
        shoot(agent, "dashboard.png")
        shoot(visitor, "widget-online.png")

        agent.goto(f"{base}/app#/settings")
        expect(agent.get_by_role("heading", name="Settings")).to_be_visible()
        shoot(agent, "settings.png")

        agent.goto(f"{base}/app#/conversations")
        agent.get_by_role("switch", name="Online").uncheck()
        offline_visitor = browser.new_page(viewport={"width": 1000, "height": 760})
        offline_visitor.goto(f"{base}/demo/product")
        offline_visitor.get_by_role("button", name="Open chat").click()
        form = offline_visitor.get_by_role("dialog", name="Chat")
        expect(form.get_by_role("heading", name="Leave a message")).to_be_visible()
        form.get_by_label("Your e-mail").fill("petra@example.com")
        form.get_by_label("Your name").fill("Petra Svobodová")
        offer = "Could you gift-wrap the tea set for Friday?"
        form.get_by_role("textbox", name="Message").fill(offer)
        shoot(offline_visitor, "widget-offline.png")
        for page in (agent, visitor, offline_visitor):
            page.close()


def shoot(page: Page, name: str) -> None:
    page.wait_for_timeout(300)  # let transitions settle
    page.screenshot(path=str(OUT / name))
    print(OUT / name)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    shots = [
        (Locale.EN, NotificationKind.OFFLINE_MESSAGE, "email-offline-message-en.png"),
        (Locale.DE, NotificationKind.MISSED_CONVERSATION, "email-missed-conversation-de.png"),
    ]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 680, "height": 600})
        for locale, kind, name in shots:
            html = compose(sample(locale, kind)).get_body(("html",))
            assert html is not None
            page.set_content(html.get_content())
            page.screenshot(path=str(OUT / name), full_page=True)
            print(OUT / name)
        web_shots(browser)
        browser.close()


if __name__ == "__main__":
    main()
