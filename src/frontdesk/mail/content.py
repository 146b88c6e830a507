"""The facts one notification e-mail is written from: gathered by the engine from the
store, written into an e-mail by ``frontdesk.mail.compose``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from frontdesk.core.model import Locale
from frontdesk.core.notifications import NotificationKind


@dataclass(frozen=True, slots=True)
class ListedMessage:
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NotificationEmail:
    kind: NotificationKind
    message_id: str  # the Message-ID header, the same on every attempt
    sender: str  # the From header (FRONTDESK_MAIL_FROM)
    recipient_email: str
    recipient_name: str
    locale: Locale
    account_name: str
    conversation_id: int
    conversation_url: str
    visitor_name: str | None
    visitor_email: str | None
    page_url: str | None
    messages: tuple[ListedMessage, ...]
    decided_at: datetime  # the Date header: when the engine decided to send
    visitor_left_at: datetime | None = None
    # How the recipient reads times: an IANA zone name (``Europe/Prague``).
    time_zone: str = "UTC"
    # The Message-ID every e-mail of this conversation refers to (In-Reply-To, References),
    # so that mail clients show them as one thread.
    thread_id: str = ""
    # List-Id: one "list" per account, so a rule can sort its notifications.
    list_id: str = ""
    # The one-click unsubscribe link (RFC 8058) that switches this kind off for the recipient.
    unsubscribe_url: str | None = None
    # The Reply-To (docs/reply-by-email.md): replying posts the answer; None: replies off.
    reply_to: str | None = None
