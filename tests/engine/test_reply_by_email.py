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
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx2 as httpx
import pytest
from sqlalchemy import select

from frontdesk.core.notifications import DeliveryState
from frontdesk.engine.inbound import InboundReceiver
from frontdesk.mail.check.dkim_key import dkim_public_key, new_dkim_private_key
from frontdesk.mail.dkim import DkimSigner
from frontdesk.security import PasswordHasher
from frontdesk.store.database import Database
from frontdesk.store.models import OutboxEmail, OutboxKind
from tests.mail.dkim_dns import dns_answering
from tests.mailsink import Caught, MailSink
from tests.support import (
    Agent,
    LiveServer,
    engine_settings,
    eventually,
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
    mover = owner.invite()
    guest = new_live_visitor(setup.server, owner.widget_key, name="Vera")
    conversation_id = guest.say("Hello?")["conversation_id"]
    (to_owner,) = sink.wait_for(1, to=owner.email)
    (to_colleague,) = sink.wait_for(1, to=colleague.email)
    (to_mover,) = sink.wait_for(1, to=mover.email)
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

    moved = mover.call(
        "PATCH", "/me", {"email": "moved@example.net", "current_password": "agent-password"}
    )
    assert moved.status_code == 200, moved.text
    old_address = reply_to(to_mover)
    refused = smtp_send(
        setup.inbound_port,
        mover.email,
        old_address,
        gmail_reply(mover.email, old_address, text, quoted=""),
    )
    assert (refused.rcpt, refused.data) == (550, None)
    assert "changed e-mail address" in refused.text

    assert owner.call("POST", f"/conversations/{conversation_id}/close").status_code == 200
    mine = reply_to(to_owner)
    refused = smtp_send(
        setup.inbound_port, owner.email, mine, gmail_reply(owner.email, mine, text, quoted="")
    )
    assert (refused.rcpt, refused.data) == (550, None)
    assert "closed" in refused.text
    assert [m for m in messages(owner, conversation_id) if m["author"] == "agent"] == []
    # Each refusal of a revoked address is there for the admins, with its reason (an
    # unknown address belongs to no account: it is only logged).
    assert [(e["outcome"], e["reason"], e["sender"]) for e in inbound_log(owner)] == [
        ("refused", "conversation_closed", owner.email),
        ("refused", "email_changed", mover.email),
        ("refused", "agent_deactivated", colleague.email),
    ]


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

    # Every agent is offline: the reply opens an offline notification, and as no agent
    # joined or answered since it (docs/spec.md rule 3), it is e-mailed as any is.
    second = sink.wait_for(2, to=owner.email)[1]
    assert second.message["Message-ID"] != first.message["Message-ID"]
    assert "Danke! Wie lange dauert es?" in second.text
    decided = settled(owner, conversation_id, count=2)
    assert [(d["state"], d["reason"]) for d in decided] == [("sent", None), ("sent", None)]

    # Closed, the conversation takes no more answers; the visitor's next e-mail is a new
    # conversation in Unserved, and its offline e-mail goes out.
    assert owner.call("POST", f"/conversations/{conversation_id}/close").status_code == 200
    later = gmail_reply(
        "vera@example.org", address, "Noch eine Frage: Versand nach Wien?", quoted=""
    )
    assert smtp_send(setup.inbound_port, "vera@example.org", address, later).data == 250
    third = sink.wait_for(3, to=owner.email)[2]
    assert "Noch eine Frage: Versand nach Wien?" in third.text
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


def test_replies_over_their_limits_are_refused_and_big_posts_get_413(
    database: Database, database_url: str, passwords: PasswordHasher, tmp_path: Path, sink: MailSink
) -> None:
    settings = engine_settings(
        database_url,
        tmp_path,
        sink.url,
        inbound_secret=SECRET,
        bounce_address=f"bounces@{DOMAIN}",
        replies_per_address_per_hour=2,
        reply_max_bytes=4096,
    )
    with serving(settings, database, passwords) as server, httpx.Client(timeout=10) as http:
        owner = live_sign_up(server)
        conversation_id = new_live_visitor(server, owner.widget_key).say("Hello")["conversation_id"]
        (caught,) = sink.wait_for(1, to=owner.email)
        address = reply_to(caught)
        url = f"{server.base_url}/api/v1/inbound/mime"
        headers = {"Content-Type": "message/rfc822", "Authorization": f"Bearer {SECRET}"}
        outcomes = []
        for n in range(3):
            raw = gmail_reply(owner.email, address, f"Answer {n}", quoted="")
            answer = http.post(url, content=raw, headers=headers)
            assert answer.status_code == 200, answer.text
            (result,) = answer.json()["results"]
            outcomes.append((result["outcome"], result["reason"]))
        assert outcomes == [
            ("posted", "posted"),
            ("posted", "posted"),
            ("refused", "rate_limited_address"),
        ]
        big = gmail_reply(owner.email, address, "x" * 5000, quoted="")
        too_big = http.post(url, content=big, headers=headers)
        assert too_big.status_code == 413, too_big.text
        assert too_big.json()["error"]["code"] == "payload_too_large"
        texts = [m["text"] for m in messages(owner, conversation_id) if m["author"] == "agent"]
        assert texts == ["Answer 0", "Answer 1"]


def test_a_closed_conversation_s_transcript_goes_to_the_visitor(
    setup: Setup, sink: MailSink
) -> None:
    owner, conversation_id, _ = offline_message(setup, sink, email="vera@example.org")
    switched = owner.call("PATCH", "/settings/notifications", {"visitor_transcript": True})
    assert switched.status_code == 200, switched.text
    assert switched.json()["visitor_transcript"] is True
    answered = owner.call(
        "POST", f"/conversations/{conversation_id}/messages", {"text": "Yes, to Brno too."}
    )
    assert answered.status_code == 201, answered.text
    assert owner.call("POST", f"/conversations/{conversation_id}/close").status_code == 200

    (transcript,) = sink.wait_for(1, to="vera@example.org")
    assert transcript.message["Subject"] == "Your conversation with Shop"
    body = transcript.text.replace("\r\n", "\n")
    assert body.index("You:\nDo you ship to Brno?") < body.index("Olga:\nYes, to Brno too.")
    assert reply_to(transcript).startswith("reply+")
    assert 'Reply to this e-mail to write to "Shop" again.' in body

    # The answer's own e-mail, waiting when the conversation closed, is not sent: the
    # transcript has it.
    def states() -> dict[OutboxKind, DeliveryState]:
        with setup.server.runtime.database.read() as session:
            found = dict(
                session.execute(
                    select(OutboxEmail.kind, OutboxEmail.state).where(
                        OutboxEmail.conversation_id == conversation_id
                    )
                ).all()
            )
        assert found[OutboxKind.TRANSCRIPT] is DeliveryState.SENT, found
        return found

    assert eventually(states, what="the transcript recorded sent") == {
        OutboxKind.VISITOR_REPLY: DeliveryState.SUPPRESSED,
        OutboxKind.TRANSCRIPT: DeliveryState.SENT,
    }


@contextmanager
def own_endpoint(server: LiveServer, dkim_dns: Callable[..., bytes]) -> Iterator[InboundReceiver]:
    """A second inbound endpoint of the server's runtime, on a loop of its own, looking DKIM
    keys up on the test's DNS server (the one inside ``serve`` asks this machine's)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    receiver = InboundReceiver(server.runtime, port=0, dkim_dns=dkim_dns)
    asyncio.run_coroutine_threadsafe(receiver.start(), loop).result(timeout=10)
    try:
        yield receiver
    finally:
        asyncio.run_coroutine_threadsafe(receiver.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def test_the_endpoint_checks_a_reply_s_dkim_signature_itself(setup: Setup, sink: MailSink) -> None:
    owner, conversation_id, caught = offline_message(setup, sink)
    address = reply_to(caught)
    key = new_dkim_private_key()
    signer = DkimSigner(domain="example.com", selector="s1", private_key=key)
    record = dkim_public_key(key).record_value()
    forged_results = {"Authentication-Results": "mx.example.com; spf=pass; dkim=pass; dmarc=pass"}
    with (
        dns_answering({"s1._domainkey.example.com.": record}) as dnsfunc,
        own_endpoint(setup.server, dnsfunc) as endpoint,
    ):
        signed = signer.sign(
            gmail_reply(owner.email, address, "Signed by my domain.", quoted="", **forged_results)
        )
        assert smtp_send(endpoint.port, owner.email, address, signed).data == 250
        tampered = signer.sign(gmail_reply(owner.email, address, "Original words.", quoted=""))
        tampered = tampered.replace(b"Original words.", b"Changed words!!")
        assert smtp_send(endpoint.port, owner.email, address, tampered).data == 250
    later, first = inbound_log(owner)
    # The sender's own Authentication-Results count for nothing at the endpoint.
    assert (first["spf"], first["dkim"], first["dmarc"]) == (None, "pass", "pass")
    assert (later["spf"], later["dkim"], later["dmarc"]) == (None, "fail", None)
    texts = [m["text"] for m in messages(owner, conversation_id) if m["author"] == "agent"]
    assert texts == ["Signed by my domain.", "Changed words!!"]  # recorded, not enforced


def test_a_foreign_sender_may_be_posted_marked(
    database: Database, database_url: str, passwords: PasswordHasher, tmp_path: Path, sink: MailSink
) -> None:
    settings = engine_settings(
        database_url,
        tmp_path,
        sink.url,
        inbound_secret=SECRET,
        bounce_address=f"bounces@{DOMAIN}",
        reply_foreign_sender="mark",
    )
    with serving(settings, database, passwords) as server, httpx.Client(timeout=10) as http:
        owner = live_sign_up(server)
        conversation_id = new_live_visitor(server, owner.widget_key).say("Hi")["conversation_id"]
        (caught,) = sink.wait_for(1, to=owner.email)
        address = reply_to(caught)
        forwarded = gmail_reply("assistant@example.net", address, "Answered for Olga.", quoted="")
        answer = http.post(
            f"{server.base_url}/api/v1/inbound/mime",
            content=forwarded,
            headers={"Content-Type": "message/rfc822", "Authorization": f"Bearer {SECRET}"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["results"][0]["outcome"] == "posted"
        said = [(m["author"], m["text"]) for m in messages(owner, conversation_id)]
        assert said[-2:] == [
            ("agent", "Answered for Olga."),
            (
                "system",
                "The e-mail above came from assistant@example.net, not from the address "
                "its reply address was made for.",
            ),
        ]


def test_no_visitor_e_mail_when_the_visitor_came_back_and_saw_the_answer(
    database: Database, database_url: str, passwords: PasswordHasher, tmp_path: Path, sink: MailSink
) -> None:
    settings = engine_settings(
        database_url,
        tmp_path,
        sink.url,
        inbound_secret=SECRET,
        bounce_address=f"bounces@{DOMAIN}",
        visitor_email_delay=1.5,
    )
    with serving(settings, database, passwords) as server:
        owner = live_sign_up(server)
        guest = new_live_visitor(server, owner.widget_key, email="vera@example.org")
        conversation_id = guest.say("Hello?")["conversation_id"]
        sink.wait_for(1, to=owner.email)
        answered = owner.call("POST", f"/conversations/{conversation_id}/messages", {"text": "Hi!"})
        assert answered.status_code == 201, answered.text
        with guest.socket() as widget:  # back on the website before the e-mail was due
            widget.wait_for("widget.status")

            def settled_row() -> DeliveryState:
                with server.runtime.database.read() as session:
                    state = session.scalar(
                        select(OutboxEmail.state).where(
                            OutboxEmail.conversation_id == conversation_id,
                            OutboxEmail.kind == OutboxKind.VISITOR_REPLY,
                        )
                    )
                assert state is not None
                assert state is not DeliveryState.PENDING
                return state

            assert eventually(settled_row, what="the visitor's e-mail decided") is (
                DeliveryState.SUPPRESSED
            )
        assert sink.to("vera@example.org") == []
