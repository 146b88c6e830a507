"""``write`` puts an e-mail on the wire without building it with the ``email`` package.
Here the ``email`` package builds the same e-mail the way Frontdesk built it before
(``by_the_email_package``, the oracle), and the two must agree: the same header lines, byte
for byte (but the random boundary), and the same two parts once decoded, for any text a
visitor, an account or an agent may bring."""

from __future__ import annotations

import re
from dataclasses import replace
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.core.model import Locale
from frontdesk.core.notifications import NotificationKind
from frontdesk.mail.compose import _shared_parts, header_safe, render, write
from frontdesk.mail.content import ListedMessage, NotificationEmail
from tests.mail.test_compose import AT, notification

BOUNDARY = re.compile(rb'boundary="([^"]+)"')


def by_the_email_package(email: NotificationEmail) -> bytes:
    parts = render(email)
    message = EmailMessage(policy=SMTP)
    message["From"] = email.sender
    message["To"] = Address(
        display_name=header_safe(email.recipient_name), addr_spec=email.recipient_email
    )
    message["Subject"] = parts.subject
    message["Date"] = format_datetime(email.decided_at)
    message["Message-ID"] = email.message_id
    if email.thread_id:
        message["In-Reply-To"] = email.thread_id
        message["References"] = email.thread_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    if email.list_id:
        label = header_safe(email.account_name, limit=40).replace('"', "'").replace("\\", "/")
        message["List-Id"] = f'"{label}" {email.list_id}'
    if email.unsubscribe_url:
        message["List-Unsubscribe"] = f"<{email.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(parts.text, charset="utf-8", cte="quoted-printable")
    message.add_alternative(parts.html, subtype="html", charset="utf-8", cte="quoted-printable")
    for part in message.iter_parts():
        del part["MIME-Version"]
    return message.as_bytes()


def decoded_parts(raw: bytes) -> list[tuple[str, str, str]]:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert not message.defects
    found = []
    for part in message.iter_parts():
        assert isinstance(part, EmailMessage)
        assert not part.defects
        found.append(
            (part.get_content_type(), str(part["Content-Transfer-Encoding"]), part.get_content())
        )
    return found


def assert_the_same_e_mail(email: NotificationEmail) -> None:
    written, oracle = write(email), by_the_email_package(email)
    ours, theirs = BOUNDARY.search(written), BOUNDARY.search(oracle)
    assert ours is not None
    assert theirs is not None
    head, _, body = written.partition(b"\r\n\r\n")
    assert head == oracle.partition(b"\r\n\r\n")[0].replace(theirs.group(1), ours.group(1))
    assert decoded_parts(written) == decoded_parts(oracle)
    # On the wire: ASCII, CRLF line ends only, quoted-printable lines within 76 characters.
    assert written.isascii()
    assert b"\n" not in written.replace(b"\r\n", b"")
    assert b"\r" not in written.replace(b"\r\n", b"")
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))
    assert written.endswith(b"--" + ours.group(1) + b"--\r\n")


def test_the_usual_e_mail_is_the_one_the_email_package_writes() -> None:
    assert_the_same_e_mail(notification())


def test_every_language_and_both_kinds() -> None:
    for locale in Locale:
        for kind in NotificationKind:
            assert_the_same_e_mail(notification(locale=locale, kind=kind))


def test_without_threading_list_or_unsubscribe_headers() -> None:
    email = notification(thread_id="", list_id="", unsubscribe_url=None)
    assert_the_same_e_mail(email)
    assert b"List-Unsubscribe" not in write(email)


def test_a_sender_with_a_name_that_is_not_ascii() -> None:
    assert_the_same_e_mail(notification(sender="Kaffeerösterei Müller <notify@shop.example>"))


def test_long_lines_and_trailing_spaces_survive_the_encoding() -> None:
    text = "Größe? " + "x" * 300 + "   \n  indented = yes\t\n.\nFrom here\n" + "ü" * 200
    assert_the_same_e_mail(notification(messages=(ListedMessage(text, AT),)))


def test_each_e_mail_has_a_boundary_of_its_own() -> None:
    first, second = write(notification()), write(notification())
    assert BOUNDARY.search(first) != BOUNDARY.search(second)


@settings(max_examples=150, deadline=None)
@given(
    name=st.text(max_size=120),
    shop=st.text(min_size=1, max_size=120),
    agent=st.text(max_size=120),
    texts=st.lists(st.text(max_size=400), min_size=1, max_size=3),
)
def test_any_text_makes_the_same_e_mail(name: str, shop: str, agent: str, texts: list[str]) -> None:
    email = replace(
        notification(),
        visitor_name=name,
        account_name=shop,
        recipient_name=agent,
        messages=tuple(ListedMessage(text, AT) for text in texts),
    )
    assert_the_same_e_mail(email)


def test_a_long_unsubscribe_link_and_thread_id_stay_readable() -> None:
    """The ``email`` package writes a long value with no space in it as encoded words
    (``=?utf-8?q?=3Chttps=3A//…``): a mail client would find no link for one-click
    unsubscribe (RFC 8058) and no id to thread by. They go on one line of their own."""
    url = "https://chat.shop.example/api/v1/unsubscribe/" + "WzEsIm9mZmxpbmVfbWVzc2FnZSJd" * 3
    thread = "<frontdesk.conversation.7@" + "mail." * 12 + "shop.example>"
    raw = write(notification(unsubscribe_url=url, thread_id=thread))
    head = raw.partition(b"\r\n\r\n")[0].decode("ascii")
    assert f"\r\nList-Unsubscribe: <{url}>\r\n" in head
    assert f"\r\nIn-Reply-To: {thread}\r\n" in head
    assert f"\r\nReferences: {thread}\r\n" in head
    assert "=?" not in head
    message = message_from_bytes(raw, policy=policy.default)
    assert message["List-Unsubscribe"] == f"<{url}>"
    assert all(len(line) <= 998 for line in head.split("\r\n"))
    assert_decodes_like_the_oracle(notification(unsubscribe_url=url, thread_id=thread))


def assert_decodes_like_the_oracle(email: NotificationEmail) -> None:
    assert decoded_parts(write(email)) == decoded_parts(by_the_email_package(email))


@settings(max_examples=60, deadline=None)
@given(
    tail=st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40
    )
)
def test_parts_kept_for_the_next_recipient_are_the_ones_rendered_for_each(tail: str) -> None:
    """``render`` keeps the parts of a notification for its next recipient and gives each
    their own unsubscribe link: the same parts as if each e-mail were rendered alone."""
    for link in (
        "https://chat.shop.example/api/v1/unsubscribe/WzEsIm9mZmxpbmVfbWVzc2FnZSJd.x-Y_z",
        "https://chat.shop.example/u?a=1&b='2'&c=\"3\"&d=<4>\u00a0" + tail,
        None,
    ):
        email = notification(unsubscribe_url=link, recipient_name=tail or "Eva")
        alone = render_alone(email)
        assert render(email) == alone
        assert render(email) == alone  # from what was kept
        if link:
            assert link in alone.text


def render_alone(email: NotificationEmail) -> object:
    return _shared_parts.__wrapped__(email)


def test_text_that_reorders_itself_never_reaches_a_header() -> None:
    """U+202E and its kin make "moc.knab" read as "bank.com"; they go, the letters stay."""
    email = notification(visitor_name="Support \u202emoc.knab\u202c", account_name="Shop\u2067x")
    raw = write(email)
    subject = message_from_bytes(raw, policy=policy.default)["Subject"]
    assert "moc.knab" in subject
    for control in ("\u202e", "\u202c", "\u2067", "\u200f", "\u061c"):
        assert control not in subject
    assert header_safe("a\u200fb\u2066c\u061cd") == "a b c d"


def test_a_name_ending_in_a_backslash_keeps_the_list_id_whole() -> None:
    email = notification(account_name='Shop "Best" \\')
    head = write(email).partition(b"\r\n\r\n")[0].decode("ascii")
    (list_id,) = [line for line in head.split("\r\n") if line.startswith("List-Id:")]
    assert list_id == f"List-Id: \"Shop 'Best' /\" {email.list_id}"
