"""Bounces as a remote mail server sends them: a delivery-status notification as Postfix
writes one (RFC 3464), handed to the bounce endpoint over SMTP."""

from __future__ import annotations

import smtplib
import time

DIAGNOSTIC = "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table"


def report(
    to: str, final_recipient: str, *, action: str = "failed", status: str = "5.1.1"
) -> bytes:
    """A delivery-status notification as Postfix writes one (RFC 3464)."""
    bounce_text = DIAGNOSTIC.format(rcpt=final_recipient)
    text = f"""From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: {to}
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; {final_recipient}
Original-Recipient: rfc822;{final_recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {bounce_text}

--B--
"""
    return text.replace("\n", "\r\n").encode()


def send(port: int, to: str, raw: bytes) -> int:
    """Hand ``raw`` to the bounce endpoint as a remote mail server would; the reply code."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("mx.example.net")
        client.mail("<>")
        code, _ = client.rcpt(to)
        if code != 250:
            return code
        try:
            return client.data(raw)[0]
        except smtplib.SMTPDataError as refused:
            return refused.smtp_code


def send_until_taken(port: int, to: str, raw: bytes, *, timeout: float = 10) -> int:
    """``send``, again after each 451 as a mail server tries again later (the report is
    about an e-mail still being sent), until another reply or ``timeout``: that reply."""
    deadline = time.monotonic() + timeout
    while (code := send(port, to, raw)) == 451 and time.monotonic() < deadline:
        time.sleep(0.05)
    return code
