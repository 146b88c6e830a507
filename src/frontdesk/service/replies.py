"""Reply by e-mail (docs/reply-by-email.md): the reply addresses e-mails carry, and what
comes back to them.

An agent's notification and a visitor's e-mail of answers carry ``Reply-To:
reply+<token>@<reply domain>``, a ``ReplyAddress`` bound to that agent or visitor and the
conversation. An e-mail received for one (over SMTP at the inbound endpoint, or posted by
a mail provider to the inbound webhook) is read (``frontdesk.mail.reading``) and decided
here, in one transaction with everything it causes: an agent's reply becomes the agent's
answer (joining the conversation, as a reply in the dashboard does), a visitor's a visitor
message (the notification rules included). The e-mail is recorded (``InboundEmail``) in
that transaction under its Message-ID, so the endpoint says 250 only after the commit and
an e-mail that comes again, because that 250 was lost, is answered as the first time and
posted once.

Machines' e-mails (auto-replies, bounces) are dropped; e-mails from another sender than
the address's, over a rate limit, or for a closed or taken conversation are refused. Each
is recorded with its reason for the account's admins (``GET /api/v1/inbound``).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from frontdesk.core.model import MessageAuthor
from frontdesk.errors import Conflict
from frontdesk.mail.inbound import clean_text, for_log
from frontdesk.mail.reading import ReceivedEmail
from frontdesk.mail.reply_address import token_hash
from frontdesk.service import conversations
from frontdesk.service.runtime import AgentCaller, Runtime, VisitorCaller
from frontdesk.service.visitor_messages import Replayed, record_visitor_message
from frontdesk.store.models import (
    Agent,
    Conversation,
    InboundEmail,
    InboundOutcome,
    Message,
    ReplyAddress,
    ReplyParty,
)

log = logging.getLogger("frontdesk.service.replies")

_HOUR = timedelta(hours=1)
# The most of a reply's text that is posted: a widget message's most.
REPLY_TEXT_MAX = 10_000


# --- what comes back ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Received:
    """What became of one e-mail at one reply address. ``repeat``: it had come before, and
    this is what became of it then."""

    outcome: InboundOutcome
    reason: str
    message_id: int | None = None
    repeat: bool = False

    @property
    def taken(self) -> bool:
        """The sender should not be told no (posted, or dropped as a machine's)."""
        return self.outcome is not InboundOutcome.REFUSED


# The reasons' sentences, for the SMTP answer (the sender's mail server puts it in the
# bounce it sends back) and the admins' list.
REASONS = {
    "posted": "Posted in the conversation.",
    "unknown": "There is no such reply address.",
    "agent_deactivated": "The agent this address was made for has been deactivated.",
    "email_changed": "The agent this address was made for has changed e-mail address.",
    "conversation_closed": "The conversation is closed.",
    "already_served": "Another agent has joined this conversation; answer in the dashboard.",
    "foreign_sender": "The e-mail did not come from the address this reply address was made for.",
    "rate_limited_address": "Too many e-mails to this reply address in the last hour.",
    "rate_limited_sender": "Too many e-mails from this sender in the last hour.",
    "automatic": "An automatic e-mail (an auto-reply or a bounce): not posted.",
    "no_new_text": "No new text in the e-mail once the quoted part was removed.",
}


def reason_text(reason: str) -> str:
    base = reason.split(":")[0]
    return REASONS.get(base, "Refused.")


def refusal_at_rcpt(rt: Runtime, token: str, envelope_sender: str) -> str | None:
    """Why mail for this token is refused at RCPT (``unknown``, or the reason it was
    revoked), or ``None`` when it is taken. A revoked address's refusal is recorded for the
    account's admins (an unknown one belongs to no account: it is only logged)."""
    with rt.database.read() as session:
        address = session.execute(
            select(
                ReplyAddress.id,
                ReplyAddress.account_id,
                ReplyAddress.conversation_id,
                ReplyAddress.revoked_at,
                ReplyAddress.revoked_reason,
            ).where(ReplyAddress.token_hash == token_hash(token))
        ).first()
    if address is not None and address.revoked_at is None:
        return None
    sender = clean_text(envelope_sender, limit=320).lower()
    if address is None:
        log.warning("refused mail for an unknown reply address from %s", for_log(sender))
        return "unknown"
    reason = address.revoked_reason or "revoked"
    with rt.database.write() as session:
        session.add(
            InboundEmail(
                account_id=address.account_id,
                reply_address_id=address.id,
                conversation_id=address.conversation_id,
                # Refused before its Message-ID was sent: a record of its own.
                dedupe_key=hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
                received_at=rt.clock.now(),
                via="smtp",
                sender=sender,
                sender_key=sender,
                subject="",
                outcome=InboundOutcome.REFUSED,
                reason=reason,
                detail=reason_text(reason),
            )
        )
    log.warning(
        "refused mail for a reply address of conversation %s from %s: %s",
        address.conversation_id,
        for_log(sender),
        reason,
    )
    return reason


def receive(rt: Runtime, token: str, email: ReceivedEmail, *, via: str) -> Received:
    """Decide and record one received e-mail for ``token``; posted, it is in the
    conversation when this returns (committed). Two arrivals of one e-mail at once: the
    second's insert fails on the unique key after the first commits, and it is answered
    as a repeat."""
    for attempt in range(2):
        try:
            with rt.database.write() as session:
                return _receive(session, rt, token, email, via=via)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def _receive(
    session: Session, rt: Runtime, token: str, email: ReceivedEmail, *, via: str
) -> Received:
    hashed = token_hash(token)
    address = session.scalar(select(ReplyAddress).where(ReplyAddress.token_hash == hashed))
    if address is None:
        return Received(InboundOutcome.REFUSED, "unknown")
    dedupe_key = hashlib.sha256(f"{hashed}\n{email.message_id}".encode()).hexdigest()
    before = session.scalar(select(InboundEmail).where(InboundEmail.dedupe_key == dedupe_key))
    if before is not None:
        return Received(before.outcome, before.reason, before.message_id, repeat=True)
    now = rt.clock.now()
    outcome, reason, message_id = _decide(session, rt, address, email, now)
    auth = email.authentication
    session.add(
        InboundEmail(
            account_id=address.account_id,
            reply_address_id=address.id,
            conversation_id=address.conversation_id,
            dedupe_key=dedupe_key,
            received_at=now,
            via=via,
            sender=email.sender_shown or email.sender,
            sender_key=email.sender,
            subject=email.subject,
            outcome=outcome,
            reason=reason,
            detail=reason_text(reason),
            message_id=message_id,
            spf=auth.spf,
            dkim=auth.dkim,
            dmarc=auth.dmarc,
        )
    )
    level = logging.INFO if outcome is InboundOutcome.POSTED else logging.WARNING
    log.log(
        level,
        "reply e-mail %s for conversation %s from %s: %s (%s)",
        outcome.value,
        address.conversation_id,
        for_log(email.sender),
        reason,
        via,
    )
    return Received(outcome, reason, message_id)


def _decide(
    session: Session, rt: Runtime, address: ReplyAddress, email: ReceivedEmail, now: datetime
) -> tuple[InboundOutcome, str, int | None]:
    settings = rt.settings
    if address.revoked_at is not None:
        return InboundOutcome.REFUSED, address.revoked_reason or "revoked", None
    if email.automatic is not None:
        return InboundOutcome.DROPPED, f"automatic:{email.automatic}", None
    foreign = email.sender != address.email_key
    if foreign and settings.reply_foreign_sender == "refuse":
        return InboundOutcome.REFUSED, "foreign_sender", None
    since = now - _HOUR
    to_address = session.scalar(
        select(func.count())
        .select_from(InboundEmail)
        .where(InboundEmail.reply_address_id == address.id, InboundEmail.received_at > since)
    )
    if (to_address or 0) >= settings.replies_per_address_per_hour:
        return InboundOutcome.REFUSED, "rate_limited_address", None
    from_sender = session.scalar(
        select(func.count())
        .select_from(InboundEmail)
        .where(InboundEmail.sender_key == email.sender, InboundEmail.received_at > since)
    )
    if (from_sender or 0) >= settings.replies_per_sender_per_hour:
        return InboundOutcome.REFUSED, "rate_limited_sender", None
    if not email.text:
        return InboundOutcome.DROPPED, "no_new_text", None
    if address.party is ReplyParty.AGENT:
        return _post_agent_reply(session, rt, address, email, foreign=foreign)
    return _post_visitor_reply(session, rt, address, email, foreign=foreign)


def _post_agent_reply(
    session: Session, rt: Runtime, address: ReplyAddress, email: ReceivedEmail, *, foreign: bool
) -> tuple[InboundOutcome, str, int | None]:
    assert address.agent_id is not None
    agent = session.get_one(Agent, address.agent_id)
    if not agent.active:
        return InboundOutcome.REFUSED, "agent_deactivated", None
    caller = AgentCaller(
        agent_id=agent.id, account_id=address.account_id, role=agent.role, token_id=0
    )
    try:
        replied = conversations.reply_in(session, rt, caller, address.conversation_id, email.text)
    except Conflict as refused:
        return InboundOutcome.REFUSED, refused.code or "conflict", None
    if foreign:
        _note_foreign_sender(session, replied.conversation, email)
    return InboundOutcome.POSTED, "posted", replied.message.id


def _post_visitor_reply(
    session: Session, rt: Runtime, address: ReplyAddress, email: ReceivedEmail, *, foreign: bool
) -> tuple[InboundOutcome, str, int | None]:
    assert address.visitor_id is not None
    conversation = session.get_one(Conversation, address.conversation_id)
    posted = record_visitor_message(
        session,
        rt,
        VisitorCaller(visitor_id=address.visitor_id, account_id=address.account_id),
        text=email.text,
        group_id=conversation.group_id,
        on_the_website=False,
    )
    assert not isinstance(posted, Replayed)  # no Idempotency-Key was given
    if foreign:
        _note_foreign_sender(session, session.get_one(Conversation, posted.conversation_id), email)
    return InboundOutcome.POSTED, "posted", posted.message_id


def _note_foreign_sender(
    session: Session, conversation: Conversation, email: ReceivedEmail
) -> None:
    """``reply_foreign_sender = "mark"``: the conversation says who really sent it."""
    session.add(
        Message(
            conversation_id=conversation.id,
            author=MessageAuthor.SYSTEM,
            text=(
                f"The e-mail above came from {email.sender or 'an unknown sender'}, not from "
                "the address its reply address was made for."
            ),
            created_at=conversation.last_message_at,
        )
    )


# --- for admins -----------------------------------------------------------------------------


def recent(rt: Runtime, account_id: int, *, limit: int) -> list[InboundEmail]:
    """The account's newest received e-mails, newest first."""
    with rt.database.read() as session:
        return list(
            session.scalars(
                select(InboundEmail)
                .where(InboundEmail.account_id == account_id)
                .order_by(InboundEmail.id.desc())
                .limit(limit)
            )
        )
