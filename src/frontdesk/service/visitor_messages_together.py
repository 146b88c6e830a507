"""Visitor messages on the event loop, together: the messages of one moment are
group-committed (``frontdesk.store.group_commit``) and written with a statement per table
for all of them (``record_visitor_messages``), each with the outcome it would have had alone
(``frontdesk.service.visitor_messages``). A visitor token this process has not proven yet
is proven in the same transaction."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from frontdesk.core import notifications as notifications_core
from frontdesk.core.model import ConversationStatus, MessageAuthor
from frontdesk.core.plans import group_that_applies
from frontdesk.errors import Conflict
from frontdesk.security import token_digest
from frontdesk.service import notifications
from frontdesk.service.events import VisitorMessagePosted
from frontdesk.service.presence import (
    VisitorLease,
    renew_visitor_leases,
    visitor_lease,
    visitors_arrived,
)
from frontdesk.service.runtime import Runtime, VisitorCaller
from frontdesk.service.scope import (
    accounts_online,
)
from frontdesk.service.visitor_messages import (
    CONVERSATION_WRITTEN_IN,
    FACTS,
    NEW_CONVERSATION,
    NEW_MESSAGE,
    Posted,
    Replayed,
    Written,
    record_visitor_message,
    rules_of,
    stored_with_keys,
    tell_webhooks,
)
from frontdesk.store.group_commit import Batched
from frontdesk.store.models import Account, Conversation, Visitor, table_of
from frontdesk.store.plain import PlainStatement

_accounts = table_of(Account)
_conversations = table_of(Conversation)
_visitors = table_of(Visitor)


async def post_visitor_message_soon(
    rt: Runtime,
    caller: VisitorCaller,
    *,
    text: str,
    group_id: int | None,
    idempotency_key: str | None = None,
) -> Posted | Replayed:
    """``record_visitor_message`` from the event loop; on SQLite group-committed with the
    other requests' writes of the moment, and written together with the other visitor
    messages among them (``record_visitor_messages``). Returns once stored."""
    posted = await rt.database.run_write_batched(
        VISITOR_MESSAGES,
        _ToPost(
            rt=rt,
            text=text,
            group_id=group_id,
            caller=caller,
            idempotency_key=idempotency_key,
        ),
    )
    assert posted is not None  # a proven caller
    return posted


async def post_message_of_token_soon(
    rt: Runtime,
    widget_key: str,
    token: str,
    *,
    text: str,
    group_id: int | None,
    idempotency_key: str | None = None,
) -> Posted | Replayed | None:
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
            idempotency_key=idempotency_key,
        ),
    )


# Not frozen: one is made for each visitor message, where a frozen one takes three times
# as long to make (docs/performance.md).
@dataclass(slots=True)
class _ToPost:
    """A visitor message to store: from a proven ``caller``, or from the visitor whose
    token has this ``digest``, if it is one of this widget's."""

    rt: Runtime
    text: str
    group_id: int | None
    caller: VisitorCaller | None = None
    widget_key: str = ""
    digest: str = ""
    idempotency_key: str | None = None


class _VisitorMessages(Batched[_ToPost, "Posted | Replayed | None"]):
    def one(self, session: Session, item: _ToPost) -> Posted | Replayed | None:
        (caller,) = _callers_of(session.connection(), [item])
        if caller is None:
            return None  # not a visitor of this widget: nothing written
        return record_visitor_message(
            session,
            item.rt,
            caller,
            text=item.text,
            group_id=item.group_id,
            idempotency_key=item.idempotency_key,
        )

    def many(self, session: Session, items: list[_ToPost]) -> list[Posted | Replayed | None]:
        return record_visitor_messages(session, items)

    def key(self, item: _ToPost) -> Hashable:
        # A visitor's messages one transaction after another, in the order they came.
        if item.caller is not None:
            return item.caller.visitor_id
        return (item.widget_key, item.digest)


VISITOR_MESSAGES = _VisitorMessages()


def record_visitor_messages(
    session: Session, items: Sequence[_ToPost]
) -> list[Posted | Replayed | None]:
    """``record_visitor_message`` for the messages of one group commit, with a
    statement per table for all of them where it makes one per message. What each message
    writes and answers is what it would alone, in some order of the concurrent requests
    (``Batched``). Tokens not proven yet are proven together first (an unknown one gets
    None, with nothing written). The plain case goes together: no group asked for, no
    group conversation on a plan with groups, no lapsed lease to record first, no
    notification suppressed at once; the rest (and a visitor's second message of the
    moment) each run alone afterwards, with the same outcome they would have had."""
    rt = items[0].rt
    connection = session.connection()
    results: list[Posted | Replayed | None] = [None] * len(items)
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
    # Read with the visitors locked (docs/presence.md, one clock).
    now = rt.clock.now()
    # Sent again with the key of a message already stored: that message, nothing written.
    # (A key used before for another text is refused when the message runs alone.)
    keyed = {
        (caller.visitor_id, key): items[index].text
        for visitor_id, (index, caller) in together.items()
        if (key := items[index].idempotency_key) is not None
    }
    if keyed:
        try:
            replayed = stored_with_keys(connection, keyed)
        except Conflict:
            replayed = {}
            for visitor_id, (index, _caller) in list(together.items()):
                if items[index].idempotency_key is not None:
                    alone.append(index)
                    del together[visitor_id]
        for visitor_id, (index, _caller) in list(together.items()):
            key = items[index].idempotency_key
            if key is not None and (earlier := replayed.get((visitor_id, key))) is not None:
                results[index] = earlier
                del together[visitor_id]
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
        plan, offline_on, *_delays, _name, _email, _page, present, present_until, _, _ = facts[
            visitor_id
        ]
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
        for conversation_id, visitor_id in NEW_CONVERSATION.inserted(
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
    CONVERSATION_WRITTEN_IN.run_many(
        connection,
        [{"conversation_id": p.conversation_id, "at": now} for p in plain if p.found is not None],
    )
    message_ids = {
        conversation_id: message_id
        for message_id, conversation_id in NEW_MESSAGE.inserted(
            connection,
            [
                {
                    "conversation_id": p.conversation_id,
                    "author": MessageAuthor.VISITOR,
                    "text": items[p.index].text,
                    "at": now,
                    "key": items[p.index].idempotency_key,
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
                account=rules_of(p.caller, p.facts),
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
        reminding=[
            notifications.Reminding(p.caller.account_id, p.conversation_id, p.message_id, now)
            for p in plain
            if p.outcome is notifications_core.OnVisitorMessage.NOT_OFFLINE
            and p.found is None
            and p.facts[-1]  # the account pushes (Account.push_subscribed)
        ],
    )
    for p in plain:
        _plan, _on, _email_delay, _push_delay, name, email, page_url, _present, _until, hooks, _ = (
            p.facts
        )
        arrival = arrivals.get(p.caller.visitor_id)
        results[p.index] = posted = Posted(
            account_id=p.caller.account_id,
            conversation_id=p.conversation_id,
            message_id=p.message_id,
            opened_conversation=p.found is None,
            presence_events=[arrival] if arrival is not None else [],
            _written=Written(
                visitor_id=p.caller.visitor_id,
                group_id=p.found[1] if p.found is not None else None,
                status=p.found[2] if p.found is not None else ConversationStatus.UNSERVED,
                at=now,
                text=items[p.index].text,
                name=name,
                email=email,
                page_url=page_url,
                webhook_events=hooks,
            ),
        )
        if hooks:
            tell_webhooks(session, rt, posted)
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


_FACTS_OF_VISITORS = PlainStatement(
    select(_visitors.c.id, *FACTS)
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
