"""The agent dashboard as its browser tests drive it: found by what an agent sees and what a
screen reader hears (roles, labels, headings), so a test breaks when the page stops making
sense to people, not when its markup is rearranged. Also the REST look-ups the tests check
the server's side with, and a poll for outcomes that arrive on the engine's clock."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.support import Agent, LiveServer, Socket, live_sign_up

OWNER_PASSWORD = "owner-password"  # what tests.support.live_sign_up gives every owner
# Long enough for a frame, a debounced fetch and a render on a busy CI machine.
LIVE_TIMEOUT_MS = 10_000


def rest(agent: Agent, method: str, path: str, body: Any = None) -> Any:
    response = agent.call(method, path, body)
    assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def agent_is_online(agent: Agent, *, asked_by: Agent | None = None) -> bool:
    """What GET /agents says of ``agent``, asked by ``asked_by`` (default: the agent itself,
    whose token stops working once it is deactivated)."""
    listed = rest(asked_by or agent, "GET", "/agents")
    return bool(next(a for a in listed if a["id"] == agent.agent_id)["online"])


def notifications_of(agent: Agent, conversation_id: int) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = rest(
        agent, "GET", f"/notifications?conversation_id={conversation_id}"
    )["notifications"]
    return log


def wait_for_visitor_message(socket: Socket, text: str, timeout: float = 10) -> dict[str, Any]:
    """The ``message.created`` frame carrying ``text`` (a join's system message comes first)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        frame = socket.wait_for("message.created", timeout=max(left, 0.01))
        if frame["message"]["text"] == text:
            return frame


@dataclass
class Dashboard:
    page: Page
    server: LiveServer

    def open(self, route: str = "") -> None:
        self.page.goto(f"{self.server.base_url}/app{route}")

    def go(self, route: str) -> None:
        """Another screen of the signed-in page, the way a link gets there (no reload)."""
        self.page.evaluate("route => { location.hash = route; }", route)

    def log_in(self, email: str, password: str = OWNER_PASSWORD) -> None:
        if not self.page.url.startswith(f"{self.server.base_url}/app"):
            self.open()
        self.page.get_by_label("E-mail").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Log in").click()
        expect(self.online_switch).to_be_visible()

    def log_out(self) -> None:
        self.page.get_by_role("button", name="Log out", exact=True).click()
        expect(self.page.get_by_role("heading", name="Log in")).to_be_visible()

    @property
    def online_switch(self) -> Locator:
        return self.page.get_by_role("banner").get_by_role("switch", name="Online")

    @property
    def devices(self) -> Locator:
        return self.page.get_by_role("banner").locator(".devices")

    @property
    def navigation(self) -> Locator:
        return self.page.get_by_role("navigation")

    def folder(self, name: str) -> Locator:
        return self.page.get_by_role("tab", name=re.compile(rf"^{re.escape(name)}\b"))

    @property
    def folder_panel(self) -> Locator:
        return self.page.get_by_role("tabpanel")

    def conversation_in_list(self, visitor_name: str) -> Locator:
        return self.folder_panel.get_by_role("link").filter(has_text=visitor_name)

    @property
    def conversation(self) -> Locator:
        return self.page.get_by_role("region", name="Conversation")

    @property
    def messages(self) -> Locator:
        return self.page.get_by_role("list", name="Messages")

    @property
    def why_panel(self) -> Locator:
        return self.page.get_by_role("region", name="Who was told, and how")

    def section(self, heading: str) -> Locator:
        return self.page.get_by_role("region", name=heading, exact=True)


def owner_logged_in(page: Page, server: LiveServer, **account: Any) -> tuple[Agent, Dashboard]:
    """A new account's owner (``account``: what ``live_sign_up`` takes), logged in to the
    dashboard on ``page``."""
    owner = live_sign_up(server, **account)
    dashboard = Dashboard(page, server)
    dashboard.log_in(owner.email)
    return owner, dashboard
