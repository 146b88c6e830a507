"""The dashboard when the server's live frames were interrupted: its hub lost Redis (a
Redis of the test's own, killed and started again, tests/support/private_redis.py), so
the frames of what happened meanwhile may never come. The server tells each socket to
``resync``, and the dashboard reads its folders, devices and agents again from the API."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import SiteFactory, Watched, assert_nothing_ran
from tests.browser.dashboard_page import LIVE_TIMEOUT_MS, owner_logged_in, rest
from tests.support import eventually, new_live_visitor
from tests.support.private_redis import private_redis


def test_the_dashboard_reads_its_state_again_after_live_frames_were_missed(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with private_redis() as redis_server, serve_site(redis_url=redis_server.url) as server:
        # What the dashboard asks the API, seen from the page (its service worker hides its
        # fetches from the browser's request events).
        page.add_init_script(
            "const fetched = window.fetch; window.asked = [];"
            "window.fetch = (url, ...rest) => { window.asked.push(String(url));"
            " return fetched(url, ...rest); };"
        )
        owner, dashboard = owner_logged_in(page, server)
        eventually(lambda: rest(owner, "GET", "/me/status")["devices"], what="the socket")
        expect(dashboard.folder("Unserved")).not_to_contain_text("1")
        page.evaluate("window.asked = []")
        redis_server.stop()
        new_live_visitor(server, owner.widget_key, name="Vera").say("Anyone there?")
        redis_server.start()

        # Only a resync reads the agents again after the start.
        eventually(
            lambda: "/api/v1/agents" in page.evaluate("window.asked"),
            timeout=15,
            what="the agents read again",
        )
        assert "/api/v1/me/status" in page.evaluate("window.asked")
        expect(dashboard.folder("Unserved")).to_contain_text("1", timeout=LIVE_TIMEOUT_MS)
    assert_nothing_ran(watched)
