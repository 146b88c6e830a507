"""The test e-mail of ``frontdesk mail check --to``: one plain e-mail through Frontdesk's
relay, DKIM-signed as the notifications are, and the relay's reply as a finding."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from frontdesk.mail.check.findings import Check, Finding, Status
from frontdesk.mail.check.mail_setup import MailSetup, domain_of
from frontdesk.mail.dkim import DkimKeyError, DkimSigner
from frontdesk.mail.transport import SmtpTransport
from frontdesk.mail.verp import bare_address

TEST_EMAIL_SUBJECT = "Frontdesk mail check"


def compose_test_email(*, mail_from: str, recipient: str, now: datetime, host: str) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = mail_from
    message["To"] = recipient
    message["Subject"] = TEST_EMAIL_SUBJECT
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=domain_of(bare_address(mail_from)) or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        f"This e-mail was sent by `frontdesk mail check` on {host} to test that Frontdesk's "
        "notification e-mail reaches people.\n\n"
        "If it arrived in the inbox (not in spam), the mail relay works. To see what the "
        'receiver thought of it, look at its headers ("Show original"): '
        "Authentication-Results should say spf=pass, dkim=pass and dmarc=pass.\n",
        charset="utf-8",
    )
    return message


async def send_test_email(
    transport: SmtpTransport, *, setup: MailSetup, recipient: str, now: datetime, host: str
) -> Finding:
    """Send one plain e-mail through Frontdesk's relay, signed as the notifications are,
    and report the relay's reply."""
    raw = compose_test_email(
        mail_from=setup.mail_from, recipient=recipient, now=now, host=host
    ).as_bytes()
    signed = ""
    if setup.dkim_domain and setup.dkim_selector and setup.dkim_private_key_file:
        try:
            signer = DkimSigner.from_file(
                domain=setup.dkim_domain,
                selector=setup.dkim_selector,
                key_file=setup.dkim_private_key_file,
            )
        except DkimKeyError as exc:
            signed = f" It went out without a DKIM signature: {exc}."
        else:
            raw = signer.sign(raw)
            signed = f" It carries a DKIM signature (d={setup.dkim_domain})."
    relay = f"{transport.target.host}:{transport.target.port}"
    try:
        outcome = await transport.send(setup.envelope_address, recipient, raw)
    finally:
        await transport.close()
    if outcome.accepted:
        return Finding(
            Check.TEST_EMAIL,
            Status.OK,
            f"The relay {relay} accepted the test e-mail to {recipient}: "
            f"{outcome.code} {outcome.text}",
            f"Check that it arrived in the inbox, not in spam.{signed} Its "
            'Authentication-Results header ("Show original") should say spf=pass, dkim=pass '
            "and dmarc=pass.",
        )
    reply = f"{outcome.code} {outcome.text}" if outcome.code else f"no reply ({outcome.text})"
    return Finding(
        Check.TEST_EMAIL,
        Status.WRONG,
        f"The relay {relay} did not take the test e-mail to {recipient}: {reply}",
        "Frontdesk's notification e-mail would fare the same. Check FRONTDESK_SMTP_URL (host, "
        "port, user and password) and that the relay lets this machine send as "
        f"{setup.envelope_address}.",
    )


def unsent_test_email(*, relay_configured: bool) -> Finding:
    if not relay_configured:
        return Finding(
            Check.TEST_EMAIL,
            Status.MISSING,
            "No test e-mail: FRONTDESK_SMTP_URL is not set, so Frontdesk uses its built-in "
            "mail catcher and no e-mail leaves this machine.",
            "The catcher keeps every e-mail in a Maildir (data_dir/mail) for trying Frontdesk "
            "out. For real use, set FRONTDESK_SMTP_URL to your mail relay "
            "(smtp://user:password@smtp.example:587).",
        )
    return Finding(
        Check.TEST_EMAIL,
        Status.INFO,
        "No test e-mail sent: give --to you@example.com to send one through the relay.",
    )
