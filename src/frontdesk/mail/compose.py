"""The one place that turns a notification into an e-mail.

Visitor text is untrusted. In the body it is plain text (nothing is interpreted); in a
header it first loses every control character (CR and LF included, so no header can be
injected through a visitor's name) and is shortened, and then the ``email`` package encodes
what is not ASCII (RFC 2047).
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

from frontdesk.core.notifications import NotificationKind
from frontdesk.mail.content import NotificationEmail

HEADER_TEXT_MAX = 60
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def header_safe(text: str, *, limit: int = HEADER_TEXT_MAX) -> str:
    """Untrusted text made fit for a header: one line, no control characters, short."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def visitor_label(email: NotificationEmail) -> str:
    return email.visitor_name or email.visitor_email or f"Visitor #{email.conversation_id}"


def subject(email: NotificationEmail) -> str:
    who = header_safe(visitor_label(email))
    shop = header_safe(email.account_name, limit=40)
    if email.kind is NotificationKind.OFFLINE_MESSAGE:
        count = len(email.messages)
        what = "a message" if count == 1 else f"{count} messages"
        return f"{who} left {what} on {shop} while you were offline"
    return f"Missed conversation: {who} left {shop} without an answer"


def body(email: NotificationEmail) -> str:
    who = visitor_label(email)
    if email.visitor_email and email.visitor_name:
        who = f"{email.visitor_name} <{email.visitor_email}>"
    lines: list[str] = []
    if email.kind is NotificationKind.OFFLINE_MESSAGE:
        lines.append(f"{who} wrote on {email.account_name} while no agent was online:")
    else:
        left = f" at {email.visitor_left_at:%Y-%m-%d %H:%M} UTC" if email.visitor_left_at else ""
        lines.append(f"{who} left {email.account_name}{left} before anybody answered. They wrote:")
    lines.append("")
    for message in email.messages:
        stamp = f"{message.created_at:%Y-%m-%d %H:%M} UTC"
        text_lines = message.text.splitlines() or [""]
        lines.append(f"[{stamp}] {text_lines[0]}")
        lines.extend(f"    {line}" for line in text_lines[1:])
    lines.append("")
    if email.page_url:
        lines.append(f"Page: {email.page_url}")
    lines.append(f"Open the conversation: {email.conversation_url}")
    lines.append("")
    lines.append(
        "Frontdesk sends this because it is switched on in Settings → Notifications; "
        "you can switch it off for yourself in your profile."
    )
    return "\n".join(lines) + "\n"


def compose(email: NotificationEmail) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = email.sender
    message["To"] = email.recipient_email
    message["Subject"] = subject(email)
    message["Date"] = format_datetime(email.decided_at)
    message["Message-ID"] = email.message_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(body(email), charset="utf-8", cte="quoted-printable")
    return message


def envelope_sender(mail_from: str) -> str:
    """The bare address of ``FRONTDESK_MAIL_FROM`` for SMTP's MAIL FROM."""
    return parseaddr(mail_from)[1] or mail_from


def message_id_domain(mail_from: str) -> str:
    address = envelope_sender(mail_from)
    return address.rpartition("@")[2] or "localhost"
