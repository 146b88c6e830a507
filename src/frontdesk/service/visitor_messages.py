"""Visitor messages: the hottest write of the product (docs/performance.md). A message goes
into the visitor's open conversation or opens a new one (docs/spec.md section 2), is a sign
of life of the visitor, and runs rule 1 of the offline message, all in one transaction of a
fixed count of plain statements; on the event loop, the messages of one moment are
group-committed and written together (``record_visitor_messages``)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.orm import Session

from frontdesk.core import notifications as notifications_core
from frontdesk.core.model import ConversationStatus, MessageAuthor
from frontdesk.core.plans import group_that_applies
from frontdesk.security import token_digest
from frontdesk.service import notifications
from frontdesk.service.events import VisitorMessagePosted
from frontdesk.service.groups import load_groups_of_account
from frontdesk.service.presence import (
    PresenceEvent,
    VisitorLease,
    renew_visitor_leases,
    visitor_active,
    visitor_lease,
    visitors_arrived,
)
from frontdesk.service.runtime import Runtime, VisitorCaller
from frontdesk.service.scope import (
    accounts_online,
)
from frontdesk.store.group_commit import Batched
from frontdesk.store.models import Account, Conversation, Message, Visitor, table_of
from frontdesk.store.plain import PlainStatement

_accounts = table_of(Account)
_conversations = table_of(Conversation)
_messages = table_of(Message)
_visitors = table_of(Visitor)


@dataclass(frozen=True, slots=True)
class Posted:
    """A stored visitor message. ``copies`` makes unsaved copies of the conversation and
    the message for live frames, only when somebody listens (``frontdesk.api.live``)."""

    account_id: int
    conversation_id: int
    message_id: int
    opened_conversation: bool
    presence_events: list[PresenceEvent]
    _written: _Written

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


@dataclass(frozen=True, slots=True)
class _Written:
    visitor_id: int
    group_id: int | None
    status: ConversationStatus
    at: datetime
    text: str
    name: str | None
    email: str | None
    page_url: str | None


def post_visitor_message(
    rt: Runtime, caller: VisitorCaller, *, text: str, group_id: int | None
) -> Posted:
    """``record_visitor_message`` in a transaction of its own."""
    with rt.database.write() as session:
        return record_visitor_message(session, rt, caller, text=text, group_id=group_id)


async def post_visitor_message_soon(
    rt: Runtime, caller: VisitorCaller, *, text: str, group_id: int | None
) -> Posted:
    """``record_visitor_message`` from the event loop; on SQLite group-committed with the
    other requests' writes of the moment, and written together with the other visitor
    messages among them (``record_visitor_messages``). Returns once stored."""
    posted = await rt.database.run_write_batched(
        VISITOR_MESSAGES, _ToPost(rt=rt, text=text, group_id=group_id, caller=caller)
    )
    assert posted is not None  # a proven caller
    return posted


async def post_message_of_token_soon(
    rt: Runtime, widget_key: str, token: str, *, text: str, group_id: int | None
) -> Posted | None:
    """``post_visitor_message_soon`` for a visitor token this process may not have proven
    yet: proven in the same transaction as the message (one transaction, not two). None,
    with nothing written, when the token is not one of this widget's visitors."""
    return await rt.database.run_write_batched(
        VISITOR_MESSAGES,
        _ToPost(
            rt=rt,
            text=text,
            group_id=group_id,
            widget_key=widget_key,
            digest=token_digest(token),
        ),
    )


@dataclass(frozen=True, slots=True)
class _ToPost:
    """A visitor message to store: from a proven ``caller``, or from the visitor whose
    token has this ``digest``, if it is one of this widget's."""

    rt: Runtime
    text: str
    group_id: int | None
    caller: VisitorCaller | None = None
    widget_key: str = ""
    digest: str = ""


class _VisitorMessages(Batched[_ToPost, "Posted | None"]):
    def one(self, session: Session, item: _ToPost) -> Posted | None:
        (caller,) = _callers_of(session.connection(), [item])
        if caller is None:
            return None  # not a visitor of this widget: nothing written
        return record_visitor_message(
            session, item.rt, caller, text=item.text, group_id=item.group_id
        )

    def many(self, session: Session, items: list[_ToPost]) -> list[Posted | None]:
        return record_visitor_messages(session, items)

    def key(self, item: _ToPost) -> Hashable:
        # A visitor's messages one transaction after another, in the order they came.
        if item.caller is not None:
            return item.caller.visitor_id
        return (item.widget_key, item.digest)


VISITOR_MESSAGES = _VisitorMessages()


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
_FACTS = (
    _accounts.c.plan,
    _accounts.c.offline_message_email,
    _accounts.c.offline_email_delay,
    _visitors.c.name,
    _visitors.c.email,
    _visitors.c.page_url,
    _visitors.c.present,
    _visitors.c.present_until,
)


_ACCOUNT_AND_VISITOR = PlainStatement(
    select(*_FACTS)
    .join(_accounts, _accounts.c.id == _visitors.c.account_id)
    .where(_visitors.c.id == bindparam("visitor_id"))
    # The visitor locked before its open conversation is looked for: two transactions of
    # one visitor's messages (two processes on PostgreSQL) take turns, and the second
    # writes into the conversation the first opened instead of opening another.
    .with_for_update(of=_visitors)
)


_NEW_CONVERSATION = PlainStatement(
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


_CONVERSATION_WRITTEN_IN = PlainStatement(
    update(_conversations)
    .where(_conversations.c.id == bindparam("conversation_id"))
    .values(last_message_at=bindparam("at"))
)


_NEW_MESSAGE = PlainStatement(
    insert(_messages)
    .values(
        conversation_id=bindparam("conversation_id"),
        author=bindparam("author"),
        text=bindparam("text"),
        created_at=bindparam("at"),
    )
    .returning(_messages.c.id, _messages.c.conversation_id)
)


def record_visitor_message(
    session: Session, rt: Runtime, caller: VisitorCaller, *, text: str, group_id: int | None
) -> Posted:
    """A visitor message, in the caller's transaction: into the visitor's open
    conversation, or a new one; a sign of life of the visitor; rule 1 of the offline
    message. The hottest write of the product, so a fixed count of plain statements
    (docs/performance.md): the conversation (locked), the account and visitor, the
    conversation's time, the message, and the notification rule's; the visitor's lease
    only when it needs renewing."""
    now = rt.clock.now()
    connection = session.connection()
    if group_id is not None:
        load_groups_of_account(session, caller.account_id, [group_id])
    facts = _ACCOUNT_AND_VISITOR.first(connection, visitor_id=caller.visitor_id)
    assert facts is not None  # an authenticated visitor exists
    found = _OPEN_CONVERSATION.first(connection, visitor_id=caller.visitor_id)
    plan, offline_on, delay, name, email, page_url, present, present_until = facts
    if found is None:
        status = ConversationStatus.UNSERVED
        conversation_id = _NEW_CONVERSATION.scalar(
            connection,
            account_id=caller.account_id,
            visitor_id=caller.visitor_id,
            group_id=group_id,
            status=status,
            at=now,
        )
    else:
        conversation_id, group_id, status = found
        _CONVERSATION_WRITTEN_IN.run(connection, conversation_id=conversation_id, at=now)
    message_id = _NEW_MESSAGE.scalar(
        connection,
        conversation_id=conversation_id,
        author=MessageAuthor.VISITOR,
        text=text,
        at=now,
    )
    # Writing is a sign of life: a visitor without a socket is on the website too. A
    # leaving nobody had recorded yet (the lease lapsed before the sweep came by) is
    # recorded first, and presence hands it to the notification engine
    # (notifications.presence_recorded), which may open a missed-conversation notification.
    presence_events = visitor_active(
        session,
        rt,
        connection,
        visitor_id=caller.visitor_id,
        account_id=caller.account_id,
        present=present,
        present_until=present_until,
        now=now,
    )
    notifications.note_visitor_message(
        session,
        rt,
        connection,
        account=notifications.AccountRules(
            id=caller.account_id,
            plan=plan,
            offline_message_email=offline_on,
            offline_email_delay=delay,
        ),
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
        _written=_Written(
            visitor_id=caller.visitor_id,
            group_id=group_id,
            status=status,
            at=now,
            text=text,
            name=name,
            email=email,
            page_url=page_url,
        ),
    )
    rt.record(session, VisitorMessagePosted(posted))
    return posted


def record_visitor_messages(session: Session, items: Sequence[_ToPost]) -> list[Posted | None]:
    """``record_visitor_message`` for the messages of one group commit, with a
    statement per table for all of them where it makes one per message. What each message
    writes and answers is what it would alone, in some order of the concurrent requests
    (``Batched``). Tokens not proven yet are proven together first (an unknown one gets
    None, with nothing written). The plain case goes together: no group asked for, no
    group conversation on a plan with groups, no lapsed lease to record first, no
    notification suppressed at once; the rest (and a visitor's second message of the
    moment) each run alone afterwards, with the same outcome they would have had."""
    rt = items[0].rt
    now = rt.clock.now()
    connection = session.connection()
    results: list[Posted | None] = [None] * len(items)
    together: dict[int, tuple[int, VisitorCaller]] = {}  # visitor -> (item, caller)
    alone: list[int] = []
    callers = _callers_of(connection, items)
    for index, item in enumerate(items):
        assert item.rt is rt  # one group commit, one database, one runtime
        caller = callers[index]
        if caller is None:
            continue  # not a visitor of this widget: nothing written, None answered
        if item.group_id is not None or caller.visitor_id in together:
            alone.append(index)
        else:
            together[caller.visitor_id] = (index, caller)
    visitor_ids = list(together)
    facts = (
        {row[0]: row[1:] for row in _FACTS_OF_VISITORS.rows(connection, visitor_ids=visitor_ids)}
        if visitor_ids
        else {}
    )
    open_conversations: dict[int, list[tuple[int, int | None, ConversationStatus]]] = {}
    if visitor_ids:
        for conversation_id, visitor_id, group_id, status in _OPEN_CONVERSATIONS_OF_VISITORS.rows(
            connection, visitor_ids=visitor_ids
        ):
            open_conversations.setdefault(visitor_id, []).append(
                (conversation_id, group_id, status)
            )
    online = accounts_online(
        connection, {caller.account_id for _, caller in together.values()}, now=now
    )
    notified = notifications.open_offline_notifications_of(
        connection,
        [conversations[-1][0] for conversations in open_conversations.values() if conversations],
    )

    plain: list[_Together] = []
    for visitor_id, (index, caller) in together.items():
        plan, offline_on, _delay, _name, _email, _page, present, present_until = facts[visitor_id]
        found = open_conversations[visitor_id][-1] if open_conversations.get(visitor_id) else None
        lease, until = visitor_lease(rt, present=present, present_until=present_until, now=now)
        scope_online = caller.account_id in online
        outcome = notifications_core.on_visitor_message(
            scope_online=scope_online,
            has_open_notification=not scope_online and found is not None and found[0] in notified,
            setting_on=offline_on,
        )
        if (
            (found is not None and group_that_applies(plan, found[1]) is not None)
            or lease is VisitorLease.RECORD_LEAVING_FIRST
            or outcome is notifications_core.OnVisitorMessage.SUPPRESS_AT_ONCE
        ):
            alone.append(index)
            continue
        plain.append(_Together(index, caller, facts[visitor_id], found, lease, until, outcome))

    # The writes, a statement per table.
    started = [p for p in plain if p.found is None]
    new_ids = {
        visitor_id: conversation_id
        for conversation_id, visitor_id in _NEW_CONVERSATION.inserted(
            connection,
            [
                {
                    "account_id": p.caller.account_id,
                    "visitor_id": p.caller.visitor_id,
                    "group_id": None,
                    "status": ConversationStatus.UNSERVED,
                    "at": now,
                }
                for p in started
            ],
        )
    }
    for p in plain:
        p.conversation_id = p.found[0] if p.found is not None else new_ids[p.caller.visitor_id]
    _CONVERSATION_WRITTEN_IN.run_many(
        connection,
        [{"conversation_id": p.conversation_id, "at": now} for p in plain if p.found is not None],
    )
    message_ids = {
        conversation_id: message_id
        for message_id, conversation_id in _NEW_MESSAGE.inserted(
            connection,
            [
                {
                    "conversation_id": p.conversation_id,
                    "author": MessageAuthor.VISITOR,
                    "text": items[p.index].text,
                    "at": now,
                }
                for p in plain
            ],
        )
    }
    for p in plain:
        p.message_id = message_ids[p.conversation_id]
    renew_visitor_leases(
        connection,
        [
            (p.caller.visitor_id, p.until)
            for p in plain
            if p.lease is VisitorLease.RENEW and p.until
        ],
    )
    arrived = visitors_arrived(
        session,
        rt,
        connection,
        [
            (
                p.caller.account_id,
                p.caller.visitor_id,
                p.until,
                [c[0] for c in open_conversations.get(p.caller.visitor_id, [])]
                + ([p.conversation_id] if p.found is None else []),
            )
            for p in plain
            if p.lease is VisitorLease.ARRIVE and p.until is not None
        ],
        now=now,
    )
    arrivals = {event.visitor_id: event for event in arrived}
    notifications.note_visitor_messages(
        session,
        rt,
        connection,
        opening=[
            notifications.OfflineOpening(
                account=_rules(p.caller, p.facts),
                conversation_id=p.conversation_id,
                message_id=p.message_id,
                at=now,
            )
            for p in plain
            if p.outcome is notifications_core.OnVisitorMessage.OPEN_NEW
        ],
        joining=[
            (notified[p.conversation_id], p.message_id)
            for p in plain
            if p.outcome is notifications_core.OnVisitorMessage.JOIN_OPEN
        ],
    )
    for p in plain:
        _plan, _on, _delay, name, email, page_url, _present, _until = p.facts
        arrival = arrivals.get(p.caller.visitor_id)
        results[p.index] = posted = Posted(
            account_id=p.caller.account_id,
            conversation_id=p.conversation_id,
            message_id=p.message_id,
            opened_conversation=p.found is None,
            presence_events=[arrival] if arrival is not None else [],
            _written=_Written(
                visitor_id=p.caller.visitor_id,
                group_id=p.found[1] if p.found is not None else None,
                status=p.found[2] if p.found is not None else ConversationStatus.UNSERVED,
                at=now,
                text=items[p.index].text,
                name=name,
                email=email,
                page_url=page_url,
            ),
        )
        rt.record(session, VisitorMessagePosted(posted))
    for index in sorted(alone):
        results[index] = VISITOR_MESSAGES.one(session, items[index])
    return results


@dataclass(slots=True)
class _Together:
    """A message of ``record_visitor_messages`` written with the others."""

    index: int
    caller: VisitorCaller
    facts: tuple[Any, ...]
    found: tuple[int, int | None, ConversationStatus] | None
    lease: VisitorLease
    until: datetime | None
    outcome: notifications_core.OnVisitorMessage
    conversation_id: int = 0
    message_id: int = 0


def _callers_of(connection: Connection, items: Sequence[_ToPost]) -> list[VisitorCaller | None]:
    """Each item's visitor: proven already, remembered, or proven here by its token (in the
    message's own transaction), all of them in one look-up; None for a token that is not
    one of its widget's visitors."""
    rt = items[0].rt
    callers = [
        item.caller or rt.visitor_callers.get(item.widget_key, item.digest) for item in items
    ]
    unproven = [index for index, caller in enumerate(callers) if caller is None]
    if not unproven:
        return callers
    found = {
        (widget_key, digest): VisitorCaller(visitor_id=visitor_id, account_id=account_id)
        for visitor_id, account_id, widget_key, digest in connection.execute(
            _VISITORS_OF_TOKENS, {"digests": list({items[i].digest for i in unproven})}
        )
    }
    for index in unproven:
        item = items[index]
        caller = found.get((item.widget_key, item.digest))
        if caller is not None:
            # A visitor is never deleted nor its token changed: true even if this rolls back.
            rt.visitor_callers.remember(item.widget_key, item.digest, caller)
            callers[index] = caller
    return callers


_VISITORS_OF_TOKENS = (
    select(_visitors.c.id, _visitors.c.account_id, _accounts.c.widget_key, _visitors.c.token_hash)
    .join(_accounts, _accounts.c.id == _visitors.c.account_id)
    .where(_visitors.c.token_hash.in_(bindparam("digests", expanding=True)))
)


def _rules(caller: VisitorCaller, facts: tuple[Any, ...]) -> notifications.AccountRules:
    plan, offline_on, delay, *_ = facts
    return notifications.AccountRules(
        id=caller.account_id, plan=plan, offline_message_email=offline_on, offline_email_delay=delay
    )


_FACTS_OF_VISITORS = PlainStatement(
    select(_visitors.c.id, *_FACTS)
    .join(_accounts, _accounts.c.id == _visitors.c.account_id)
    .where(_visitors.c.id.in_(bindparam("visitor_ids", expanding=True)))
    # Locked as _ACCOUNT_AND_VISITOR locks its one, in one order for every batch.
    .order_by(_visitors.c.id)
    .with_for_update(of=_visitors)
)


_OPEN_CONVERSATIONS_OF_VISITORS = PlainStatement(
    select(
        _conversations.c.id,
        _conversations.c.visitor_id,
        _conversations.c.group_id,
        _conversations.c.status,
    )
    .where(
        _conversations.c.visitor_id.in_(bindparam("visitor_ids", expanding=True)),
        _conversations.c.status != ConversationStatus.CLOSED,
    )
    .order_by(_conversations.c.id)
    # Locked, in one order for every batch, as record_visitor_message locks its one.
    .with_for_update()
)
