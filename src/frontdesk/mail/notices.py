"""The e-mails that are not one notification: the link that confirms an address, the
invitation that is that link, and the digest of notifications an hourly cap held back
(``frontdesk.service.outbox``). Plain text, in the recipient's language, from
``templates/notice.txt``; few enough that the ``email`` package writes them.

Every name in them was typed by somebody: an inviter's, an account's, a visitor's. None
reaches the Subject but the account's own in a digest (to its own confirmed agent), each is
quoted and said to be what somebody typed, and each goes through ``header_safe`` or
``body_safe`` first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from frontdesk.core.alerts import AlertCause
from frontdesk.core.model import Locale
from frontdesk.mail.compose import alert_title, body_safe, header_safe, templates, typed_words
from frontdesk.mail.i18n import local_time, translations, zone_name

CONFIRM_ADDRESS = "confirm_address"
INVITATION = "invitation"
DIGEST = "digest"
WEBHOOK_DISABLED = "webhook_disabled"
VISITOR_REPLY = "visitor_reply"
TRANSCRIPT = "transcript"
ADDRESS_TEST = "address_test"
ADDRESS_CHANGED = "address_changed"
TEST_NOTIFICATION = "test_notification"
ALERT = "alert"


@dataclass(frozen=True, slots=True)
class DigestLine:
    offline: bool  # an offline message, else a missed conversation
    at: datetime
    conversation_id: int
    visitor_name: str | None
    conversation_url: str


@dataclass(frozen=True, slots=True)
class Answer:
    """A message in a visitor's e-mail: an agent's answer, or (``agent_name`` None) the
    visitor's own words, in a transcript."""

    agent_name: str | None
    text: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Notice:
    kind: str  # CONFIRM_ADDRESS, INVITATION, DIGEST or WEBHOOK_DISABLED
    message_id: str
    sender: str
    recipient_email: str
    recipient_name: str
    locale: Locale
    time_zone: str
    account_name: str
    installation_url: str
    decided_at: datetime
    link: str | None = None  # the confirmation link
    sender_name: str | None = None  # who invited
    valid_days: int = 7
    lines: tuple[DigestLine, ...] = ()
    dashboard_url: str = ""
    # A webhook endpoint switched off: its URL, and why.
    endpoint_url: str = ""
    reason: str = ""
    # A visitor's e-mail: the agents' answers, and the address replies go to.
    answers: tuple[Answer, ...] = ()
    reply_to: str | None = None
    # An old address's notice: the address the agent has now.
    new_email: str = ""
    # An alert's e-mail: its cause (``frontdesk.core.alerts.AlertCause``).
    alert_cause: str = ""


def subject(notice: Notice) -> str:
    t = translations(notice.locale)
    if notice.kind == CONFIRM_ADDRESS:
        return t.gettext("Confirm your e-mail address for Frontdesk")
    if notice.kind == INVITATION:
        return t.gettext("Your invitation to answer chats on Frontdesk")
    if notice.kind == ADDRESS_TEST:
        return t.gettext("Your Frontdesk notifications come to this address now")
    if notice.kind == ADDRESS_CHANGED:
        return t.gettext("The e-mail address of your Frontdesk login was changed")
    if notice.kind == TEST_NOTIFICATION:
        return t.gettext("A test notification from Frontdesk")
    if notice.kind == ALERT:
        return alert_title(
            notice.locale,
            AlertCause(notice.alert_cause),
            header_safe(notice.account_name, limit=40),
        )
    if notice.kind == TRANSCRIPT:
        return t.gettext("Your conversation with %(shop)s") % {
            "shop": header_safe(notice.account_name, limit=40)
        }
    if notice.kind == VISITOR_REPLY:
        return t.gettext("An answer from %(shop)s") % {
            "shop": header_safe(notice.account_name, limit=40)
        }
    if notice.kind == WEBHOOK_DISABLED:
        return t.gettext("A webhook of %(shop)s was switched off") % {
            "shop": header_safe(notice.account_name, limit=40)
        }
    count = len(notice.lines)
    text = t.ngettext(
        "%(num)d notification held back on %(shop)s",
        "%(num)d notifications held back on %(shop)s",
        count,
    )
    return text % {"num": count, "shop": header_safe(notice.account_name, limit=40)}


def _quoted(text: str | None, locale: Locale) -> str:
    return typed_words(header_safe(text or "", limit=80), locale)


def text(notice: Notice) -> str:
    t = translations(notice.locale)
    lines = []
    for line in notice.lines:
        what = t.gettext("Offline message") if line.offline else t.gettext("Missed conversation")
        who = (
            _quoted(line.visitor_name, notice.locale)
            if line.visitor_name and line.visitor_name.strip()
            else t.gettext("Visitor #%(id)s") % {"id": line.conversation_id}
        )
        lines.append(
            {
                "time": local_time(line.at, time_zone=notice.time_zone, locale=notice.locale),
                "what": what,
                "who": who,
                "url": line.conversation_url,
            }
        )
    rendered = (
        templates(notice.locale)
        .get_template("notice.txt")
        .render(
            kind=notice.kind,
            shop=_quoted(notice.account_name, notice.locale),
            site=notice.installation_url,
            inviter=_quoted(notice.sender_name, notice.locale),
            link=notice.link or "",
            valid_days=notice.valid_days,
            count=len(notice.lines),
            lines=lines,
            dashboard_url=notice.dashboard_url,
            zone=zone_name(notice.time_zone, locale=notice.locale),
            endpoint_url=notice.endpoint_url,
            reason=notice.reason,
            answers=[
                {
                    "time": local_time(a.at, time_zone=notice.time_zone, locale=notice.locale),
                    "who": body_safe(a.agent_name) if a.agent_name else t.gettext("You"),
                    "text": body_safe(a.text),
                }
                for a in notice.answers
            ],
            replies=notice.reply_to is not None,
            new_email=header_safe(notice.new_email, limit=320),
            cause=notice.alert_cause,
        )
    )
    return body_safe(rendered)


def write_notice(notice: Notice) -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = notice.sender
    message["To"] = Address(
        display_name=header_safe(notice.recipient_name), addr_spec=notice.recipient_email
    )
    message["Subject"] = subject(notice)
    message["Date"] = format_datetime(notice.decided_at)
    message["Message-ID"] = notice.message_id
    if notice.reply_to:
        message["Reply-To"] = notice.reply_to
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(text(notice), charset="utf-8", cte="quoted-printable")
    return message.as_bytes()
