"""The notification e-mail as a new user first sees it: in Chromium, on the development
mailbox of the embedded default, with hostile visitor text shown as text and nothing run."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from frontdesk.security import PasswordHasher
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from tests.browser.conftest import Watched
from tests.support import live_sign_up, new_live_visitor, serving

HOSTILE = "<img src=x onerror=alert(1)>"


def test_the_e_mail_of_a_hostile_visitor_shows_its_text_and_runs_nothing(
    watched: Watched,
    database: Database,
    database_url: str,
    passwords: PasswordHasher,
    tmp_path: Path,
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        password_hashing="fast",
        offline_email_delay=0.3,
    )  # no smtp_url: the built-in catcher keeps the e-mail
    with serving(settings, database, passwords) as server:
        owner = live_sign_up(server)
        visitor = new_live_visitor(server, owner.widget_key, name="<script>alert(2)</script>")
        visitor.say(HOSTILE)
        page = watched.page
        page.goto(f"{server.base_url}/dev/mail")
        subject = 'New message from "<script>alert(2)</script>" on Shop'
        link = page.get_by_role("link", name=subject)
        expect(link).to_be_visible(timeout=10_000)  # the list refreshes every 5 s
        link.click()

        frame = page.frame_locator("iframe[title='The HTML part']")
        expect(frame.locator("p.text")).to_have_text(HOSTILE)
        expect(frame.get_by_role("heading", level=1)).to_have_text(
            '"<script>alert(2)</script>" left a message'
        )
        expect(frame.get_by_role("link", name="Open the conversation")).to_be_visible()
        assert frame.locator("img, script").count() == 0
        expect(page.locator("pre")).to_contain_text(HOSTILE)  # the plain-text part

    assert watched.dialogs == []
    assert watched.errors == []
