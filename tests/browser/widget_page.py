"""The visitor chat widget as a visitor meets it, for the browser tests: its controls found by
role and accessible name (as a screen reader finds them, through the open shadow root),
its texts per locale, and the customer's website on an origin of its own that embeds it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.support import Agent

WAIT_MS = 10_000  # the longest any expect() of these tests waits

# The visible texts the tests look for, as a visitor of each locale reads them.
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "open": "Open chat",
        "chat": "Chat",
        "close": "Close chat",
        "messages": "Messages",
        "message": "Message",
        "send": "Send",
        "leave": "Leave a message",
        "email": "Your e-mail",
        "name": "Your name",
        "send_message": "Send message",
        "thanks": "Thanks! We will reply to you by e-mail.",
    },
    "de": {
        "open": "Chat öffnen",
        "chat": "Chat",
        "close": "Chat schließen",
        "messages": "Nachrichten",
        "message": "Nachricht",
        "send": "Senden",
        "leave": "Nachricht hinterlassen",
        "email": "Ihre E-Mail-Adresse",
        "name": "Ihr Name",
        "send_message": "Nachricht senden",
        "thanks": "Danke! Wir antworten Ihnen per E-Mail.",
    },
    "cs": {
        "open": "Otevřít chat",
        "chat": "Chat",
        "close": "Zavřít chat",
        "messages": "Zprávy",
        "message": "Zpráva",
        "send": "Odeslat",
        "leave": "Zanechte nám zprávu",
        "email": "Váš e-mail",
        "name": "Vaše jméno",
        "send_message": "Odeslat zprávu",
        "thanks": "Děkujeme! Odpovíme vám e-mailem.",
    },
}


@dataclass
class Widget:
    page: Page
    locale: str = "en"

    def text(self, name: str) -> str:
        return TEXTS[self.locale][name]

    @property
    def launcher(self) -> Locator:
        return self.page.get_by_role("button", name=self.text("open"))

    @property
    def dialog(self) -> Locator:
        return self.page.get_by_role("dialog", name=self.text("chat"))

    @property
    def log(self) -> Locator:
        return self.dialog.get_by_role("log", name=self.text("messages"))

    @property
    def message_box(self) -> Locator:
        return self.dialog.get_by_role("textbox", name=self.text("message"))

    @property
    def alert(self) -> Locator:
        return self.dialog.get_by_role("alert")

    def bubbles(self, author: str) -> Locator:
        """The texts of one author's messages (visitor, agent, system) in the log."""
        return self.log.locator(f".msg.{author} .text")

    def open(self) -> None:
        self.launcher.click()
        expect(self.dialog).to_be_visible(timeout=WAIT_MS)

    def say(self, text: str) -> None:
        """Writes in the online chat and waits until the server has taken the message."""
        expect(self.dialog.get_by_role("button", name=self.text("send"), exact=True)).to_be_visible(
            timeout=WAIT_MS
        )
        self.message_box.fill(text)
        self.dialog.get_by_role("button", name=self.text("send"), exact=True).click()
        expect(self.bubbles("visitor").filter(has_text=text)).to_have_count(1, timeout=WAIT_MS)

    def leave_message(self, *, email: str, text: str, name: str = "") -> None:
        """Fills and sends the offline form."""
        expect(self.dialog.get_by_role("heading", name=self.text("leave"))).to_be_visible(
            timeout=WAIT_MS
        )
        self.dialog.get_by_label(self.text("email")).fill(email)
        self.dialog.get_by_label(self.text("name")).fill(name)
        self.message_box.fill(text)
        self.dialog.get_by_role("button", name=self.text("send_message")).click()

    def shadow_count(self, selector: str) -> int:
        """How many elements inside the widget's shadow root match ``selector``."""
        count: int = self.page.evaluate(
            """selector => [...document.querySelectorAll("frontdesk-chat")]
                .reduce((n, host) => n + host.shadowRoot.querySelectorAll(selector).length, 0)""",
            selector,
        )
        return count


def conversations_of(agent: Agent, folder: str = "unserved") -> list[dict[str, Any]]:
    response = agent.call("GET", f"/conversations?folder={folder}")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["conversations"]
    return found


def conversation(agent: Agent, conversation_id: int) -> dict[str, Any]:
    response = agent.call("GET", f"/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


@contextmanager
def customer_site(html: str) -> Iterator[str]:
    """A customer's website on an origin of its own (another port than Frontdesk's): serves
    ``html`` at every path; yields its address."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the tests' output is no place for an access log

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
