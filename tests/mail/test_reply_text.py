"""The new words of a reply e-mail: replies to a notification as Gmail, Outlook, Apple Mail
and Thunderbird compose them in English, German and Czech (tests/mail/replies, each with the
text it must give), the HTML those clients send read on its own, hostile HTML, and the rules
that cut the quoted e-mail and the signature off plain text."""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import default
from pathlib import Path

import pytest

from frontdesk.mail.reply_text import html_to_text, reply_text, strip_quoted

REPLIES = Path(__file__).parent / "replies"
FIXTURES = sorted(path.stem for path in REPLIES.glob("*.eml"))
# Words of the quoted notification in each language: none may reach the result.
QUOTED = (
    "left a message",
    "hinterlassen",
    "zanechal(a)",
    "notify@desk.shop.example",
    "conversations/42",
    "anna@example.org",
    "Frontdesk",
)


def parse(raw: str | bytes) -> EmailMessage:
    message = message_from_bytes(raw.encode() if isinstance(raw, str) else raw, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def fixture(name: str) -> tuple[EmailMessage, str]:
    message = parse((REPLIES / f"{name}.eml").read_bytes())
    return message, (REPLIES / f"{name}.expected.txt").read_text(encoding="utf-8")


def without_plain_text(message: Message) -> Message:
    """``message`` as if its client had sent the HTML part alone."""
    for part in message.walk():
        if part.get_content_maintype() == "multipart":
            children = part.get_payload()
            assert isinstance(children, list)
            kept = [child for child in children if isinstance(child, Message)]
            part.set_payload([child for child in kept if child.get_content_type() != "text/plain"])
    return message


def test_there_is_a_fixture_for_each_client_and_language() -> None:
    clients = ("apple_mail", "gmail", "outlook", "thunderbird")
    assert (
        sorted(f"{client}_{lang}" for client in clients for lang in ("cs", "de", "en")) == FIXTURES
    )


# How each client marks the quoted e-mail in its HTML.
HTML_QUOTE_MARKS = {
    "apple_mail": '<blockquote type="cite"',
    "gmail": 'class="gmail_quote',
    "outlook": 'id="divRplyFwdMsg"',
    "thunderbird": 'class="moz-cite-prefix"',
}


@pytest.mark.parametrize("name", FIXTURES)
def test_a_fixture_is_a_reply_as_its_client_sends_it(name: str) -> None:
    message, expected = fixture(name)
    for header in ("From", "To", "Date", "Message-ID", "In-Reply-To", "MIME-Version"):
        assert message[header], header
    assert str(message["Subject"]).startswith(("Re: ", "AW: ", "Odp: "))
    encodings = {part["Content-Transfer-Encoding"] for part in message.walk()} - {None}
    assert encodings <= {"quoted-printable", "base64"}
    assert encodings
    assert not expected.isascii()  # the new words have umlauts or háčky to decode
    texts = {part.get_content_type(): part for part in message.walk()}
    if "text/html" in texts:
        assert message.get_content_type() == "multipart/alternative"
        html = texts["text/html"].get_content()
        assert HTML_QUOTE_MARKS[name.rsplit("_", 1)[0]] in html
    else:  # Thunderbird's plain-text reply
        assert message.get_param("format") == "flowed"
    plain = texts["text/plain"].get_content()
    assert any(words in plain for words in QUOTED[:3])  # the quoted notification is there


@pytest.mark.parametrize("name", FIXTURES)
def test_a_reply_gives_its_new_words(name: str) -> None:
    message, expected = fixture(name)
    text = reply_text(message)
    assert text == expected
    assert not [words for words in QUOTED if words in text]


HTML_FIXTURES = [
    name
    for name in FIXTURES
    if any(part.get_content_type() == "text/html" for part in fixture(name)[0].walk())
]


@pytest.mark.parametrize("name", HTML_FIXTURES)
def test_the_html_part_alone_gives_the_same_words(name: str) -> None:
    message, expected = fixture(name)
    html_only = without_plain_text(message)
    assert [part.get_content_type() for part in html_only.walk()][-1] == "text/html"
    assert reply_text(html_only) == expected


# ---------------------------------------------------------------- reply_text: the body


def email_with(*parts: tuple[str, str]) -> Message:
    """A multipart/alternative e-mail with ("plain"|"html", text) parts, parsed back."""
    message = EmailMessage()
    message["Subject"] = "Re: x"
    first, *rest = parts
    message.set_content(first[1], subtype=first[0])
    for subtype, text in rest:
        message.add_alternative(text, subtype=subtype)
    return parse(message.as_bytes())


def test_html_is_read_when_there_is_no_plain_text() -> None:
    message = email_with(("html", "<p>Grüß Gott,</p><p>die Kanne ist <b>da</b>.</p>"))
    assert reply_text(message) == "Grüß Gott,\n\ndie Kanne ist da."


def test_plain_text_that_is_all_quote_does_not_fall_back_to_html() -> None:
    message = email_with(
        ("plain", "> Anna left a message\n"), ("html", "<p>Different words in the HTML</p>")
    )
    assert reply_text(message) == ""


def test_an_email_with_only_an_attachment_has_no_words() -> None:
    message = EmailMessage()
    message["Subject"] = "Re: x"
    message.add_attachment(b"%PDF-1.7 not text", maintype="application", subtype="pdf")
    message.add_attachment("a text file, attached", filename="notes.txt")
    assert reply_text(parse(message.as_bytes())) == ""


def test_an_attached_text_file_is_not_the_body() -> None:
    message = EmailMessage()
    message.set_content("<p>The words</p>", subtype="html")
    message.add_attachment("a text file, attached", filename="notes.txt")
    assert reply_text(parse(message.as_bytes())) == "The words"


def test_an_attached_email_is_not_read() -> None:
    inner = EmailMessage()
    inner.set_content("words of another e-mail")
    outer = EmailMessage()
    outer["Subject"] = "Fwd"
    outer.add_attachment(inner)
    assert reply_text(parse(outer.as_bytes())) == ""


def test_an_unknown_charset_is_read_as_utf8() -> None:
    raw = (
        "Content-Type: text/plain; charset=x-no-such-charset\n"
        "Content-Transfer-Encoding: 8bit\n\nDěkuji,".encode()
        + b" \xff bye\n"
    )
    assert reply_text(parse(raw)) == "Děkuji, \ufffd bye"


@pytest.mark.parametrize("charset", ["idna", "base64_codec", "rot13", "utf-8\x00"])
def test_a_charset_that_is_no_text_encoding_does_not_raise(charset: str) -> None:
    raw = f'Content-Type: text/plain; charset="{charset}"\n\nhello\n'.encode()
    assert reply_text(parse(raw)) == "hello"


def test_latin1_is_read_as_windows_1252_like_browsers_do() -> None:
    raw = b"Content-Type: text/plain; charset=iso-8859-1\n\nPreis: 4,90 \x80, Gr\xfc\xdfe\n"
    assert reply_text(parse(raw)) == "Preis: 4,90 €, Grüße"


def test_control_and_invisible_characters_are_removed() -> None:
    text = "a\x00b\x07c\x1b[31md\u200be\u202ef\u2066g\u2028h\u2029i\x85j\ufeffk\tl\r\nm\rn"
    assert reply_text(email_with(("plain", text))) == "abc[31mdefghijk\tl\nm\nn"


def test_blank_lines_and_trailing_spaces_are_tidied() -> None:
    text = "\n\n  first  \n\n\n\n\nsecond \t\n\n"
    assert reply_text(email_with(("plain", text))) == "first\n\nsecond"


def test_the_limit_cuts_with_an_ellipsis() -> None:
    message = email_with(("plain", "0123456789 " * 20))
    text = reply_text(message, limit=25)
    assert text == "0123456789 0123456789 01…"
    assert len(reply_text(message, limit=12)) <= 12
    assert reply_text(message, limit=1000) == ("0123456789 " * 20).strip()
    with pytest.raises(ValueError, match="positive"):
        reply_text(message, limit=0)


def test_format_flowed_is_joined_back() -> None:
    raw = (
        b"Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes\n\n"
        b"Ein Donau \ndampfschiff.\nZweite Zeile\n\n> zitiert \n> weiter\n"
    )
    assert reply_text(parse(raw)) == "Ein Donaudampfschiff.\nZweite Zeile"
    raw = b"Content-Type: text/plain; format=flowed\n\none \ntwo\n-- \nsig\n"
    assert reply_text(parse(raw)) == "one two"


# ---------------------------------------------------------------- html_to_text

HOSTILE = """<html><head><title>alert(title)</title>
<style>body{background:url(javascript:alert(1))}</style><script>alert("head")</script></head>
<body onload="alert(2)">
<p onclick="alert(3)" style="color:red">Hello <b>there</b>,</p>
<img src="x" onerror="alert(4)"><img src=y onerror=alert(5) alt="a kettle">
<a href="javascript:alert(6)">click me</a> <a href=" JaVaScRiPt:alert(7)">and me</a>
<a href="data:text/html,&lt;script&gt;alert(8)&lt;/script&gt;">data</a>
<!-- <script>alert(9)</script> --><![CDATA[<script>alert(10)</script>]]>
<?php alert(11) ?>&lt;b&gt;bold&lt;/b&gt; &amp;lt;
<SCRIPT type="text/javascript">alert(12)</SCRIPT><script src=x />alert(13)</script>
<iframe srcdoc="<script>alert(14)</script>">alert(15)</iframe><svg><script>alert(16)</script>
<text>alert(17)</text></svg><math><mi>alert(18)</mi></math><noscript>alert(19)</noscript>
<template><script>alert(20)</script></template><object data=x>alert(21)</object>
<div style="display:none">alert(22)</div><span hidden>alert(23)</span>
<div>unclosed <span>tags <b>everywhere</div></p></p></li> end
<script>alert(24)"""


def test_hostile_html_becomes_harmless_text() -> None:
    text = html_to_text(HOSTILE)
    assert "<script" not in text.lower()
    assert "alert(" not in text
    assert "onerror" not in text
    assert "onclick" not in text
    assert "javascript" not in text.lower()
    assert "data:" not in text
    assert text == (
        "Hello there,\n\na kettle click me and me data <b>bold</b> &lt;\n"
        "unclosed tags everywhere\nend"
    )


def test_escaped_markup_stays_text() -> None:
    # Text that only looks like markup: the caller escapes it on display like any text.
    assert html_to_text("&lt;script&gt;alert(1)&lt;/script&gt;") == "<script>alert(1)</script>"


def test_ten_thousand_nested_elements_do_not_recurse() -> None:
    deep = "<div>" * 10_000 + "deep" + "</div>" * 10_000
    assert html_to_text(deep) == "deep"
    assert html_to_text("<div><span><b>" * 10_000 + "unclosed") == "unclosed"
    assert html_to_text("<blockquote type=cite>" * 10_000 + "x" + "</span>" * 10_000) == ""
    assert html_to_text('<a href="https://x.example/">' * 10_000 + "x") == "x (https://x.example/)"


@pytest.mark.parametrize(
    "html",
    [
        "<![foo bar]>after",
        "<![ cdata x",
        '<!DOCTYPE html [<!ENTITY x "y">]>after',
        "</div></div></p>after",
        "<div",
        "<!--",
        "<!-- never closed",
        "<script>never closed",
        "&#0;&#xD800;&#99999999;&#x110000;&bogus;&",
        "<<<>>>< / >",
        "<table><td>x<tr>",
        "<a href='javascript:alert(1)'",
        "<p/><br/></br><img/>",
        "<!x><!><?>",
        "<textarea><b>after",
        "\x00<div\x00>\x00",
        "<head><title>never closed",
    ],
)
def test_malformed_html_never_raises(html: str) -> None:
    assert "alert(" not in html_to_text(html)


def test_unfinished_markup_at_the_end_shows_nothing() -> None:
    assert html_to_text("words <script") == "words"
    assert html_to_text("words <!-- a > b") == "words"
    assert html_to_text("<![foo bar]>after") == "after"


def test_unclosed_head_ends_where_the_body_begins() -> None:
    assert html_to_text("<html><head><meta charset=utf-8><div>body text") == "body text"
    assert html_to_text("<head><title>never closed") == ""


@pytest.mark.parametrize(
    ("html", "text"),
    [
        (
            '<a href="https://shop.example/o/1">your order</a>',
            "your order (https://shop.example/o/1)",
        ),
        (
            '<a href="https://shop.example/o/1">https://shop.example/o/1</a>',
            "https://shop.example/o/1",
        ),
        ('<a href="https://shop.example/">shop.example</a>', "shop.example"),
        ('<a href="mailto:jana@shop.example">jana@shop.example</a>', "jana@shop.example"),
        ('<a href="mailto:jana@shop.example">Jana</a>', "Jana (mailto:jana@shop.example)"),
        ('<a href="javascript:alert(1)">Jana</a>', "Jana"),
        ('<a href="ftp://shop.example/x">file</a>', "file"),
        ('<a href="https://x.example/"><img src="logo.png"></a>', ""),
        (
            '<a href="https://x.example/"><img src="logo.png" alt="Shop"></a>',
            "Shop (https://x.example/)",
        ),
        ('<a href="https://x.example/a b">spaces</a>', "spaces"),
        (
            '<a href="https://x.example/">a</a><a href="https://y.example/">b</a>',
            "a (https://x.example/)b (https://y.example/)",
        ),
        ('<img src="x.png" alt="  a  kettle ">!', "a kettle!"),
        ('<img src="x.png">', ""),
    ],
)
def test_links_and_images(html: str, text: str) -> None:
    assert html_to_text(html) == text


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("one<br>two<br/>three", "one\ntwo\nthree"),
        ("<p>one</p><p>two</p>", "one\n\ntwo"),
        ("<div>one</div><div>two</div>", "one\ntwo"),
        ("<div>one</div><div><br></div><div>two</div>", "one\n\ntwo"),
        ("<div>one<br></div><div>two</div>", "one\ntwo"),
        ('<p class="MsoNormal">one<o:p></o:p></p><p class="MsoNormal">two</p>', "one\ntwo"),
        ("<ul><li>tea</li><li> cups </li></ul>after", "- tea\n- cups\n\nafter"),
        ("<ol><li>first<li>second</ol>", "- first\n- second"),
        ("<table><tr><td>a</td><td>b</td></tr><tr><th>c</th></tr></table>", "a b\nc"),
        ("<h1>Title</h1>text<hr>more", "Title\n\ntext\nmore"),
        ("  lots   of\n\t white\r\nspace  ", "lots of white space"),
        ("a<b> b </b>c", "a b c"),
        ("<pre>  keep\n    this</pre>", "keep\n    this"),
        ("a&nbsp;&nbsp;b", "a  b"),
        ("&lt;b&gt;not bold&lt;/b&gt; &amp; &#x1F600; &eacute;", "<b>not bold</b> & \U0001f600 é"),
    ],
)
def test_layout(html: str, text: str) -> None:
    assert html_to_text(html) == text


@pytest.mark.parametrize(
    "marked",
    [
        '<div class="gmail_quote">quoted <div>deeper</div></div>',
        '<div class="gmail_quote gmail_quote_container">quoted</div>',
        '<div dir="ltr" class="gmail_signature" data-smartmail="gmail_signature">sig</div>',
        '<div data-smartmail="gmail_signature">sig</div>',
        '<span class="gmail_signature_prefix">-- </span>',
        '<blockquote type="cite">quoted</blockquote>',
        '<blockquote type="CITE" cite="mid:x">quoted</blockquote>',
        '<div class="moz-cite-prefix">On 12/6/26 10:00 AM, Frontdesk wrote:</div>',
        '<div class="moz-signature">-- <br>sig</div>',
        '<pre class="moz-signature" cols="72">-- \nsig</pre>',
        '<div id="Signature"><p>Kind regards</p></div>',
        '<div id="ms-outlook-mobile-signature">Get <a href="https://aka.ms/o0ukef">Outlook</a></div>',
        '<div id="divRplyFwdMsg"><b>From:</b> x</div><div>the quoted e-mail</div>',
        '<div id="appendonsend"></div><hr><div>quoted</div><p>more quoted</p>',
    ],
)
def test_what_mail_clients_mark_as_quoted_or_signature_is_dropped(marked: str) -> None:
    assert html_to_text(f"<div>New words.</div>{marked}") == "New words."


def test_a_plain_blockquote_is_kept() -> None:
    assert html_to_text("<p>I read:</p><blockquote>a quotation</blockquote>") == (
        "I read:\n\na quotation"
    )


# ---------------------------------------------------------------- strip_quoted

NEW = "Danke, die Teekanne ist unterwegs.\nČíslo zásilky je 42."
QUOTE = "> Anna left a message\n> It arrived on Shop.\n>\n> -- \n> Times are in UTC."


@pytest.mark.parametrize(
    "attribution",
    [
        # Gmail, also wrapped over two lines
        "On Sun, Dec 6, 2026 at 10:00 AM Frontdesk <notify@example.com> wrote:",
        "On Sun, Dec 6, 2026 at 10:00 AM Frontdesk <\nnotify@example.com> wrote:",
        "On Sun, Dec 6, 2026 at 10:00 AM Frontdesk Notifications\n<notify@example.com> wrote:",
        "On Sun, Dec 6, 2026, 10:00 Frontdesk <notify@example.com> wrote:",
        "Am So., 6. Dez. 2026 um 10:00 Uhr schrieb Frontdesk <notify@example.com>:",
        "Am So., 6. Dez. 2026 um 10:00 Uhr schrieb Frontdesk <\nnotify@example.com>:",
        "Frontdesk <notify@example.com> schrieb am So., 6. Dez. 2026, 10:00:",
        "ne 6. 12. 2026 v 10:00 odesílatel Frontdesk <notify@example.com> napsal:",
        "ne 6. 12. 2026 v 10:00 odesílatel Frontdesk <notify@example.com>\nnapsal:",
        "Dne ne 6. 12. 2026 10:00 uživatel Frontdesk <notify@example.com> napsal:",
        # Apple Mail
        "On 6 Dec 2026, at 10:00, Frontdesk <notify@example.com> wrote:",
        "Am 06.12.2026 um 10:00 schrieb Frontdesk <notify@example.com>:",
        "6. 12. 2026 v 10:00, Frontdesk <notify@example.com>:",
        # Thunderbird
        "On 12/6/26 10:00 AM, Frontdesk wrote:",
        "Am 06.12.26 um 10:00 schrieb Frontdesk:",
        "Dne 06. 12. 26 v 10:00 Frontdesk napsal(a):",
        "Dne 06. 12. 26 v 10:00 Eva napsala:",
    ],
)
def test_attributions_begin_the_quote(attribution: str) -> None:
    assert strip_quoted(f"{NEW}\n\n{attribution}\n{QUOTE}") == NEW
    # and also when the client quotes without ">" (HTML read as text)
    unmarked = QUOTE.replace("> ", "").replace(">", "")
    if "@" in attribution or "2026" in attribution:
        assert strip_quoted(f"{NEW}\n\n{attribution}\n\n{unmarked}") == NEW


@pytest.mark.parametrize(
    "header",
    [
        "-----Original Message-----\nFrom: Frontdesk\nSent: Sunday",
        "-----Ursprüngliche Nachricht-----\nVon: Frontdesk",
        "-----Původní zpráva-----\nOd: Frontdesk",
        "---------- Forwarded message ---------\nFrom: Frontdesk <notify@example.com>",
        "________________________________\nFrom: Frontdesk <notify@example.com>\n"
        "Sent: Sunday, December 6, 2026 10:00 AM\nTo: Jana <jana@shop.example>\n"
        'Subject: New message from "Anna" on Shop',
        "________________________________\nVon: Frontdesk <notify@example.com>\n"
        "Gesendet: Sonntag, 6. Dezember 2026 10:00\nAn: Jana\nBetreff: Neue Nachricht",
        "________________________________\nOd: Frontdesk <notify@example.com>\n"
        "Odesláno: neděle 6. prosince 2026 10:00\nKomu: Jana\nPředmět: Nová zpráva",
        "From: Frontdesk <notify@example.com>\nDate: Sunday, 6 December 2026 at 10:00\n"
        "To: Jana\nSubject: New message",
        "*From:* Frontdesk <notify@example.com>\n*Sent:* Sunday, December 6, 2026 10:00 AM",
    ],
)
def test_outlook_headers_begin_the_quote(header: str) -> None:
    quoted = f"{NEW}\n\n{header}\n\nAnna left a message\nIt arrived on Shop."
    assert strip_quoted(quoted) == NEW
    assert strip_quoted(quoted.replace("\n", "\r\n")) == NEW


def test_a_reply_that_is_all_quote_is_empty() -> None:
    assert strip_quoted("From: Frontdesk\nSent: Sunday\nTo: x\n\nAnna left a message") == ""
    assert strip_quoted(QUOTE) == ""
    assert strip_quoted("\n\nOn 12/6/26 10:00 AM, Frontdesk wrote:\n" + QUOTE + "\n\n") == ""


@pytest.mark.parametrize(
    "text",
    [
        "On Monday I wrote to you yesterday.\nPlease check your inbox.",
        "Hi,\n\nOn Monday I wrote to you yesterday.\n\nAny news?",
        "On Monday at 10:00 we spoke; you wrote that it ships.\nThanks.",
        "Am Montag schrieb ich Ihnen um 10:00 Folgendes:\nDie Kanne ist zu klein.",
        "Pan Novák mi v 10:00 napsal:\nKonvice dorazila rozbitá.",
        "From: my desk at home\nSince: Monday",
        "The photo was sent from my iPhone.\nSent from my iPhone\nbut more text follows",
        "> 5 kg is too heavy, I think\nWhat do you say?",
    ],
)
def test_real_text_is_kept(text: str) -> None:
    expected = "\n".join(line for line in text.split("\n") if not line.startswith(">"))
    assert strip_quoted(text) == expected


def test_interleaved_quotes_keep_the_answers() -> None:
    text = (
        "On Sun, Dec 6, 2026 at 10:00 AM Frontdesk <notify@example.com> wrote:\n"
        "> Do you ship to Austria?\n\nYes, we do.\n\n> And the price?\n>\n\n€4.90.\n\n"
        "-- \nJana"
    )
    assert strip_quoted(text) == "Yes, we do.\n\n€4.90."
    assert strip_quoted("Hi Anna,\n> Do you ship?\nYes.\n> More?\nNo.") == "Hi Anna,\nYes.\nNo."


def test_the_attribution_of_a_trailing_quote_in_another_language_goes_with_it() -> None:
    text = f"{NEW}\n\nLe 6 déc. 2026 à 10:00, Frontdesk <notify@example.com> a écrit :\n\n{QUOTE}"
    assert strip_quoted(text) == NEW
    assert strip_quoted(f"{NEW}\nSee below:\n{QUOTE}") == f"{NEW}\nSee below:"


@pytest.mark.parametrize(
    "signature",
    [
        "-- \nJana Nováková\nShop",
        "--\nJürgen Weiß\nKundendienst",
        "-- \nEva Černá\n+420 601 234 567\n\nSent from my iPhone",
        "Sent from my iPhone",
        "Sent from my iPad",
        "Sent from my Android",
        "Sent from my Samsung Galaxy smartphone.",
        "Sent from Outlook",
        "Sent from Mail for Windows",
        "Get Outlook for iOS",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "Get Outlook for Android (https://aka.ms/AAb9ysg)",
        "Von meinem iPhone gesendet",
        "Gesendet von meinem iPhone",
        "Gesendet von Outlook für iOS",
        "Holen Sie sich Outlook für iOS<https://aka.ms/o0ukef>",
        "Odesláno z iPhonu",
        "Odesláno z mého iPhonu",
        "Odesláno z Outlooku pro iOS",
        "Získat Outlook pro iOS",
        "Získat Outlook pro Android<https://aka.ms/AAb9ysg>",
        "Sent from my iPhone\n\nGet Outlook for iOS",
    ],
)
def test_signatures_and_phone_footers_are_removed(signature: str) -> None:
    assert strip_quoted(f"{NEW}\n\n{signature}\n\n") == NEW
    assert (
        strip_quoted(f"{NEW}\n\n{signature}\n\nOn 12/6/26 10:00 AM, Frontdesk wrote:\n{QUOTE}")
        == NEW
    )


def test_a_line_that_only_starts_like_a_signature_is_kept() -> None:
    text = "Use the -- flag.\n--verbose helps\n---\nSent from my iPhone, the photo"
    assert strip_quoted(text) == text
