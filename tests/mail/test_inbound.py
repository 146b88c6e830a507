"""The bounce endpoint's reader and server: real delivery-status notifications in the
shapes Postfix, Exchange and RFC 3464's own examples send, and everything else that can
arrive at a return path (delays, auto-replies, garbage, too much of it), over real SMTP."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Callable
from typing import TypeVar

import pytest

from frontdesk.mail.inbound import (
    DATA_SIZE_LIMIT,
    InboundServer,
    RecipientStatus,
    clean_text,
    read_delivery_report,
)
from frontdesk.mail.verp import delivery_of_token, return_path, verp_token

T = TypeVar("T")
KEY = b"k" * 32
BOUNCES = "bounces@shop.example"
TOKEN = verp_token(KEY, 42)
RETURN_PATH = return_path(BOUNCES, TOKEN)


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


POSTFIX_FAILED = crlf(
    f"""Return-Path: <>
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {RETURN_PATH}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4XyZ.1764097200/mx.example.net"

This is a MIME-encapsulated message.

--4XyZ.1764097200/mx.example.net
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<olga@example.net>: host mail.example.net[192.0.2.7] said: 550 5.1.1
    <olga@example.net>: Recipient address rejected: User unknown in virtual
    mailbox table (in reply to RCPT TO command)

--4XyZ.1764097200/mx.example.net
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
X-Postfix-Queue-ID: 4XyZ
X-Postfix-Sender: rfc822; {RETURN_PATH}
Arrival-Date: Wed, 25 Nov 2026 19:00:00 +0000 (UTC)

Final-Recipient: rfc822; olga@example.net
Original-Recipient: rfc822;olga@example.net
Action: failed
Status: 5.1.1
Remote-MTA: dns; mail.example.net
Diagnostic-Code: smtp; 550 5.1.1 <olga@example.net>: Recipient address rejected:
    User unknown in virtual mailbox table

--4XyZ.1764097200/mx.example.net
Content-Description: Undelivered Message
Content-Type: message/rfc822

From: Frontdesk <frontdesk@shop.example>
To: olga@example.net
Subject: Vera left a message on Tea Shop while you were offline
Message-ID: <frontdesk.1.1.abcdef@shop.example>

Vera wrote: Do you ship to Brno?

--4XyZ.1764097200/mx.example.net--
"""
)

# Exchange writes it on one long line.
EXCHANGE_DIAGNOSTIC = (
    "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"
)
EXCHANGE_FAILED = crlf(
    f"""From: postmaster@contoso.onmicrosoft.com
To: {RETURN_PATH.upper()}
Subject: Undeliverable: Vera left a message on Tea Shop while you were offline
Content-Type: multipart/report; report-type="delivery-status";
\tboundary="_000_b6a4e5e1c5a0_"
MIME-Version: 1.0

--_000_b6a4e5e1c5a0_
Content-Type: multipart/alternative; boundary="_001_b6a4e5e1c5a0_"

--_001_b6a4e5e1c5a0_
Content-Type: text/plain; charset="us-ascii"

Your message to adam@contoso.com couldn't be delivered.
adam wasn't found at contoso.com.

--_001_b6a4e5e1c5a0_
Content-Type: text/html; charset="us-ascii"

<html><body><p>Your message to adam@contoso.com couldn't be delivered.</p></body></html>

--_001_b6a4e5e1c5a0_--

--_000_b6a4e5e1c5a0_
Content-Type: message/delivery-status

Reporting-MTA: dns;BN8PR12MB1234.namprd12.prod.outlook.com
Received-From-MTA: dns;mail-eopbgr1.outbound.protection.outlook.com
Arrival-Date: Wed, 25 Nov 2026 19:00:01 +0000

Original-Recipient: rfc822;adam@contoso.com
Final-Recipient: rfc822;adam@contoso.com
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;{EXCHANGE_DIAGNOSTIC}

--_000_b6a4e5e1c5a0_
Content-Type: text/rfc822-headers

From: Frontdesk <frontdesk@shop.example>
To: adam@contoso.com
Message-ID: <frontdesk.1.2.abcdef@shop.example>

--_000_b6a4e5e1c5a0_--
"""
)

DELAYED = crlf(
    f"""From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Delayed Mail (still being retried)
To: {RETURN_PATH}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="D"

--D
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net. Your message is still being retried.

--D
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; olga@example.net
Action: delayed
Status: 4.4.1
Diagnostic-Code: X-Postfix; connect to mail.example.net[192.0.2.7]:25: Connection
    timed out
Will-Retry-Until: Fri, 27 Nov 2026 19:00:00 +0000 (UTC)

--D--
"""
)

AUTO_REPLY = crlf(
    f"""From: Olga <olga@example.net>
To: {RETURN_PATH}
Subject: Out of office: Vera left a message on Tea Shop
Auto-Submitted: auto-replied
Content-Type: text/plain; charset=utf-8

I am away until Monday.
"""
)

READ_RECEIPT = crlf(
    f"""From: Olga <olga@example.net>
To: {RETURN_PATH}
Subject: Read: Vera left a message
Content-Type: multipart/report; report-type=disposition-notification; boundary="R"

--R
Content-Type: message/disposition-notification

Reporting-UA: olga.example.net; Mail
Final-Recipient: rfc822; olga@example.net
Disposition: manual-action/MDN-sent-manually; displayed

--R--
"""
)


def dsn(*recipient_blocks: str, part_type: str = "message/delivery-status") -> bytes:
    blocks = "\n\n".join(recipient_blocks)
    return crlf(
        f"""From: MAILER-DAEMON@mx.example.net
To: {RETURN_PATH}
Subject: failure notice
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

See the report.

--B
Content-Type: {part_type}

Reporting-MTA: dns; mx.example.net

{blocks}

--B--
"""
    )


# --- the reader -------------------------------------------------------------------------------


def test_a_postfix_bounce_is_a_failure_with_its_status_and_diagnostic() -> None:
    report = read_delivery_report(POSTFIX_FAILED)
    assert report is not None
    assert report.reporting_mta == "mx.example.net"
    assert report.failure == RecipientStatus(
        action="failed",
        status="5.1.1",
        bounce_text="550 5.1.1 <olga@example.net>: Recipient address rejected: "
        "User unknown in virtual mailbox table",
        final_recipient="olga@example.net",
    )


def test_an_exchange_bounce_is_read_from_its_report_part_not_its_prose() -> None:
    report = read_delivery_report(EXCHANGE_FAILED)
    assert report is not None
    failure = report.failure
    assert failure is not None
    assert failure.status == "5.1.10"
    assert failure.bounce_text == EXCHANGE_DIAGNOSTIC
    assert failure.final_recipient == "adam@contoso.com"


def test_a_delay_notice_is_a_report_without_a_failure() -> None:
    report = read_delivery_report(DELAYED)
    assert report is not None
    (recipient,) = report.recipients
    assert recipient.action == "delayed"
    assert recipient.status == "4.4.1"
    assert report.failure is None


@pytest.mark.parametrize(
    "raw",
    [
        AUTO_REPLY,
        READ_RECEIPT,
        b"",
        b"\x00\xff\xfe garbage \r\n\r\n\x1b[2J",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=X\r\n\r\n--X",
        crlf("Content-Type: multipart/report; report-type=delivery-status\n\nno parts at all\n"),
    ],
    ids=["auto-reply", "read-receipt", "empty", "garbage", "truncated", "no-parts"],
)
def test_what_is_not_a_delivery_report_is_none(raw: bytes) -> None:
    assert read_delivery_report(raw) is None


def test_failed_after_temporary_failures_is_a_failure_too() -> None:
    """RFC 3464 2.3.3: ``failed`` means the server gave up; a 4.x.x status then says the
    failures were temporary ones, for too long. The e-mail is lost all the same."""
    report = read_delivery_report(
        dsn(
            "Final-Recipient: rfc822; olga@example.net\nAction: failed\nStatus: 4.4.7\n"
            "Diagnostic-Code: X-Postfix; delivery temporarily suspended: connect to "
            "mail.example.net: Connection timed out"
        )
    )
    assert report is not None
    assert report.failure is not None
    assert report.failure.status == "4.4.7"
    assert report.failure.bounce_text is not None
    assert report.failure.bounce_text.startswith("delivery temporarily suspended")


def test_the_failed_recipient_is_found_among_others_and_fields_may_lack() -> None:
    report = read_delivery_report(
        dsn(
            "Final-Recipient: rfc822; a@example.net\nAction: delayed\nStatus: 4.0.0",
            "Final-Recipient: rfc822; b@example.net\nAction: Failed (gave up)\nStatus: 5.0.0 "
            "(permanent failure)",
            "Final-Recipient: rfc822; c@example.net\nAction: failed\nStatus: not a status",
        )
    )
    assert report is not None
    assert [r.action for r in report.recipients] == ["delayed", "failed", "failed"]
    assert report.failure == RecipientStatus(
        action="failed", status="5.0.0", bounce_text=None, final_recipient="b@example.net"
    )
    assert report.recipients[2].status is None


def test_remote_text_loses_control_characters_and_is_bounded() -> None:
    escape = "550 5.1.1 \x1b[31mUser\x1b[0m unknown \u202egnp.exe\x07 " + "x" * 2000
    report = read_delivery_report(
        dsn(
            f"Final-Recipient: rfc822; o@example.net\nAction: failed\nStatus: 5.1.1\n"
            f"Diagnostic-Code: smtp; {escape}"
        )
    )
    assert report is not None
    assert report.failure is not None
    bounce_text = report.failure.bounce_text
    assert bounce_text is not None
    assert bounce_text.startswith("550 5.1.1 [31mUser [0m unknown gnp.exe x")
    assert len(bounce_text) == 1000
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or c == "\u202e" for c in bounce_text)
    assert clean_text("a\r\nb\x00c\udcff", limit=10) == "a b c\ufffd"
    assert clean_text("lone \ud800 surrogate", limit=100) == "lone ? surrogate"


def test_a_utf8_global_delivery_status_is_read_too() -> None:
    """RFC 6533: the same report for internationalized mail, with UTF-8 in its fields."""
    raw = dsn(
        "Final-Recipient: utf-8; ольга@пример.example\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 Адресат не найден",
        part_type="message/global-delivery-status",
    )
    report = read_delivery_report(raw)
    assert report is not None
    assert report.failure == RecipientStatus(
        action="failed",
        status="5.1.1",
        bounce_text="550 5.1.1 Адресат не найден",
        final_recipient="ольга@пример.example",
    )


# --- the server -------------------------------------------------------------------------------


class Recorder:
    def __init__(self, *, fail: bool = False) -> None:
        self.bounces: list[tuple[str, RecipientStatus]] = []
        self.fail = fail

    async def __call__(self, token: str, failure: RecipientStatus) -> None:
        if self.fail:
            raise RuntimeError("the database is away")
        self.bounces.append((token, failure))


def with_server(recorder: Recorder, talk: Callable[[smtplib.SMTP], T]) -> T:
    """Start the endpoint, run ``talk`` with an SMTP client connected to it, stop it."""

    async def run() -> T:
        server = InboundServer(
            BOUNCES,
            token_is_ours=lambda token: delivery_of_token(KEY, token) is not None,
            on_bounce=recorder,
            port=0,
        )
        await server.start()
        try:
            return await asyncio.to_thread(connected, server.port)
        finally:
            await server.stop()

    def connected(port: int) -> T:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            return talk(client)

    return asyncio.run(run())


def send(raw: bytes, to: str = RETURN_PATH) -> Callable[[smtplib.SMTP], tuple[int, bytes]]:
    def talk(client: smtplib.SMTP) -> tuple[int, bytes]:
        client.ehlo("mx.example.net")
        assert client.mail("<>")[0] == 250  # DSNs come with a null sender
        code, text = client.rcpt(to)
        if code != 250:
            return code, text
        return client.data(raw)

    return talk


def test_a_bounce_over_smtp_reaches_the_callback_with_its_token() -> None:
    recorder = Recorder()
    code, _ = with_server(recorder, send(POSTFIX_FAILED))
    assert code == 250
    ((token, failure),) = recorder.bounces
    assert token == TOKEN
    assert failure.status == "5.1.1"


def test_a_return_path_in_upper_case_is_still_ours() -> None:
    recorder = Recorder()
    code, _ = with_server(recorder, send(EXCHANGE_FAILED, to=RETURN_PATH.upper()))
    assert code == 250
    assert [token for token, _ in recorder.bounces] == [TOKEN]


@pytest.mark.parametrize(
    "address",
    [
        "olga@example.net",  # relaying: not an open mail sink
        BOUNCES,
        "postmaster@shop.example",
        return_path(BOUNCES, verp_token(b"another installation" * 2, 42)),
        return_path(BOUNCES, TOKEN.replace("42-", "43-")),
        return_path("bounces@elsewhere.example", TOKEN),
    ],
    ids=["other-domain", "bare", "postmaster", "forged-key", "other-id", "wrong-domain"],
)
def test_mail_for_any_other_address_is_refused_at_rcpt(address: str) -> None:
    recorder = Recorder()
    code, _ = with_server(recorder, send(POSTFIX_FAILED, to=address))
    assert code == 550
    assert recorder.bounces == []


@pytest.mark.parametrize("raw", [DELAYED, AUTO_REPLY, READ_RECEIPT, b"\x00\xffjunk"])
def test_what_is_not_a_failure_is_accepted_and_dropped(raw: bytes) -> None:
    recorder = Recorder()
    code, _ = with_server(recorder, send(raw))
    assert code == 250  # a refusal would only bring it back to the sender
    assert recorder.bounces == []


def test_too_much_data_is_refused_with_552() -> None:
    recorder = Recorder()
    huge = POSTFIX_FAILED + b"x" * 998 + b"\r\n"
    huge += (b"y" * 998 + b"\r\n") * (DATA_SIZE_LIMIT // 1000)

    def talk(client: smtplib.SMTP) -> int:
        client.ehlo("mx.example.net")
        client.mail("<>")
        client.rcpt(RETURN_PATH)
        try:
            return client.data(huge)[0]
        except smtplib.SMTPDataError as refused:
            return refused.smtp_code

    assert with_server(recorder, talk) == 552
    assert recorder.bounces == []


def test_a_bounce_that_cannot_be_recorded_is_deferred_so_the_sender_tries_again() -> None:
    recorder = Recorder(fail=True)
    code, _ = with_server(recorder, send(POSTFIX_FAILED))
    assert code == 451
