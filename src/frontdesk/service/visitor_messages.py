"""Visitor messages: the hottest write of the product (docs/performance.md). A message goes
into the visitor's open conversation or opens a new one (docs/spec.md section 2), is a sign
of life of the visitor, and runs rule 1 of the offline message, all in one transaction of a
fixed count of plain statements. On the event loop, the messages of one moment are written
together: ``frontdesk.service.visitor_messages_together``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.orm import Session

from frontdesk.core.model import ConversationStatus, MessageAuthor
from frontdesk.errors import Conflict
from frontdesk.service import notifications, webhooks
from frontdesk.service.events import VisitorMessagePosted
from frontdesk.service.groups import load_groups_of_account
from frontdesk.service.presence import (
    PresenceEvent,
    visitor_active,
)
from frontdesk.service.runtime import Runtime, VisitorCaller
from frontdesk.store.models import Account, Conversation, Message, Visitor, table_of
from frontdesk.store.plain import PlainStatement, unnested

_accounts = table_of(Account)
_conversations = table_of(Conversation)
_messages = table_of(Message)
_visitors = table_of(Visitor)


# Not frozen: one is made for each visitor message, where a frozen one takes three times
# as long to make (docs/performance.md).
@dataclass(slots=True)
class Posted:
    """A stored visitor message. ``copies`` makes unsaved copies of the conversation and
    the message for live frames, only when somebody listens (``frontdesk.api.live``)."""

    account_id: int
    conversation_id: int
    message_id: int
    opened_conversation: bool
    presence_events: list[PresenceEvent]
    _written: Written

    def copies(self) -> tuple[Conversation, Message]:
        w = self._written
        conversation = Conversation(
            id=self.conversation_id,
            account_id=self.account_id,
            visitor_id=w.visitor_id,
            group_id=w.group_id,
            status=w.status,
            created_at=w.at,
            last_message_at=w.at,
        )
        if self.opened_conversation:
            conversation.visitor = Visitor(
                id=w.visitor_id,
                account_id=self.account_id,
                name=w.name,
                email=w.email,
                page_url=w.page_url,
                present=True,
            )
        message = Message(
            id=self.message_id,
            conversation_id=self.conversation_id,
            author=MessageAuthor.VISITOR,
            agent_id=None,
            text=w.text,
            created_at=w.at,
        )
        return conversation, message


# Not frozen: one is made for each visitor message, where a frozen one takes three times
# as long to make (docs/performance.md).
@dataclass(slots=True)
class Written:
    visitor_id: int
    group_id: int | None
    status: ConversationStatus
    at: datetime
    text: str
    name: str | None
    email: str | None
    page_url: str | None
    webhook_events: int = 0


def post_visitor_message(
    rt: Runtime, caller: VisitorCaller, *, text: str, group_id: int | None
) -> Posted | Replayed:
    """``record_visitor_message`` in a transaction of its own."""
    with rt.database.write() as session:
        return record_visitor_message(session, rt, caller, text=text, group_id=group_id)


# The statements of a visitor message, compiled once (frontdesk.store.plain).
_OPEN_CONVERSATION = PlainStatement(
    # Locked: two messages of one conversation must not both open an offline notification,
    # and a join must see the message or come after it.
    select(_conversations.c.id, _conversations.c.group_id, _conversations.c.status)
    .where(
        _conversations.c.visitor_id == bindparam("visitor_id"),
        _conversations.c.status != ConversationStatus.CLOSED,
    )
    .order_by(_conversations.c.id.desc())
    .limit(1)
    .with_for_update()
)


# What a visitor message reads of its visitor and the visitor's account.
FACTS = (
    _accounts.c.plan,
    _accounts.c.offline_message_email,
    _accounts.c.offline_email_delay,
    _accounts.c.offline_push_delay,
    _visitors.c.name,
    _visitors.c.email,
    _visitors.c.page_url,
    _visitors.c.present,
    _visitors.c.present_until,
    _accounts.c.webhook_events,
    _accounts.c.push_subscribed,
)


_ACCOUNT_AND_VISITOR = PlainStatement(
    select(*FACTS)
    .join(_accounts, _accounts.c.id == _visitors.c.account_id)
    .where(_visitors.c.id == bindparam("visitor_id"))
    # The visitor locked before its open conversation is looked for: two transactions of
    # one visitor's messages (two processes on PostgreSQL) take turns, and the second
    # writes into the conversation the first opened instead of opening another.
    .with_for_update(of=_visitors)
)


NEW_CONVERSATION = PlainStatement(
    insert(_conversations)
    .values(
        account_id=bindparam("account_id"),
        visitor_id=bindparam("visitor_id"),
        group_id=bindparam("group_id"),
        status=bindparam("status"),
        created_at=bindparam("at"),
        last_message_at=bindparam("at"),
    )
    .returning(_conversations.c.id, _conversations.c.visitor_id)
)


_WRITTEN_IN = unnested(
    conversation_id=_conversations.c.id.type, at=_conversations.c.last_message_at.type
)
CONVERSATION_WRITTEN_IN = PlainStatement(
    update(_conversations)
    .where(_conversations.c.id == bindparam("conversation_id"))
    .values(last_message_at=bindparam("at")),
    many_on_postgresql=update(_conversations)
    .where(_conversations.c.id == _WRITTEN_IN.c.conversation_id)
    .values(last_message_at=_WRITTEN_IN.c.at),
)


NEW_MESSAGE = PlainStatement(
    insert(_messages)
    .values(
        conversation_id=bindparam("conversation_id"),
        author=bindparam("author"),
        text=bindparam("text"),
        created_at=bindparam("at"),
        idempotency_key=bindparam("key"),
    )
    .returning(_messages.c.id, _messages.c.conversation_id)
)


@dataclass(frozen=True, slots=True)
class Replayed:
    """A visitor message sent again with the Idempotency-Key of one already stored: that
    message, answered as it was the first time, nothing written (docs/api.md)."""

    conversation_id: int
    message_id: int


# Not a PlainStatement: its lists are of strings (the keys).
_MESSAGES_OF_KEYS = (
    select(
        _conversations.c.visitor_id,
        _messages.c.idempotency_key,
        _messages.c.conversation_id,
        _messages.c.id,
        _messages.c.text,
    )
    .join(_conversations, _conversations.c.id == _messages.c.conversation_id)
    .where(
        _messages.c.idempotency_key.in_(bindparam("keys", expanding=True)),
        _conversations.c.visitor_id.in_(bindparam("visitor_ids", expanding=True)),
    )
)


def stored_with_keys(
    connection: Connection, wanted: dict[tuple[int, str], str]
) -> dict[tuple[int, str], Replayed]:
    """The messages already stored under the Idempotency-Keys of ``wanted`` ((visitor,
    key): the text sent now), with their visitors locked by the caller's transaction. A key
    a visitor used for another text is a client's bug, refused with 409 rather than
    answered with a message it did not send."""
    if not wanted:
        return {}
    found: dict[tuple[int, str], Replayed] = {}
    for visitor_id, key, conversation_id, message_id, text in connection.execute(
        _MESSAGES_OF_KEYS,
        {
            "keys": list({key for _, key in wanted}),
            "visitor_ids": list({visitor_id for visitor_id, _ in wanted}),
        },
    ):
        sent = wanted.get((visitor_id, key))
        if sent is None:
            continue
        if sent != text:
            raise Conflict(
                "This Idempotency-Key was sent before with another message; "
                "use a new key for each message.",
                code="idempotency_key_reused",
            )
        found[(visitor_id, key)] = Replayed(conversation_id, message_id)
    return found


def record_visitor_message(
    session: Session,
    rt: Runtime,
    caller: VisitorCaller,
    *,
    text: str,
    group_id: int | None,
    idempotency_key: str | None = None,
    on_the_website: bool = True,
) -> Posted | Replayed:
    """A visitor message, in the caller's transaction: into the visitor's open
    conversation, or a new one; a sign of life of the visitor; rule 1 of the offline
    message. The hottest write of the product, so a fixed count of plain statements
    (docs/performance.md): the conversation (locked), the account and visitor, the
    conversation's time, the message, and the notification rule's; the visitor's lease
    only when it needs renewing. Sent again with its ``idempotency_key``, the message
    stored the first time (``Replayed``). A message that came by e-mail (not
    ``on_the_website``) is no sign that the visitor is on the website."""
    connection = session.connection()
    if group_id is not None:
        load_groups_of_account(session, caller.account_id, [group_id])
    facts = _ACCOUNT_AND_VISITOR.first(connection, visitor_id=caller.visitor_id)
    assert facts is not None  # an authenticated visitor exists
    if idempotency_key is not None:
        wanted = {(caller.visitor_id, idempotency_key): text}
        for replayed in stored_with_keys(connection, wanted).values():
            return replayed
    # Read with the visitor locked (docs/presence.md, one clock): a socket's arrival
    # committed before this message is never stamped after it.
    now = rt.clock.now()
    found = _OPEN_CONVERSATION.first(connection, visitor_id=caller.visitor_id)
    (
        _plan,
        _offline_on,
        _email_delay,
        _push_delay,
        name,
        email,
        page_url,
        present,
        present_until,
        webhook_events,
        _push_subscribed,
    ) = facts
    if found is None:
        status = ConversationStatus.UNSERVED
        conversation_id = NEW_CONVERSATION.scalar(
            connection,
            account_id=caller.account_id,
            visitor_id=caller.visitor_id,
            group_id=group_id,
            status=status,
            at=now,
        )
    else:
        conversation_id, group_id, status = found
        CONVERSATION_WRITTEN_IN.run(connection, conversation_id=conversation_id, at=now)
    message_id = NEW_MESSAGE.scalar(
        connection,
        conversation_id=conversation_id,
        author=MessageAuthor.VISITOR,
        text=text,
        at=now,
        key=idempotency_key,
    )
    # Writing is a sign of life: a visitor without a socket is on the website too. A
    # leaving nobody had recorded yet (the lease lapsed before the sweep came by) is
    # recorded first, and presence hands it to the notification engine
    # (notifications.presence_recorded), which may open a missed-conversation notification.
    presence_events = (
        visitor_active(
            session,
            rt,
            connection,
            visitor_id=caller.visitor_id,
            account_id=caller.account_id,
            present=present,
            present_until=present_until,
            now=now,
        )
        if on_the_website
        else []
    )
    notifications.note_visitor_message(
        session,
        rt,
        connection,
        account=rules_of(caller, facts),
        conversation_id=conversation_id,
        group_id=group_id,
        message_id=message_id,
        at=now,
        new_conversation=found is None,
    )
    posted = Posted(
        account_id=caller.account_id,
        conversation_id=conversation_id,
        message_id=message_id,
        opened_conversation=found is None,
        presence_events=presence_events,
        _written=Written(
            visitor_id=caller.visitor_id,
            group_id=group_id,
            status=status,
            at=now,
            text=text,
            name=name,
            email=email,
            page_url=page_url,
            webhook_events=webhook_events,
        ),
    )
    if webhook_events:
        tell_webhooks(session, rt, posted)
    rt.record(session, VisitorMessagePosted(posted))
    return posted


def tell_webhooks(session: Session, rt: Runtime, posted: Posted) -> None:
    """The webhook events of a stored visitor message (docs/webhooks.md), in its
    transaction; only for an account whose endpoints want some (``webhook_events``)."""
    w = posted._written
    webhooks.visitor_message_events(
        session,
        rt,
        account_id=posted.account_id,
        mask=w.webhook_events,
        conversation=webhooks.conversation_data(
            rt.settings.public_url,
            posted.conversation_id,
            status=w.status.value,
            group_id=w.group_id,
        ),
        visitor=webhooks.visitor_data(
            w.visitor_id, name=w.name, email=w.email, page_url=w.page_url
        ),
        message=webhooks.message_data(
            posted.message_id, author=MessageAuthor.VISITOR.value, text=w.text, at=w.at
        ),
        opened=posted.opened_conversation,
    )


def rules_of(caller: VisitorCaller, facts: tuple[Any, ...]) -> notifications.AccountRules:
    plan, offline_on, email_delay, push_delay, *_, push_subscribed = facts
    return notifications.AccountRules(
        id=caller.account_id,
        plan=plan,
        offline_message_email=offline_on,
        offline_email_delay=email_delay,
        offline_push_delay=push_delay,
        push_subscribed=push_subscribed,
    )
