"""Settings → Replies by e-mail in Chromium: the e-mails a mail provider posted for the
account's reply addresses, each with what became of it and why, hostile senders and
subjects shown as text (docs/reply-by-email.md)."""

from __future__ import annotations

import mailbox
import uuid

import httpx2 as httpx
from playwright.sync_api import expect

from tests.browser.conftest import SiteFactory, Watched, assert_nothing_ran
from tests.browser.dashboard_page import owner_logged_in
from tests.support import eventually, new_live_visitor

SECRET = "inbound-secret-for-the-browser"


def _email(sender: str, to: str, text: str, **headers: str) -> bytes:
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: Re: <b>Versand</b>\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@mail.example.net>\r\n{extra}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{text}\r\n"
    ).encode()


def test_an_owner_reads_what_became_of_each_reply(
    watched: Watched, serve_site: SiteFactory
) -> None:
    page = watched.page
    with serve_site(inbound_secret=SECRET, bounce_address="bounces@shop.example") as server:
        owner, dashboard = owner_logged_in(page, server)
        new_live_visitor(server, owner.widget_key, name="Vera").say("Do you ship to Brno?")
        caught = mailbox.Maildir(server.runtime.settings.mail_dir, create=False)

        def reply_address() -> str:
            found = [m["Reply-To"] for m in caught if m["To"] and owner.email in m["To"]]
            assert found, "the offline-message e-mail has not arrived"
            return str(found[0])

        address = eventually(reply_address, timeout=15, what="the owner's e-mail")
        posts = [
            _email(owner.email, address, "Yes, we do."),
            _email(owner.email, address, "Out of office", **{"Auto-Submitted": "auto-replied"}),
            _email('"<img src=x onerror=alert(1)>" <mallory@example.net>', address, "Refund!"),
        ]
        with httpx.Client(timeout=10) as http:
            for raw in posts:
                answer = http.post(
                    f"{server.base_url}/api/v1/inbound/mime",
                    content=raw,
                    headers={"Content-Type": "message/rfc822", "Authorization": f"Bearer {SECRET}"},
                )
                assert answer.status_code == 200, answer.text

        dashboard.go("#/settings")
        replies = page.get_by_role("region", name="Replies by e-mail")
        items = replies.locator(".inbound-email")
        expect(items).to_have_count(3)
        refused, dropped, posted = (items.nth(i) for i in range(3))  # newest first
        expect(posted.get_by_text("Posted", exact=True)).to_be_visible()
        expect(posted.locator(".inbound-reason")).to_have_text("Posted in the conversation.")
        expect(dropped.get_by_text("Dropped", exact=True)).to_be_visible()
        expect(dropped.locator(".inbound-reason")).to_have_text(
            "An automatic e-mail (an auto-reply or a bounce): not posted. (auto_submitted)"
        )
        expect(refused.get_by_text("Refused", exact=True)).to_be_visible()
        expect(refused.locator(".inbound-reason")).to_contain_text("did not come from the address")
        expect(refused.locator(".inbound-sender")).to_contain_text("<img src=x onerror=alert(1)>")
        expect(posted.locator(".inbound-subject")).to_have_text("Re: <b>Versand</b>")
        expect(posted.locator(".inbound-auth")).to_contain_text("by webhook")
        posted.get_by_role("link").click()
        expect(page.locator(".message-text", has_text="Yes, we do.")).to_be_visible()
    assert_nothing_ran(watched)
