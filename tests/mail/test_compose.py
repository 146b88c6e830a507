"""Writing one notification e-mail, read back the way a mail client reads it: its structure,
headers, languages and times, and what becomes of hostile visitor text in the HTML and in
the headers."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.core.model import Locale
from frontdesk.core.notifications import NotificationKind
from frontdesk.mail import compose
from frontdesk.mail.compose import write
from frontdesk.mail.content import ListedMessage, NotificationEmail

ROOT = Path(__file__).resolve().parents[2]

AT = datetime(2026, 11, 25, 19, 40, tzinfo=UTC)


def notification(**changes: object) -> NotificationEmail:
    email = NotificationEmail(
        kind=NotificationKind.OFFLINE_MESSAGE,
        message_id="<frontdesk.1.2.abc@shop.example>",
        sender="Shop <notify@shop.example>",
        recipient_email="eva@shop.example",
        recipient_name="Eva",
        locale=Locale.EN,
        account_name="Kaffee & Co",
        conversation_id=7,
        conversation_url="https://chat.shop.example/dashboard/conversations/7",
        visitor_name="Anna",
        visitor_email="anna@example.com",
        page_url="https://shop.example/cart?x=1&y=2",
        messages=(ListedMessage("Is the grinder in stock?", AT),),
        decided_at=AT + timedelta(minutes=2),
        visitor_left_at=AT + timedelta(minutes=3),
        time_zone="Europe/Prague",
        thread_id="<frontdesk.conversation.7@shop.example>",
        list_id="<account-1.notifications.shop.example>",
        unsubscribe_url="https://chat.shop.example/api/v1/unsubscribe/token",
    )
    return replace(email, **changes)  # type: ignore[arg-type]


def received(email: NotificationEmail) -> EmailMessage:
    raw = write(email)
    assert all(len(line) <= 998 for line in raw.split(b"\r\n")), "RFC 5322 line limit"
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None
    assert html is not None
    # Parts travel with CRLF line ends; a mail client shows lines.
    return text.get_content().replace("\r\n", "\n"), html.get_content().replace("\r\n", "\n")


def test_it_is_text_and_html_with_the_headers_mail_systems_expect() -> None:
    message = received(notification())
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in message.iter_parts())
    assert message["Message-ID"] == "<frontdesk.1.2.abc@shop.example>"
    assert message["In-Reply-To"] == "<frontdesk.conversation.7@shop.example>"
    assert message["References"] == "<frontdesk.conversation.7@shop.example>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert message["List-Id"] == '"Kaffee & Co" <account-1.notifications.shop.example>'
    assert message["List-Unsubscribe"] == "<https://chat.shop.example/api/v1/unsubscribe/token>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Subject"] == 'New message from "Anna" on Kaffee & Co'
    assert message["To"] == "Eva <eva@shop.example>"
    assert message["Date"] == "Wed, 25 Nov 2026 19:42:00 +0000"
    assert not message.defects


def test_it_lists_the_messages_the_visitor_and_the_page_with_times_in_the_agents_zone() -> None:
    messages = (
        ListedMessage("Is the grinder in stock?", AT),
        ListedMessage("And in black?\nThanks", AT + timedelta(minutes=1)),
    )
    text, html = parts(received(notification(messages=messages)))
    # 19:40 UTC is 20:40 in Prague in November.
    assert "Nov 25, 2026 8:40\u202fPM" in text
    assert "Nov 25, 2026 8:41\u202fPM" in text
    assert "  And in black?\n  Thanks" in text
    assert '"Anna" left 2 messages' in text
    assert "Page: https://shop.example/cart?x=1&y=2" in text
    assert "E-mail: anna@example.com" in text
    assert "Open the conversation:\nhttps://chat.shop.example/dashboard/conversations/7" in text
    assert "Times are in Central European Time (Europe/Prague)." in text
    assert "And in black?<br>\nThanks" in html
    assert 'href="https://chat.shop.example/dashboard/conversations/7"' in html
    assert 'href="mailto:anna@example.com"' in html
    # The page the visitor's browser sent is shown, not linked: it is the visitor's word.
    assert ">https://shop.example/cart?x=1&amp;y=2</td>" in html
    assert 'href="https://shop.example' not in html
    assert "are what the visitor sent; Frontdesk has not checked them." in html
    assert "are what the visitor sent; Frontdesk has not checked them." in text
    assert 'style="' in html
    assert "<style" not in html


def test_a_missed_conversation_says_the_visitor_left_unanswered_and_when() -> None:
    message = received(notification(kind=NotificationKind.MISSED_CONVERSATION))
    text, html = parts(message)
    assert message["Subject"] == ('Missed conversation: "Anna" left Kaffee & Co without an answer')
    assert '"Anna" left Kaffee & Co before anybody answered.' in text
    assert "Left at: Nov 25, 2026 8:43\u202fPM" in text
    assert "missed conversations are on for you" in text
    assert "&#34;Anna&#34; left without an answer</h1>" in html


@pytest.mark.parametrize(
    ("locale", "subject", "words"),
    [
        (
            Locale.EN,
            'New message from "Anna" on Kaffee & Co',
            ["Open the conversation", "Visitor"],
        ),
        (
            Locale.DE,
            "Neue Nachricht von \u201eAnna\u201c auf Kaffee & Co",
            ["Unterhaltung öffnen", "Besucher", "Seite", "25.11.2026 20:40", "E-Mails abbestellen"],
        ),
        (
            Locale.CS,
            "Nová zpráva od \u201eAnna\u201c na Kaffee & Co",
            ["Otevřít konverzaci", "Návštěvník", "Stránka", "25. 11. 2026 20:40", "Odhlásit odběr"],
        ),
    ],
)
def test_it_is_written_in_the_recipients_language(
    locale: Locale, subject: str, words: list[str]
) -> None:
    message = received(notification(locale=locale))
    text, html = parts(message)
    assert message["Subject"] == subject
    for word in words:
        assert word in text
        assert word in html
    assert f'<html lang="{locale.value}">' in html


@pytest.mark.parametrize(
    ("count", "subject"),
    [
        (1, "Nová zpráva od \u201eAnna\u201c na Kaffee & Co"),
        (3, "3 nové zprávy od \u201eAnna\u201c na Kaffee & Co"),
        (5, "5 nových zpráv od \u201eAnna\u201c na Kaffee & Co"),
    ],
)
def test_czech_counts_in_its_three_plural_forms(count: int, subject: str) -> None:
    messages = tuple(ListedMessage(f"m{i}", AT) for i in range(count))
    assert received(notification(locale=Locale.CS, messages=messages))["Subject"] == subject


def test_without_a_name_the_visitor_is_named_by_address_or_number() -> None:
    assert received(notification(visitor_name=None))["Subject"].startswith(
        'New message from "anna@example.com"'
    )
    unnamed = notification(visitor_name=None, visitor_email=None, locale=Locale.DE)
    assert received(unnamed)["Subject"] == "Neue Nachricht von Besucher #7 auf Kaffee & Co"


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.extend(attrs)


TEMPLATE_TAGS = {
    "html", "head", "meta", "title", "body", "div", "h1", "h2", "p", "table", "tbody", "tr",
    "th", "td", "a", "br",
}  # fmt: skip


def test_hostile_visitor_text_is_only_text_in_the_html() -> None:
    hostile = notification(
        visitor_name='<script>alert("name")</script>',
        visitor_email='"><img src=x onerror=alert(1)>@example.com',
        page_url="javascript:alert(document.cookie)",
        messages=(
            ListedMessage('<img src=x onerror="alert(1)"> & <a href="https://evil">x</a>', AT),
            ListedMessage("NUL\x00 and \x1b[31mescape\x07", AT),
        ),
        account_name="<b>Shop</b>",
    )
    message = received(hostile)
    text, html = parts(message)
    elements = _Elements()
    elements.feed(html)
    assert elements.tags <= TEMPLATE_TAGS
    assert "img" not in elements.tags
    assert "script" not in elements.tags
    assert not [name for name, _ in elements.attributes if name.startswith("on")]
    hrefs = [value or "" for name, value in elements.attributes if name == "href"]
    assert hrefs == [
        "https://chat.shop.example/dashboard/conversations/7",
        "https://chat.shop.example/api/v1/unsubscribe/token",
    ]
    assert (
        "&#34;&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;&#34; left 2 messages</h1>" in html
    )
    assert (
        "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; &lt;a href=&#34;https://evil&#34;&gt;"
        in html
    )
    assert "javascript:alert(document.cookie)" in html  # shown, not linked
    # Control characters are gone from both parts; the text part stays plain text.
    assert "\x00" not in text + html
    assert "\x1b" not in text + html
    assert "\x07" not in text
    assert "NUL and [31mescape" in text
    assert '"<script>alert("name")</script>" left 2 messages' in text


@pytest.mark.parametrize(
    "name",
    [
        "Anna\r\nBcc: victim@example.com",
        "Anna\nX-Injected: yes",
        "Anna\rSubject: fake",
        "Anna\x00\r\n\r\n<html>body</html>",
        "Ånna Ødegård \u2028\u2029 Zoë",
        "A" * 10_000,
        "=?utf-8?q?Bcc=3A_victim=40example=2Ecom?=",
    ],
)
def test_hostile_names_never_make_a_header(name: str) -> None:
    message = received(notification(visitor_name=name, account_name=name, recipient_name=name))
    assert set(message.keys()) == {
        "From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
        "Auto-Submitted", "X-Auto-Response-Suppress", "List-Id", "List-Unsubscribe",
        "List-Unsubscribe-Post", "MIME-Version", "Content-Type",
    }  # fmt: skip
    subject = str(message["Subject"])
    assert "\r" not in subject
    assert "\n" not in subject
    assert "\x00" not in subject
    assert len(subject) < 160
    assert message["To"].addresses[0].addr_spec == "eva@shop.example"
    assert not message.defects


@settings(max_examples=200, deadline=None)
@given(
    name=st.text(max_size=300),
    shop=st.text(max_size=300),
    agent=st.text(max_size=300),
)
def test_no_text_at_all_reaches_the_headers_unencoded(name: str, shop: str, agent: str) -> None:
    raw = write(notification(visitor_name=name, account_name=shop or "Shop", recipient_name=agent))
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))
    names = [
        line.split(b":", 1)[0] for line in head.split(b"\r\n") if not line.startswith((b" ", b"\t"))
    ]
    assert len(names) == 14
    assert all(re.fullmatch(rb"[A-Za-z-]+", n) for n in names)
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["To"].addresses[0].addr_spec == "eva@shop.example"


class _Document(HTMLParser):
    """What a mail client makes of an HTML part: its elements with their attributes and
    its text, entities read and runs of white space as one."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple[str, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append(("start", tag, *sorted(f"{n}={v}" for n, v in attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.events.append(("end", tag))

    def handle_data(self, data: str) -> None:
        if text := " ".join(data.split()):
            if self.events and self.events[-1][0] == "text":
                text = f"{self.events.pop()[1]} {text}"
            self.events.append(("text", text))


def document(html: str) -> list[tuple[str, ...]]:
    parsed = _Document()
    parsed.feed(html)
    parsed.close()
    return parsed.events


@cache
def _inliner() -> Any:
    """As tools/inline_css.py inlines: no remote stylesheet, no <style> left. (Imported
    here, so that this module can be imported by a process that must not load it.)"""
    import css_inline

    return css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=False)


def test_the_inlined_template_is_written_from_the_current_one() -> None:
    checked = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "inline_css.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_writing_e_mails_loads_no_css_inliner() -> None:
    """The inlining is done ahead (its library is 2.6 MB of a process's memory)."""
    program = (
        "import sys\n"
        "from tests.mail.test_compose import notification\n"
        "from frontdesk.mail.compose import write\n"
        "write(notification())\n"
        "print('css_inline' in sys.modules)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert ran.stdout.strip() == "False", ran.stderr


@settings(max_examples=60, deadline=None)
@given(
    name=st.text(max_size=30),
    text=st.text(min_size=1, max_size=80),
    email=st.sampled_from([None, "anna@example.com", '"><b>x</b>@example.com']),
    page=st.sampled_from([None, "https://shop.example/?a=1&b='2'", "javascript:alert(1)"]),
    kind=st.sampled_from(list(NotificationKind)),
    locale=st.sampled_from(list(Locale)),
    messages=st.integers(min_value=1, max_value=3),
    unsubscribe=st.sampled_from([None, 'https://chat.shop.example/u/a&b="c"']),
)
def test_the_template_inlined_once_reads_as_each_e_mail_inlined(
    name: str,
    text: str,
    email: str | None,
    page: str | None,
    kind: NotificationKind,
    locale: Locale,
    messages: int,
    unsubscribe: str | None,
) -> None:
    """The HTML part's CSS is inlined into the template once (tools/inline_css.py), and its
    fixed texts translated when it is loaded: what comes out is the document that rendering
    the template as written and inlining each e-mail makes, for any visitor text (the
    inliner writes entities its own way, so documents are compared, not bytes)."""
    email_ = notification(
        visitor_name=name,
        visitor_email=email,
        page_url=page,
        kind=kind,
        locale=locale,
        messages=tuple(ListedMessage(f"{text} {n}", AT) for n in range(messages)),
        unsubscribe_url=unsubscribe,
    )
    written = compose._environment(locale, prepared=False).get_template("notification.html")
    each_inlined = _inliner().inline(written.render(compose._context(email_)))
    assert document(compose.render(email_).html) == document(each_inlined)
    assert document(compose.render(email_).html)[0] == ("start", "html", "lang=" + locale.value)


@settings(max_examples=60, deadline=None)
@given(
    name=st.text(max_size=30),
    text=st.text(min_size=1, max_size=80),
    email=st.sampled_from([None, "anna@example.com", '"><b>x</b>@example.com']),
    kind=st.sampled_from(list(NotificationKind)),
    locale=st.sampled_from(list(Locale)),
    messages=st.integers(min_value=1, max_value=6),
    unsubscribe=st.sampled_from([None, 'https://chat.shop.example/u/a&b="c"']),
)
def test_the_texts_translated_once_read_as_the_extension_translates_them(
    name: str,
    text: str,
    email: str | None,
    kind: NotificationKind,
    locale: Locale,
    messages: int,
    unsubscribe: str | None,
) -> None:
    """The templates' fixed texts are translated when they are loaded, not looked up at
    each render: the text part comes out byte for byte as the i18n extension renders the
    template as written, in every language and plural form."""
    email_ = notification(
        visitor_name=name,
        visitor_email=email,
        kind=kind,
        locale=locale,
        messages=tuple(ListedMessage(f"{text} {n}", AT) for n in range(messages)),
        unsubscribe_url=unsubscribe,
    )
    written = compose._environment(locale, prepared=False).get_template("notification.txt")
    assert compose.render(email_).text == written.render(compose._context(email_))


@pytest.mark.parametrize("locale", list(Locale))
@pytest.mark.parametrize("kind", list(NotificationKind))
@pytest.mark.parametrize("done", [False, True])
def test_the_unsubscribe_page_translated_once_reads_as_written(
    locale: Locale, kind: NotificationKind, done: bool
) -> None:
    values = {
        "lang": locale.value,
        "kind": kind.value,
        "email": '"><script>x</script>@example.com',
        "done": done,
        "action_url": "https://chat.shop.example/u/a&b",
        "dashboard_url": "https://chat.shop.example/dashboard",
    }
    page = compose._environment(locale).get_template("unsubscribe.html").render(values)
    written = compose._environment(locale, prepared=False).get_template("unsubscribe.html")
    assert page == written.render(values)
    assert "<script>" not in page
