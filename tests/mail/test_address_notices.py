"""The e-mails of a changed address and of a test notification, written and read back as a
mail client reads them: the notice to the old address says to which address it moved and
what to do if that was not its owner, carries no link with a token, and keeps what people
typed (an account's name, an agent's) quoted and out of the headers' structure."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from frontdesk.core.model import Locale
from frontdesk.mail.notices import (
    ADDRESS_CHANGED,
    ADDRESS_TEST,
    TEST_NOTIFICATION,
    Notice,
    write_notice,
)

HOSTILE_SHOP = 'Shop"\r\nBcc: victim@example.net =?utf-8?q?x?='
HOSTILE_AGENT = "Olga\r\nSubject: you won"


def notice(kind: str, locale: Locale = Locale.EN, **fields: str) -> Notice:
    return Notice(
        kind=kind,
        message_id="<frontdesk.test.1@shop.example>",
        sender="Frontdesk <notify@shop.example>",
        recipient_email="olga@old.example",
        recipient_name=HOSTILE_AGENT,
        locale=locale,
        time_zone="Europe/Prague",
        account_name=HOSTILE_SHOP,
        installation_url="https://chat.shop.example",
        decided_at=datetime(2026, 12, 6, 9, 0, tzinfo=UTC),
        dashboard_url="https://chat.shop.example/app",
        **fields,  # type: ignore[arg-type]
    )


def read(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    content: str = part.get_content()
    return " ".join(content.split())


def test_the_old_address_is_told_where_the_login_went_and_what_to_do() -> None:
    message = read(write_notice(notice(ADDRESS_CHANGED, new_email="olga@new.example")))

    assert message["Subject"] == "The e-mail address of your Frontdesk login was changed"
    assert message["To"].addresses[0].addr_spec == "olga@old.example"
    assert message["Bcc"] is None
    assert len(message.keys()) == len(set(message.keys()))
    said = text_of(message)
    assert "was changed from this address to olga@new.example." in said
    assert "If it was not you, somebody else knows your password." in said
    assert "deactivate your agent at once" in said
    # What somebody typed is quoted, on one line, and no link carries a token.
    assert '"Shop" Bcc: victim@example.net' in said
    assert "https://" in said  # the installation, named
    assert "token" not in said
    assert "/confirm" not in said


def test_the_old_address_is_told_in_the_agent_s_language() -> None:
    message = read(write_notice(notice(ADDRESS_CHANGED, Locale.DE, new_email="olga@new.example")))

    assert message["Subject"] == "Die E-Mail-Adresse Ihres Frontdesk-Logins wurde geändert"
    said = text_of(message)
    assert "auf olga@new.example geändert." in said
    assert "Wenn Sie es nicht waren" in said


@pytest.mark.parametrize(
    ("kind", "subject", "words"),
    [
        (
            ADDRESS_TEST,
            "Your Frontdesk notifications come to this address now",
            "This short e-mail shows that mail reaches it; there is nothing to do.",
        ),
        (
            TEST_NOTIFICATION,
            "A test notification from Frontdesk",
            "You asked for a test notification",
        ),
    ],
)
def test_the_tests_say_what_they_are(kind: str, subject: str, words: str) -> None:
    message = read(write_notice(notice(kind)))

    assert message["Subject"] == subject
    assert message["Auto-Submitted"] == "auto-generated"
    assert words in text_of(message)
