"""Takes the screenshots in docs/: the notification e-mails as Chromium renders their HTML
part. Run: ``.venv/bin/python tools/screenshots.py`` (needs Debian's chromium)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright

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


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    shots = [
        (Locale.EN, NotificationKind.OFFLINE_MESSAGE, "email-offline-message-en.png"),
        (Locale.DE, NotificationKind.MISSED_CONVERSATION, "email-missed-conversation-de.png"),
    ]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        page = browser.new_page(viewport={"width": 680, "height": 600})
        for locale, kind, name in shots:
            html = compose(sample(locale, kind)).get_body(("html",))
            assert html is not None
            page.set_content(html.get_content())
            page.screenshot(path=str(OUT / name), full_page=True)
            print(OUT / name)
        browser.close()


if __name__ == "__main__":
    main()
