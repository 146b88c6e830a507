"""Delivering decided notifications (docs/notifications.md): the worker claims due
deliveries under a lease, with everything their e-mails are written from, and records what
the mail server said; a notification nobody got turns ``failed``."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Update, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from frontdesk.core.model import Locale
from frontdesk.core.notifications import (
    FINAL_DELIVERY_STATES,
    RECEIVED_DELIVERY_STATES,
    DeliveryState,
    NotificationKind,
    NotificationState,
)
from frontdesk.mail.content import ListedMessage, NotificationEmail
from frontdesk.mail.identifiers import (
    conversation_link,
    list_id,
    message_id_domain,
    thread_id,
    unsubscribe_link,
)
from frontdesk.mail.transport import SendOutcome
from frontdesk.mail.verp import return_path, return_path_base, verp_token
from frontdesk.service import alerts, reply_addresses
from frontdesk.service.attempts import SMTP_TEXT_MAX, record_attempt
from frontdesk.service.events import DeliveryAttempted
from frontdesk.service.outbox import next_notice_at
from frontdesk.service.reply_addresses import NewReplyAddress
from frontdesk.service.runtime import Runtime
from frontdesk.service.secrets import VERP_KEY, installation_secret, unsubscribe_token
from frontdesk.store.among import among
from frontdesk.store.models import (
    Account,
    Agent,
    Conversation,
    Delivery,
    Message,
    Notification,
    NotificationMessage,
    ReplyParty,
    Visitor,
    table_of,
)
from frontdesk.store.plain import PlainStatement, unnested

_deliveries = table_of(Delivery)


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    delivery_id: int
    lease_token: str
    lease_until: datetime
    claimed_at: datetime
    envelope_from: str
    email: NotificationEmail


def claim_deliveries(rt: Runtime, *, limit: int) -> list[ClaimedDelivery]:
    """Take up to ``limit`` deliveries that are due and that no live lease holds, for
    ``delivery_lease`` seconds, with everything their e-mails are written from."""
    now = rt.clock.now()
    lease_until = now + timedelta(seconds=rt.settings.delivery_lease)
    token = secrets.token_hex(16)
    # Made (on first use) before the write transaction: SQLite writers of one process take
    # turns, so it could not be made inside it.
    installation_secret(rt)
    verp_key = installation_secret(rt, VERP_KEY)
    bounces_to = return_path_base(rt.settings.bounce_address, rt.settings.mail_from)
    claimed: list[ClaimedDelivery] = []
    with rt.database.write() as session:
        ids = list(
            session.scalars(
                select(Delivery.id)
                .where(
                    Delivery.state.in_([DeliveryState.PENDING, DeliveryState.DEFERRED]),
                    Delivery.next_attempt_at <= now,
                    or_(Delivery.lease_until.is_(None), Delivery.lease_until <= now),
                )
                .order_by(Delivery.next_attempt_at, Delivery.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if not ids:
            return []
        # One statement, not the unit of work's tracking of each row.
        session.execute(
            update(Delivery)
            .where(among(Delivery.id, ids))
            .values(lease_until=lease_until, lease_token=token)
            .execution_options(synchronize_session=False)
        )
        sources = _what_e_mails_are_written_from(session, ids)
        domain = message_id_domain(rt.settings.mail_from)
        base_url = rt.settings.public_url
        reply_to = _reply_addresses(session, rt, sources)
        for source in sources:
            delivery_id = source.delivery_id
            claimed.append(
                ClaimedDelivery(
                    delivery_id=delivery_id,
                    lease_token=token,
                    lease_until=lease_until,
                    claimed_at=now,
                    # VERP: a bounce that comes back names this delivery (service.bounces).
                    envelope_from=return_path(bounces_to, verp_token(verp_key, delivery_id)),
                    email=_email_of(rt, source, domain, base_url, reply_to.get(source.delivery_id)),
                )
            )
    return claimed


# What a delivery's e-mail is written from, one row per delivery: columns, not ORM
# objects. Loading the rows of a batch as objects (a notification, a conversation, its
# visitor, an account and an agent for each e-mail) was most of claiming's time.
_SOURCE = (
    select(
        Delivery.id.label("delivery_id"),
        Delivery.email,
        Delivery.message_id_header,
        Notification.id.label("notification_id"),
        Notification.kind,
        Notification.decided_at,
        Notification.visitor_left_at,
        Conversation.id.label("conversation_id"),
        Account.id.label("account_id"),
        Account.name.label("account_name"),
        Visitor.name.label("visitor_name"),
        Visitor.email.label("visitor_email"),
        Visitor.page_url,
        Agent.id.label("agent_id"),
        Agent.name.label("agent_name"),
        Agent.locale.label("agent_locale"),
        Agent.time_zone.label("agent_time_zone"),
    )
    .join(Notification, Notification.id == Delivery.notification_id)
    .join(Conversation, Conversation.id == Notification.conversation_id)
    .join(Visitor, Visitor.id == Conversation.visitor_id)
    .join(Account, Account.id == Notification.account_id)
    .outerjoin(Agent, Agent.id == Delivery.agent_id)
    .order_by(Delivery.next_attempt_at, Delivery.id)
)


@dataclass(frozen=True, slots=True)
class _Source:
    delivery_id: int
    email: str
    message_id_header: str
    notification_id: int
    kind: NotificationKind
    decided_at: datetime | None  # set on every notification a delivery is made for
    visitor_left_at: datetime | None
    conversation_id: int
    account_id: int
    account_name: str
    visitor_name: str | None
    visitor_email: str | None
    page_url: str | None
    agent_id: int | None
    agent_name: str | None
    agent_locale: Locale | None
    agent_time_zone: str | None
    messages: tuple[ListedMessage, ...]


def _what_e_mails_are_written_from(session: Session, ids: Sequence[int]) -> list[_Source]:
    """What the deliveries' e-mails are written from, in the order they were claimed: two
    queries for the whole batch."""
    rows = session.execute(_SOURCE.where(among(Delivery.id, ids))).all()
    listed: dict[int, list[ListedMessage]] = {row.notification_id: [] for row in rows}
    for notification_id, text, created_at in session.execute(
        select(NotificationMessage.notification_id, Message.text, Message.created_at)
        .join(Message, NotificationMessage.message_id == Message.id)
        .where(
            among(NotificationMessage.notification_id, listed),
            NotificationMessage.listed.is_(True),
        )
        .order_by(Message.id)
    ):
        listed[notification_id].append(ListedMessage(text=text, created_at=created_at))
    shared: dict[int, tuple[ListedMessage, ...]] = {n: tuple(m) for n, m in listed.items()}
    return [_Source(**row._mapping, messages=shared[row.notification_id]) for row in rows]


def _reply_addresses(session: Session, rt: Runtime, sources: Sequence[_Source]) -> dict[int, str]:
    """Each agent's e-mail's reply address (docs/reply-by-email.md), by delivery, made in
    the claim's transaction: a retry of the e-mail gets a new one, the old stays good."""
    if not rt.settings.replies_enabled:
        return {}
    wanted = [s for s in sources if s.agent_id is not None]
    made = reply_addresses.issue(
        session,
        rt,
        [
            NewReplyAddress(
                account_id=s.account_id,
                conversation_id=s.conversation_id,
                party=ReplyParty.AGENT,
                email=s.email,
                agent_id=s.agent_id,
            )
            for s in wanted
        ],
    )
    return {s.delivery_id: address for s, address in zip(wanted, made, strict=True)}


def _email_of(
    rt: Runtime, source: _Source, domain: str, base_url: str, reply_to: str | None
) -> NotificationEmail:
    assert source.decided_at is not None
    unsubscribe_url = None
    if source.agent_id is not None:
        token = unsubscribe_token(rt, source.agent_id, source.kind)
        unsubscribe_url = unsubscribe_link(base_url, token)
    conversation_id = source.conversation_id
    return NotificationEmail(
        kind=source.kind,
        message_id=source.message_id_header,
        sender=rt.settings.mail_from,
        recipient_email=source.email,
        recipient_name=source.agent_name if source.agent_name is not None else source.email,
        locale=source.agent_locale if source.agent_locale is not None else Locale.EN,
        account_name=source.account_name,
        conversation_id=conversation_id,
        conversation_url=conversation_link(base_url, conversation_id),
        visitor_name=source.visitor_name,
        visitor_email=source.visitor_email,
        page_url=source.page_url,
        messages=source.messages,
        decided_at=source.decided_at,
        visitor_left_at=source.visitor_left_at,
        time_zone=source.agent_time_zone if source.agent_time_zone is not None else "UTC",
        thread_id=thread_id(conversation_id, domain),
        list_id=list_id(source.account_id, domain),
        unsubscribe_url=unsubscribe_url,
        reply_to=reply_to,
    )


def record_outcomes(
    session: Session, rt: Runtime, outcomes: Sequence[tuple[ClaimedDelivery, SendOutcome]]
) -> list[bool]:
    """Record what the mail server said about each claimed delivery, in the caller's
    transaction (the worker records together the outcomes that arrive while a record
    transaction runs, ``Database.run_write``): ``True`` for each this worker still held the
    lease of, ``False`` where another worker took the delivery over (its record is the one
    that counts)."""
    now = rt.clock.now()
    connection = session.connection()
    sent = [(claimed, outcome) for claimed, outcome in outcomes if outcome.accepted]
    if len(sent) < 2 or connection.dialect.name != "postgresql":
        return [_record(session, rt, claimed, outcome, now) for claimed, outcome in outcomes]
    # PostgreSQL: the sent ones in one statement (each its own a round trip otherwise, the
    # most frequent statement of a busy engine), then the others one by one.
    recorded = {
        row[0]
        for row in _RECORD_SENT_MANY.rows(
            connection,
            now=now,
            delivery=[claimed.delivery_id for claimed, _ in sent],
            token=[claimed.lease_token for claimed, _ in sent],
            claimed_at=[claimed.claimed_at for claimed, _ in sent],
            code=[outcome.code for _, outcome in sent],
            text=[outcome.text[:SMTP_TEXT_MAX] for _, outcome in sent],
        )
    }
    results = []
    for claimed, outcome in outcomes:
        if not outcome.accepted:
            results.append(_record(session, rt, claimed, outcome, now))
        elif claimed.delivery_id in recorded:
            rt.record(session, DeliveryAttempted("sent"))
            results.append(True)
        else:
            results.append(False)
    return results


def _record(
    session: Session, rt: Runtime, claimed: ClaimedDelivery, outcome: SendOutcome, now: datetime
) -> bool:
    if outcome.accepted:
        # Most outcomes: one plain statement. A sent delivery needs no look at its
        # notification's other deliveries (it cannot have failed now).
        recorded = _RECORD_SENT.first(
            session.connection(),
            delivery=claimed.delivery_id,
            token=claimed.lease_token,
            now=now,
            claimed_at=claimed.claimed_at,
            code=outcome.code,
            text=outcome.text[:SMTP_TEXT_MAX],
        )
        if recorded is not None:
            rt.record(session, DeliveryAttempted("sent"))
        return recorded is not None
    delivery = session.scalar(
        select(Delivery)
        .where(Delivery.id == claimed.delivery_id, Delivery.lease_token == claimed.lease_token)
        .with_for_update()
    )
    if delivery is None:
        return False
    delivery.last_attempt_at = now
    after = record_attempt(
        session, rt, delivery, claimed_at=claimed.claimed_at, outcome=outcome, now=now
    )
    session.flush()
    fail_if_nobody_got_it(session, rt, delivery.notification_id, now)
    rt.record(session, DeliveryAttempted(after.result))
    return True


def _record_sent(
    delivery: ColumnElement[Any],
    token: ColumnElement[Any],
    claimed_at: ColumnElement[Any],
    code: ColumnElement[Any],
    text: ColumnElement[Any],
) -> Update:
    """A sent delivery's record, from these values: one delivery's parameters, or the
    columns of ``_SENT``'s rows for many."""
    return (
        update(_deliveries)
        .where(_deliveries.c.id == delivery, _deliveries.c.lease_token == token)
        .values(
            state=DeliveryState.SENT,
            sent_at=bindparam("now"),
            next_attempt_at=None,
            lease_until=None,
            lease_token=None,
            attempts=_deliveries.c.attempts + 1,
            first_attempt_at=func.coalesce(_deliveries.c.first_attempt_at, claimed_at),
            last_attempt_at=bindparam("now"),
            smtp_code=code,
            smtp_text=text,
        )
        .returning(_deliveries.c.id)
    )


_RECORD_SENT = PlainStatement(
    _record_sent(*(bindparam(name) for name in ("delivery", "token", "claimed_at", "code", "text")))
)
_SENT = unnested(
    delivery=_deliveries.c.id.type,
    token=_deliveries.c.lease_token.type,
    claimed_at=_deliveries.c.first_attempt_at.type,
    code=_deliveries.c.smtp_code.type,
    text=_deliveries.c.smtp_text.type,
)
# _RECORD_SENT for many deliveries, one row of _SENT each (a delivery in one row only).
_RECORD_SENT_MANY = PlainStatement(
    _record_sent(_SENT.c.delivery, _SENT.c.token, _SENT.c.claimed_at, _SENT.c.code, _SENT.c.text)
)


def release_deliveries(rt: Runtime, claimed: Sequence[ClaimedDelivery]) -> None:
    """Give back deliveries this worker claimed and did not try (it is stopping, or its
    lease would not cover another attempt)."""
    if not claimed:
        return
    with rt.database.write() as session:
        for item in claimed:
            session.execute(
                update(Delivery)
                .where(Delivery.id == item.delivery_id, Delivery.lease_token == item.lease_token)
                .values(lease_until=None, lease_token=None)
            )
        rt.deliveries_due(session)


def fail_if_nobody_got_it(
    session: Session, rt: Runtime, notification_id: int, now: datetime
) -> None:
    """Turn the notification ``failed`` once every delivery is final and none of them is
    ``sent`` (refused, given up, or bounced): nobody got it, and unless a push reached
    somebody, the owners and admins are alerted (``deliveries_failed``). Called after each
    outcome, and after a bounce (``frontdesk.service.bounces``)."""
    states = set(
        session.scalars(select(Delivery.state).where(Delivery.notification_id == notification_id))
    )
    if states and states <= FINAL_DELIVERY_STATES and not states & RECEIVED_DELIVERY_STATES:
        session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(state=NotificationState.FAILED)
        )
        alerts.nobody_got_it(session, rt, notification_id, now)


def next_delivery_at(rt: Runtime) -> datetime | None:
    """The earliest moment an e-mail is to be sent: a delivery's or an outbox e-mail's next
    attempt, or the end of a lease that a dead worker may have left behind."""
    with rt.database.read() as session:
        candidates = [
            next_notice_at(session),
            session.scalar(
                select(func.min(Delivery.next_attempt_at)).where(
                    Delivery.state.in_([DeliveryState.PENDING, DeliveryState.DEFERRED]),
                    Delivery.lease_until.is_(None),
                )
            ),
            session.scalar(
                select(func.min(Delivery.lease_until)).where(
                    Delivery.state.in_([DeliveryState.PENDING, DeliveryState.DEFERRED]),
                    Delivery.lease_until.is_not(None),
                )
            ),
        ]
    return min((c for c in candidates if c is not None), default=None)
