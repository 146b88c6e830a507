"""Reply by e-mail end to end (docs/reply-by-email.md): the engine's notification carries a
reply address, the agent's reply sent over real SMTP (aiosmtplib) to the inbound endpoint
inside ``serve`` lands in the conversation and reaches the visitor's socket; revoked and
unknown addresses are refused at RCPT; machines' e-mails are dropped with their reason; a
visitor who left gets the answer by e-mail and the reply comes back as a visitor message
that, with every agent offline, opens an offline notification; a mail provider's posts to
the inbound webhook do the same over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx2 as httpx
import pytest

from frontdesk.security import PasswordHasher
from frontdesk.store.database import Database
from tests.mailsink import Caught, MailSink
from tests.support import (
    Agent,
    LiveServer,
    engine_settings,
    free_port,
    live_sign_up,
    new_live_visitor,
    serving,
    settled,
)

SECRET = "inbound-secret-for-tests"
DOMAIN = "shop.example"


@dataclass
class Setup:
    server: LiveServer
    inbound_port: int


@pytest.fixture
def setup(
    database: Database,
    database_url: str,
    passwords: PasswordHasher,
    tmp_path: Path,
    sink: MailSink,
) -> Iterator[Setup]:
    port = free_port()
    settings = engine_settings(
        database_url,
        tmp_path,
        sink.url,
        inbound_port=port,
        bounce_address=f"bounces@{DOMAIN}",
        inbound_secret=SECRET,
        visitor_email_delay=0.3,
    )
    with serving(settings, database, passwords) as server:
        yield Setup(server, port)


@dataclass(frozen=True)
class Exchange:
    rcpt: int
    data: int | None  # None: not reached (refused at RCPT)
    text: str


def smtp_send(port: int, sender: str, recipient: str, raw: bytes) -> Exchange:
    """A remote mail server handing ``raw`` over: MAIL, RCPT, DATA, each reply kept."""

    async def exchange() -> Exchange:
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=port, timeout=10, local_hostname="mx.example.net"
        )
        await client.connect()
        try:
            await client.ehlo()
            await client.mail(sender)
            try:
                rcpt = await client.rcpt(recipient)
            except aiosmtplib.SMTPRecipientRefused as refused:
                return Exchange(refused.code, None, refused.message)
            try:
                data = await client.data(raw)
            except aiosmtplib.SMTPDataError as refused:
                return Exchange(rcpt.code, refused.code, refused.message)
            return Exchange(rcpt.code, data.code, data.message)
        finally:
            await client.quit()

    return asyncio.run(exchange())


def reply_to(caught: Caught) -> str:
    value = caught.message["Reply-To"]
    assert value, "the e-mail carries no Reply-To"
    return str(value)


def gmail_reply(sender: str, to: str, text: str, *, quoted: str, **headers: str) -> bytes:
    """A reply as Gmail writes one: the new words, the attribution line, the quote."""
    quote = "\n".join(f"> {line}" for line in quoted.splitlines())
    extra = "".join(f"{name}: {value}\n" for name, value in headers.items())
    return (
        (
            f"From: {sender}\nTo: {to}\nSubject: Re: New message\n"
            f"Message-ID: <{uuid.uuid4().hex}@mail.example.net>\n"
            f"Date: Sun, 06 Dec 2026 10:00:00 +0000\n{extra}"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 8bit\n\n"
            f"{text}\n\nOn Sun, Dec 6, 2026 at 10:00 AM Frontdesk <frontdesk@{DOMAIN}> wrote:\n"
            f"{quote}\n"
        )
        .replace("\n", "\r\n")
        .encode()
    )


def messages(agent: Agent, conversation_id: int) -> list[dict[str, Any]]:
    response = agent.call("GET", f"/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["messages"]
    return found


def inbound_log(agent: Agent) -> list[dict[str, Any]]:
    response = agent.call("GET", "/inbound")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def offline_message(setup: Setup, sink: MailSink, **visitor: Any) -> tuple[Agent, int, Caught]:
    """An account whose owner is offline, a visitor's message, and the owner's e-mail."""
    owner = live_sign_up(setup.server)
    guest = new_live_visitor(setup.server, owner.widget_key, name="Vera", **visitor)
    conversation_id = guest.say("Do you ship to Brno?")["conversation_id"]
    (caught,) = sink.wait_for(1, to=owner.email)
    return owner, conversation_id, caught


def test_an_agent_s_reply_lands_in_the_conversation_and_reaches_the_visitor(
    setup: Setup, sink: MailSink
) -> None:
    owner = live_sign_up(setup.server)
    guest = new_live_visitor(setup.server, owner.widget_key, name="Vera")
    with guest.socket() as widget:
        widget.wait_for("widget.status")
        conversation_id = guest.say("Do you ship to Brno?")["conversation_id"]
        (caught,) = sink.wait_for(1, to=owner.email)
        address = reply_to(caught)
        assert re.fullmatch(rf"reply\+[a-z2-7]{{26}}@{re.escape(DOMAIN)}", address), address
        assert "reply to this e-mail" in caught.text.lower()

        raw = gmail_reply(
            owner.email, address, "Yes, we ship to Brno - in two days.", quoted=caught.text
        )
        sent = smtp_send(setup.inbound_port, owner.email, address, raw)
        assert (sent.rcpt, sent.data) == (250, 250), sent

        frames = [widget.wait_for("message.created")["message"] for _ in range(2)]
    answer = next(m for m in frames if m["author"] == "agent")
    assert answer["text"] == "Yes, we ship to Brno - in two days."
    stored = messages(owner, conversation_id)
    assert [m["text"] for m in stored if m["author"] == "agent"] == [answer["text"]]
    conversation = owner.call("GET", f"/conversations/{conversation_id}").json()
    assert (conversation["status"], conversation["assignee_id"]) == ("served", owner.agent_id)
    (logged,) = inbound_log(owner)
    assert (logged["outcome"], logged["reason"], logged["via"]) == ("posted", "posted", "smtp")
    assert logged["message_id"] == answer["id"]

    # The same e-mail again (its 250 was lost on the way back): answered, posted once.
    again = smtp_send(setup.inbound_port, owner.email, address, raw)
    assert again.data == 250, again
    assert [m["text"] for m in messages(owner, conversation_id) if m["author"] == "agent"] == [
        answer["text"]
    ]


def test_unknown_and_revoked_reply_addresses_are_refused_at_rcpt(
    setup: Setup, sink: MailSink
) -> None:
    owner = live_sign_up(setup.server)
    colleague = owner.invite()
    guest = new_live_visitor(setup.server, owner.widget_key, name="Vera")
    conversation_id = guest.say("Hello?")["conversation_id"]
    (to_owner,) = sink.wait_for(1, to=owner.email)
    (to_colleague,) = sink.wait_for(1, to=colleague.email)
    text = "Hello Vera"

    unknown = f"reply+{'a' * 26}@{DOMAIN}"
    refused = smtp_send(
        setup.inbound_port, owner.email, unknown, gmail_reply(owner.email, unknown, text, quoted="")
    )
    assert (refused.rcpt, refused.data) == (550, None)
    assert "no such reply address" in refused.text.lower()

    assert colleague.call("GET", "/me").status_code == 200
    deactivated = owner.call("PATCH", f"/agents/{colleague.agent_id}", {"active": False})
    assert deactivated.status_code == 200, deactivated.text
    theirs = reply_to(to_colleague)
    refused = smtp_send(
        setup.inbound_port,
        colleague.email,
        theirs,
        gmail_reply(colleague.email, theirs, text, quoted=""),
    )
    assert (refused.rcpt, refused.data) == (550, None)
    assert "deactivated" in refused.text

    assert owner.call("POST", f"/conversations/{conversation_id}/close").status_code == 200
    mine = reply_to(to_owner)
    refused = smtp_send(
        setup.inbound_port, owner.email, mine, gmail_reply(owner.email, mine, text, quoted="")
    )
    assert (refused.rcpt, refused.data) == (550, None)
    assert "closed" in refused.text
    assert [m for m in messages(owner, conversation_id) if m["author"] == "agent"] == []


def test_an_auto_reply_is_dropped_with_its_reason_logged(
    setup: Setup, sink: MailSink, caplog: pytest.LogCaptureFixture
) -> None:
    owner, conversation_id, caught = offline_message(setup, sink)
    address = reply_to(caught)
    out_of_office = gmail_reply(
        owner.email,
        address,
        "I am out of the office until Monday.",
        quoted=caught.text,
        **{"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"},
    )
    with caplog.at_level(logging.INFO, logger="frontdesk.service.replies"):
        sent = smtp_send(setup.inbound_port, owner.email, address, out_of_office)
    assert sent.data == 250, sent  # taken, so the autoresponder has nothing to answer
    assert [m for m in messages(owner, conversation_id) if m["author"] == "agent"] == []
    (logged,) = inbound_log(owner)
    assert (logged["outcome"], logged["reason"]) == ("dropped", "automatic:auto_submitted")
    assert any(
        "dropped" in r.getMessage() and "automatic:auto_submitted" in r.getMessage()
        for r in caplog.records
    ), [r.getMessage() for r in caplog.records]

    # Another sender than the one the address was made for: refused, with its reason.
    stranger = "mallory@example.net"
    forged = smtp_send(
        setup.inbound_port,
        stranger,
        address,
        gmail_reply(stranger, address, "Refund me", quoted=""),
    )
    assert forged.data == 550, forged
    assert "did not come from" in forged.text
    assert inbound_log(owner)[0]["reason"] == "foreign_sender"
    assert [m for m in messages(owner, conversation_id) if m["author"] == "agent"] == []


def test_a_visitor_who_left_gets_the_answer_and_their_reply_opens_an_offline_notification(
    setup: Setup, sink: MailSink
) -> None:
    owner, conversation_id, first = offline_message(
        setup, sink, email="vera@example.org", locale="de"
    )
    # The visitor has left (no socket, never one); the owner answers from the dashboard.
    answered = owner.call(
        "POST", f"/conversations/{conversation_id}/messages", {"text": "Ja, nach Brünn auch."}
    )
    assert answered.status_code == 201, answered.text
    (to_visitor,) = sink.wait_for(1, to="vera@example.org")
    assert to_visitor.message["Subject"] == "Eine Antwort von Shop"
    assert "Ja, nach Brünn auch." in to_visitor.text
    address = reply_to(to_visitor)

    reply = gmail_reply(
        "Vera <vera@example.org>", address, "Danke! Wie lange dauert es?", quoted=to_visitor.text
    )
    sent = smtp_send(setup.inbound_port, "vera@example.org", address, reply)
    assert sent.data == 250, sent
    visitor_texts = [
        m["text"] for m in messages(owner, conversation_id) if m["author"] == "visitor"
    ]
    assert visitor_texts == ["Do you ship to Brno?", "Danke! Wie lange dauert es?"]

    # Every agent is offline: the reply opens an offline notification, decided at its due
    # time by the help article's rules (docs/spec.md rule 3: the owner's answer made the
    # conversation served, so it is suppressed ``conversation_served``).
    opened = settled(owner, conversation_id, count=2)[1:]
    assert [(d["kind"], d["state"], d["reason"]) for d in opened] == [
        ("offline_message", "suppressed", "conversation_served")
    ]
    assert opened[0]["message_ids"] == [messages(owner, conversation_id)[-1]["id"]]

    # Closed, the conversation takes no more answers; the visitor's next e-mail is a new
    # conversation in Unserved, and its offline e-mail goes out.
    assert owner.call("POST", f"/conversations/{conversation_id}/close").status_code == 200
    later = gmail_reply(
        "vera@example.org", address, "Noch eine Frage: Versand nach Wien?", quoted=""
    )
    assert smtp_send(setup.inbound_port, "vera@example.org", address, later).data == 250
    second = sink.wait_for(2, to=owner.email)[1]
    assert second.message["Message-ID"] != first.message["Message-ID"]
    assert "Noch eine Frage: Versand nach Wien?" in second.text
    unserved = owner.call("GET", "/conversations?folder=unserved").json()
    (new_conversation,) = unserved["conversations"]
    assert new_conversation["id"] != conversation_id
    assert new_conversation["last_message"]["text"] == "Noch eine Frage: Versand nach Wien?"


def test_a_provider_posts_replies_to_the_webhook(setup: Setup, sink: MailSink) -> None:
    owner, conversation_id, caught = offline_message(setup, sink)
    address = reply_to(caught)
    raw = gmail_reply(
        owner.email,
        address,
        "Posted by the provider.",
        quoted=caught.text,
        **{
            "Authentication-Results": (
                "mx.provider.example; spf=pass smtp.mailfrom=example.com; "
                "dkim=pass header.d=example.com; dmarc=pass header.from=example.com"
            )
        },
    )
    url = f"{setup.server.base_url}/api/v1/inbound/mime"
    with httpx.Client(timeout=10) as http:
        wrong = http.post(
            url,
            content=raw,
            headers={"Content-Type": "message/rfc822", "Authorization": "Bearer no"},
        )
        assert wrong.status_code == 401, wrong.text
        assert wrong.json()["error"]["code"] == "inbound_secret_required"
        assert messages(owner, conversation_id)[-1]["author"] == "visitor"

        posted = http.post(
            url,
            content=raw,
            headers={"Content-Type": "message/rfc822", "Authorization": f"Bearer {SECRET}"},
        )
        assert posted.status_code == 200, posted.text
        (result,) = posted.json()["results"]
        assert (result["outcome"], result["repeat"]) == ("posted", False)

        # Mailgun's form, with HTTP Basic: the same e-mail, so a repeat, posted once.
        basic = base64.b64encode(f"api:{SECRET}".encode()).decode()
        again = http.post(
            url,
            data={"recipient": address},
            files={"body-mime": ("message.mime", raw, "message/rfc822")},
            headers={"Authorization": f"Basic {basic}"},
        )
        assert again.status_code == 200, again.text
        assert again.json()["results"][0]["repeat"] is True

        nothing = http.post(
            url,
            content=b"",
            headers={"Content-Type": "message/rfc822", "Authorization": f"Bearer {SECRET}"},
        )
        assert nothing.status_code == 422
        assert nothing.json()["error"]["code"] == "no_email"
    texts = [m["text"] for m in messages(owner, conversation_id) if m["author"] == "agent"]
    assert texts == ["Posted by the provider."]
    (logged,) = inbound_log(owner)
    assert (logged["via"], logged["spf"], logged["dkim"], logged["dmarc"]) == (
        "webhook",
        "pass",
        "pass",
        "pass",
    )


def test_a_hostile_html_reply_becomes_plain_text(setup: Setup, sink: MailSink) -> None:
    owner, conversation_id, caught = offline_message(setup, sink)
    address = reply_to(caught)
    html = (
        "<html><head><style>p{color:red}</style><script>alert('head')</script></head><body>"
        '<p onclick="steal()">We <b>do</b> ship &lt;b&gt;everywhere&lt;/b&gt;.</p>'
        "<img src=x onerror=alert(1) alt=''><script>alert(document.cookie)</script>"
        '<a href="javascript:alert(2)">click</a><!-- <script>alert(3)</script> -->'
        '<div class="gmail_quote">On Sun wrote:<blockquote>Do you ship?</blockquote></div>'
        "</body></html>"
    )
    raw = (
        f"From: {owner.email}\r\nTo: {address}\r\nSubject: Re: x\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@mail.example.net>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n"
    ).encode()
    assert smtp_send(setup.inbound_port, owner.email, address, raw).data == 250
    (answer,) = [m for m in messages(owner, conversation_id) if m["author"] == "agent"]
    assert answer["text"].startswith("We do ship <b>everywhere</b>.")
    for hostile in ("alert", "onerror", "onclick", "<script", "javascript:", "Do you ship?"):
        assert hostile not in answer["text"]
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed.get_content_type() == "text/html"  # nothing but HTML was sent


def test_the_webhook_is_off_without_a_secret(
    database: Database, database_url: str, passwords: PasswordHasher, tmp_path: Path, sink: MailSink
) -> None:
    settings = engine_settings(database_url, tmp_path, sink.url)
    with serving(settings, database, passwords) as server, httpx.Client(timeout=10) as http:
        answer = http.post(
            f"{server.base_url}/api/v1/inbound/mime",
            content=b"From: a@b\r\n\r\nhi\r\n",
            headers={"Content-Type": "message/rfc822", "Authorization": "Bearer x"},
        )
        assert answer.status_code == 404, answer.text
        owner = live_sign_up(server)
        new_live_visitor(server, owner.widget_key).say("Hello")
        (caught,) = sink.wait_for(1, to=owner.email)
        # Nothing could take a reply: the e-mail offers none.
        assert caught.message["Reply-To"] is None
