"""Conversation continuity (docs/reply-by-email.md): an agent's answer reaches a visitor
who has left the website by e-mail, if the visitor gave an address.

An answer to a visitor who is not on the website queues one ``visitor_reply`` e-mail of
the outbox, due ``visitor_email_delay`` later, unless one is already waiting: answers
written in that time go out together. When it falls due, it lists the agents' answers
after the last e-mail's, and is not sent (``suppressed``) if the visitor came back to the
website since the first of them (the widget showed them). It carries a reply address of
the visitor's, so the visitor's reply comes back into the conversation
(``frontdesk.service.replies``). Only with reply by e-mail on: an e-mail the visitor
could not answer would send their answer nowhere.

When an account wants it (``visitor_transcript``), closing a conversation queues a
``transcript`` e-mail to its visitor instead: every message of both sides, sent whether or
not the visitor saw them, with the waiting answers' e-mail left out (the transcript has
them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.orm import Session

from frontdesk.core.model import Locale, MessageAuthor
from frontdesk.core.notifications import DeliveryState
from frontdesk.core.presence import PresenceChange
from frontdesk.mail.identifiers import message_id_domain, notice_message_id
from frontdesk.mail.notices import Answer
from frontdesk.service import reply_addresses
from frontdesk.service.reply_addresses import NewReplyAddress
from frontdesk.service.runtime import Runtime
from frontdesk.store.models import (
    Account,
    Agent,
    Conversation,
    Message,
    OutboxEmail,
    OutboxKind,
    PresenceChangeRow,
    ReplyParty,
    Visitor,
)


def answered(session: Session, rt: Runtime, conversation: Conversation, answer: Message) -> None:
    """An agent's ``answer`` (flushed), in its transaction: the visitor's e-mail queued if
    the visitor has left and gave an address, and none is waiting."""
    if not rt.settings.replies_enabled or answer.agent_id is None:
        return
    visitor = conversation.visitor
    now = rt.clock.now()
    if not visitor.email or on_the_website(visitor, now):
        return
    waiting = session.scalar(select(OutboxEmail.id).where(_waiting(conversation.id)).limit(1))
    if waiting is not None:
        return
    due = now + timedelta(seconds=rt.settings.visitor_email_delay)
    _queue(session, rt, conversation, OutboxKind.VISITOR_REPLY, answer.agent_id, now, due)


def closed(session: Session, rt: Runtime, conversation: Conversation, agent_id: int) -> None:
    """A conversation closed by ``agent_id``, in its transaction: its transcript queued
    for the visitor, if the account wants transcripts and the visitor gave an address."""
    visitor = conversation.visitor
    wanted = session.scalar(
        select(Account.visitor_transcript).where(Account.id == conversation.account_id)
    )
    if not wanted or not visitor.email:
        return
    now = rt.clock.now()
    session.execute(
        update(OutboxEmail)
        .where(_waiting(conversation.id))
        .values(state=DeliveryState.SUPPRESSED, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    _queue(session, rt, conversation, OutboxKind.TRANSCRIPT, agent_id, now, now)


def _waiting(conversation_id: int) -> ColumnElement[bool]:
    """The conversation's visitor e-mail of answers that waits for its time, untried."""
    return and_(
        OutboxEmail.conversation_id == conversation_id,
        OutboxEmail.kind == OutboxKind.VISITOR_REPLY,
        OutboxEmail.state == DeliveryState.PENDING,
        OutboxEmail.attempts == 0,
        OutboxEmail.lease_until.is_(None),
    )


def _queue(
    session: Session,
    rt: Runtime,
    conversation: Conversation,
    kind: OutboxKind,
    agent_id: int,
    now: datetime,
    due: datetime,
) -> None:
    assert conversation.visitor.email is not None
    session.add(
        OutboxEmail(
            kind=kind,
            account_id=conversation.account_id,
            agent_id=agent_id,
            email=conversation.visitor.email,
            message_id_header=notice_message_id(
                kind.value, message_id_domain(rt.settings.mail_from)
            ),
            state=DeliveryState.PENDING,
            created_at=now,
            attempts=0,
            next_attempt_at=due,
            conversation_id=conversation.id,
        )
    )
    session.flush()
    rt.deliveries_due(session, due)


def on_the_website(visitor: Visitor, now: datetime) -> bool:
    return visitor.present and (visitor.present_until is None or visitor.present_until > now)


@dataclass(frozen=True, slots=True)
class VisitorEmail:
    """What a claimed visitor's e-mail is written from."""

    recipient_name: str
    locale: Locale
    answers: tuple[Answer, ...]
    reply_to: str | None


def prepare(
    session: Session, rt: Runtime, row: OutboxEmail, agent: Agent, now: datetime
) -> VisitorEmail | None:
    """At the claim: the answers the e-mail lists (a transcript: every message), its reply
    address made; ``None`` when it is not to be sent (the visitor saw the answers, or
    there are none), and the row is then settled as ``suppressed``."""
    assert row.conversation_id is not None
    conversation = session.get_one(Conversation, row.conversation_id)
    visitor = conversation.visitor
    if row.kind is OutboxKind.TRANSCRIPT:
        return _transcript(session, rt, row, agent, conversation)
    listed_before = session.scalar(
        select(func.max(OutboxEmail.through_message_id)).where(
            OutboxEmail.conversation_id == conversation.id,
            OutboxEmail.kind == OutboxKind.VISITOR_REPLY,
            OutboxEmail.id != row.id,
        )
    )
    answers = session.execute(
        select(Message.id, Message.text, Message.created_at, Agent.name)
        .join(Agent, Agent.id == Message.agent_id)
        .where(
            Message.conversation_id == conversation.id,
            Message.author == MessageAuthor.AGENT,
            Message.id > (listed_before or 0),
        )
        .order_by(Message.id)
    ).all()
    seen = bool(answers) and (
        on_the_website(visitor, now) or _came_back_since(session, visitor.id, answers[0].created_at)
    )
    if not answers or seen or not visitor.email:
        _suppress(row)
        return None
    row.through_message_id = answers[-1].id
    row.email = visitor.email  # the visitor's address as it is now
    return VisitorEmail(
        recipient_name=visitor.name or "",
        locale=visitor.locale or agent.locale or Locale.EN,
        answers=tuple(
            Answer(agent_name=name, text=text, at=created_at)
            for _, text, created_at, name in answers
        ),
        reply_to=_reply_address(session, rt, conversation, visitor.email),
    )


def _transcript(
    session: Session, rt: Runtime, row: OutboxEmail, agent: Agent, conversation: Conversation
) -> VisitorEmail | None:
    visitor = conversation.visitor
    said = session.execute(
        select(Message.author, Message.text, Message.created_at, Agent.name)
        .outerjoin(Agent, Agent.id == Message.agent_id)
        .where(
            Message.conversation_id == conversation.id,
            Message.author.in_((MessageAuthor.VISITOR, MessageAuthor.AGENT)),
        )
        .order_by(Message.id)
    ).all()
    if not said or not visitor.email:
        _suppress(row)
        return None
    row.email = visitor.email
    return VisitorEmail(
        recipient_name=visitor.name or "",
        locale=visitor.locale or agent.locale or Locale.EN,
        answers=tuple(
            Answer(agent_name=name if author is MessageAuthor.AGENT else None, text=text, at=at)
            for author, text, at, name in said
        ),
        reply_to=(
            _reply_address(session, rt, conversation, visitor.email)
            if rt.settings.replies_enabled
            else None
        ),
    )


def _reply_address(session: Session, rt: Runtime, conversation: Conversation, email: str) -> str:
    (address,) = reply_addresses.issue(
        session,
        rt,
        [
            NewReplyAddress(
                account_id=conversation.account_id,
                conversation_id=conversation.id,
                party=ReplyParty.VISITOR,
                email=email,
                visitor_id=conversation.visitor_id,
            )
        ],
    )
    return address


def _suppress(row: OutboxEmail) -> None:
    """Settled without sending, for good (its lease given up with it)."""
    row.state = DeliveryState.SUPPRESSED
    row.next_attempt_at = None
    row.lease_until = None
    row.lease_token = None


def _came_back_since(session: Session, visitor_id: int, since: datetime) -> bool:
    return (
        session.scalar(
            select(PresenceChangeRow.id)
            .where(
                PresenceChangeRow.visitor_id == visitor_id,
                PresenceChangeRow.change == PresenceChange.VISITOR_ARRIVED,
                PresenceChangeRow.at >= since,
            )
            .limit(1)
        )
        is not None
    )
