"""Opening and calling off notifications, inside the transaction that records their cause
(docs/spec.md section 3; docs/notifications.md): a visitor message opens an offline-message
notification or joins the open one (rule 1), an agent coming online calls off the open ones
of its scopes (rule 2), and a visitor leaving may open a missed-conversation notification
(``frontdesk.service.notifications.missed``).

Presence reaches the engine through one door, ``presence_recorded``: the presence service
hands it every transition it records, in the same transaction, and nothing else of the
engine is called from presence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, case, insert, or_, select, update
from sqlalchemy.orm import Session

from frontdesk.core.model import Plan
from frontdesk.core.notifications import (
    Decision,
    NotificationKind,
    NotificationState,
    OnVisitorMessage,
    SuppressedBecause,
    offline_due_at,
    offline_push_due_at,
    on_visitor_message,
)
from frontdesk.core.plans import group_that_applies, has_groups
from frontdesk.core.presence import PresenceChange
from frontdesk.service.events import CallOffUnfinished, Decided
from frontdesk.service.notifications.deciding import settle
from frontdesk.service.notifications.missed import IN_NOTIFICATION, Departure, note_visitors_left
from frontdesk.service.runtime import Runtime
from frontdesk.service.scope import scope_is_online
from frontdesk.store.models import Account, Conversation, GroupMember, Notification, table_of
from frontdesk.store.plain import PlainStatement

_notifications = table_of(Notification)


class RecordedTransition(Protocol):
    """A presence transition as the presence service records it (its ``PresenceEvent``)."""

    @property
    def account_id(self) -> int: ...
    @property
    def change(self) -> PresenceChange: ...
    @property
    def at(self) -> datetime: ...
    @property
    def agent_id(self) -> int | None: ...
    @property
    def visitor_id(self) -> int | None: ...


def presence_recorded(
    session: Session, rt: Runtime, transitions: Sequence[RecordedTransition]
) -> None:
    """The notification engine's one entry point from presence, called in the transaction
    that records the transitions: an agent coming online calls off the open offline
    notifications of its scopes (rule 2, ``note_agent_online``); visitors leaving may open
    missed-conversation notifications (``note_visitors_left``). An agent going offline or a
    visitor arriving opens and closes nothing: the engine reads those from the recorded
    history when it decides."""
    departures: list[Departure] = []
    for transition in transitions:
        if transition.change is PresenceChange.AGENT_ONLINE:
            assert transition.agent_id is not None
            note_agent_online(
                session,
                rt,
                agent_id=transition.agent_id,
                account_id=transition.account_id,
                at=transition.at,
            )
        elif transition.change is PresenceChange.VISITOR_LEFT:
            assert transition.visitor_id is not None
            departures.append(
                Departure(transition.visitor_id, transition.account_id, transition.at)
            )
    if departures:
        session.flush()
        note_visitors_left(session, rt, departures)


# Not frozen: one is made for each visitor message, where a frozen one takes three times
# as long to make (docs/performance.md).
@dataclass(slots=True)
class AccountRules:
    """What rule 1 reads of the account, loaded by the caller with the rest of its facts."""

    id: int
    plan: Plan
    offline_message_email: bool
    offline_email_delay: float | None
    offline_push_delay: float | None = None
    # An agent of the account subscribed to pushes: conversations get their reminder.
    push_subscribed: bool = False


def note_visitor_message(
    session: Session,
    rt: Runtime,
    connection: Connection,
    *,
    account: AccountRules,
    conversation_id: int,
    group_id: int | None,
    message_id: int,
    at: datetime,
    new_conversation: bool,
) -> None:
    """Rule 1 of the offline message, in the transaction that stores the message. The
    caller holds the conversation's row lock, so two messages of one conversation never
    both open a notification.

    This runs on every visitor message, so it is plain statements (frontdesk.store.plain):
    whether the scope is online, the open notification (none to look for in a new
    conversation), and one or two inserts."""
    applies = group_that_applies(account.plan, group_id)
    scope_online = scope_is_online(
        connection, account_id=account.id, plan=account.plan, group_id=applies, now=at
    )
    open_id = None
    if not scope_online and not new_conversation:
        open_id = _OPEN_OFFLINE_NOTIFICATION.scalar(connection, conversation_id=conversation_id)
    outcome = on_visitor_message(
        scope_online=scope_online,
        has_open_notification=open_id is not None,
        setting_on=account.offline_message_email,
    )
    if outcome is OnVisitorMessage.NOT_OFFLINE:
        if new_conversation and account.push_subscribed:
            note_visitor_messages(
                session,
                rt,
                connection,
                opening=[],
                joining=[],
                reminding=[Reminding(account.id, conversation_id, message_id, at)],
            )
        return
    if outcome is OnVisitorMessage.OPEN_NEW:
        note_visitor_messages(
            session,
            rt,
            connection,
            opening=[OfflineOpening(account, conversation_id, message_id, at)],
            joining=[],
        )
        return
    if outcome is OnVisitorMessage.SUPPRESS_AT_ONCE:
        # Recorded all the same, so that "why no e-mail?" has its answer.
        notification = Notification(
            account_id=account.id,
            conversation_id=conversation_id,
            kind=NotificationKind.OFFLINE_MESSAGE,
            state=NotificationState.SCHEDULED,
            opened_at=at,
            due_at=at,
            not_recipients=[],
        )
        settle(
            session,
            rt,
            notification,
            Decision(SuppressedBecause.SETTING_OFF),
            reached=None,
            now=at,
        )
        session.add(notification)
        session.flush()
        open_id = notification.id
    IN_NOTIFICATION.run(connection, notification_id=open_id, message_id=message_id)


_OPEN_OFFLINE_NOTIFICATION = PlainStatement(
    select(_notifications.c.id).where(
        _notifications.c.conversation_id == bindparam("conversation_id"),
        _notifications.c.kind == NotificationKind.OFFLINE_MESSAGE,
        _notifications.c.state == NotificationState.SCHEDULED,
    )
)


def _new_notification(kind: NotificationKind) -> PlainStatement:
    """The INSERT that opens a scheduled notification of ``kind``, due at ``due_at``, its
    push due at ``push_due_at``."""
    return PlainStatement(
        insert(_notifications)
        .values(
            account_id=bindparam("account_id"),
            conversation_id=bindparam("conversation_id"),
            kind=kind,
            state=NotificationState.SCHEDULED,
            opened_at=bindparam("at"),
            due_at=bindparam("due_at"),
            push_due_at=bindparam("push_due_at"),
            not_recipients=[],
        )
        .returning(_notifications.c.id, _notifications.c.conversation_id)
    )


_NEW_OFFLINE_NOTIFICATION = _new_notification(NotificationKind.OFFLINE_MESSAGE)


# The unserved-conversation reminder (docs/push.md): a push only, never decided by the
# e-mail stage; its push falls due with it.
_NEW_REMINDER = _new_notification(NotificationKind.UNSERVED_CONVERSATION)


# Not frozen: one is made for each visitor message, where a frozen one takes three times
# as long to make (docs/performance.md).
@dataclass(slots=True)
class OfflineOpening:
    """A message that opens an offline notification (``OnVisitorMessage.OPEN_NEW``)."""

    account: AccountRules
    conversation_id: int
    message_id: int
    at: datetime


def open_offline_notifications_of(
    connection: Connection, conversation_ids: Sequence[int]
) -> dict[int, int]:
    """The open offline notification of each of these conversations that has one."""
    if not conversation_ids:
        return {}
    return {
        conversation_id: notification_id
        for notification_id, conversation_id in _OPEN_OFFLINE_NOTIFICATIONS.rows(
            connection, conversation_ids=list(conversation_ids)
        )
    }


@dataclass(frozen=True, slots=True)
class Reminding:
    """A message that opens a conversation while its scope is online: the conversation's
    unserved-conversation reminder is due ``unserved_push_after`` later (docs/push.md)."""

    account_id: int
    conversation_id: int
    message_id: int
    at: datetime


def note_visitor_messages(
    session: Session,
    rt: Runtime,
    connection: Connection,
    *,
    opening: Sequence[OfflineOpening],
    joining: Sequence[tuple[int, int]],
    reminding: Sequence[Reminding] = (),
) -> None:
    """Rule 1's writes for many visitor messages at once, whose outcomes the caller
    decided (``on_visitor_message``, from ``open_offline_notifications_of`` and
    ``frontdesk.service.scope.accounts_online``, as ``note_visitor_message`` would): the
    notifications ``opening`` opens, and each message listed in its notification
    (``joining``: notification, message); and the reminders of the conversations opened
    while their scope is online (``reminding``)."""
    listed = [{"notification_id": n, "message_id": m} for n, m in joining]
    after = rt.settings.unserved_push_after
    if reminding and after > 0:
        due_at = [r.at + timedelta(seconds=after) for r in reminding]
        reminders = {
            conversation_id: notification_id
            for notification_id, conversation_id in _NEW_REMINDER.inserted(
                connection,
                [
                    {
                        "account_id": r.account_id,
                        "conversation_id": r.conversation_id,
                        "at": r.at,
                        "due_at": due,
                        "push_due_at": due,
                    }
                    for r, due in zip(reminding, due_at, strict=True)
                ],
            )
        }
        listed.extend(
            {"notification_id": reminders[r.conversation_id], "message_id": r.message_id}
            for r in reminding
        )
        rt.pushes_due(session, min(due_at))
    if opening:
        due: list[datetime] = []
        push_due: list[datetime | None] = []
        for o in opening:
            email_delay = o.account.offline_email_delay or rt.settings.offline_email_delay
            push_delay = o.account.offline_push_delay or rt.settings.offline_push_delay
            due.append(offline_due_at(o.at, email_delay))
            push_due.append(offline_push_due_at(o.at, push_delay, email_delay))
        opened = _NEW_OFFLINE_NOTIFICATION.inserted(
            connection,
            [
                {
                    "account_id": o.account.id,
                    "conversation_id": o.conversation_id,
                    "at": o.at,
                    "due_at": due_at,
                    "push_due_at": push_due_at,
                }
                for o, due_at, push_due_at in zip(opening, due, push_due, strict=True)
            ],
        )
        ids = {conversation_id: notification_id for notification_id, conversation_id in opened}
        listed.extend(
            {"notification_id": ids[o.conversation_id], "message_id": o.message_id} for o in opening
        )
        rt.notifications_due(session, min(due))
        if pushes := [at for at in push_due if at is not None]:
            rt.pushes_due(session, min(pushes))
    IN_NOTIFICATION.run_many(connection, listed)


_OPEN_OFFLINE_NOTIFICATIONS = PlainStatement(
    select(_notifications.c.id, _notifications.c.conversation_id).where(
        _notifications.c.conversation_id.in_(bindparam("conversation_ids", expanding=True)),
        _notifications.c.kind == NotificationKind.OFFLINE_MESSAGE,
        _notifications.c.state == NotificationState.SCHEDULED,
    )
)


# On SQLite, rule 2 calls off at most this many notifications a transaction: about 16 ms
# of the one writer, where an owner with 20,000 waiting held it for 0.33 s while the sweep
# and the engine waited (docs/performance.md). The engine goes on with the rest.
CALL_OFF_CHUNK = 1_000


def note_agent_online(
    session: Session, rt: Runtime, *, agent_id: int, account_id: int, at: datetime
) -> None:
    """Rule 2: every open offline notification of a scope the agent belongs to is called off
    the moment the agent comes online.

    On PostgreSQL, one ``UPDATE`` for all of them (it locks only their rows). On SQLite,
    whose one writer everybody waits for, the first ``CALL_OFF_CHUNK`` in this transaction
    and the rest by this process's engine, a chunk a transaction (``continue_call_off``),
    all with the moment the agent came online. A notification the engine decides before
    its chunk comes, or whose chunk never comes (the process died), is decided suppressed
    all the same: the decision reads the agent's online moment from the recorded history
    (``OfflineFacts.scope_came_online``). Notification rows this session holds are not
    refreshed; none of its callers has loaded any."""
    chunk = CALL_OFF_CHUNK if rt.database.is_sqlite else None
    job = CallOffUnfinished(agent_id=agent_id, account_id=account_id, at=at)
    if _call_off(session, rt, job, chunk=chunk) == chunk:
        rt.record(session, job)


def continue_call_off(rt: Runtime) -> int:
    """``continue_call_off_in`` in a transaction of its own."""
    with rt.database.write() as session:
        return continue_call_off_in(session, rt)


def continue_call_off_in(session: Session, rt: Runtime) -> int:
    """The next chunk of the oldest call-off left unfinished in this process; how many it
    called off. Once committed, a chunk that was not full takes the call-off off
    ``rt.call_offs``; the engine goes on while that holds any (on SQLite in the group
    commit on the event loop, ``Database.run_write``, where a chunk takes its turn among
    the requests' writes and the sweep's)."""
    try:
        job = rt.call_offs[0]
    except IndexError:
        return 0
    count = _call_off(session, rt, job, chunk=CALL_OFF_CHUNK)
    if count < CALL_OFF_CHUNK:
        rt.database.after_commit(session, partial(_finished, rt, job))
    return count


def _finished(rt: Runtime, job: CallOffUnfinished) -> None:
    if rt.call_offs and rt.call_offs[0] is job:
        rt.call_offs.popleft()


def _call_off(session: Session, rt: Runtime, job: CallOffUnfinished, *, chunk: int | None) -> int:
    """Calls off the agent's scheduled offline notifications opened by ``job.at``, at most
    ``chunk`` of them; how many."""
    called_off = Decision(SuppressedBecause.AGENT_CAME_ONLINE)
    connection = session.connection()
    plan = _PLAN_OF_ACCOUNT.scalar(connection, account_id=job.account_id)
    values = {
        "account_id": job.account_id,
        "called_off": called_off.state,
        "because": called_off.reason,
        "at": job.at,
    }
    # The state changes, never the key: on PostgreSQL the rows are locked FOR NO KEY
    # UPDATE, so a visitor message adding to a batch (its foreign key takes a KEY SHARE
    # lock) neither waits for this nor, in a group-committed batch, deadlocks with it.
    # The scope rule (group_that_applies) seen from the agent's side: where a group
    # applies, the agent's scope is the conversations without a group and those of its
    # groups; where none does, every conversation of the account.
    if has_groups(plan):
        values |= {"scope_account_id": job.account_id, "agent_id": job.agent_id}
        statement = _CALL_OFF_IN_SCOPE if chunk is None else _CALL_OFF_CHUNK_IN_SCOPE
    else:
        statement = _CALL_OFF if chunk is None else _CALL_OFF_CHUNK
    if chunk is not None:
        values["chunk"] = chunk
    count = statement.changed(connection, **values)
    if count:
        rt.record(
            session,
            Decided(
                NotificationKind.OFFLINE_MESSAGE.value,
                called_off.state.value,
                called_off.reason,
                count=count,
            ),
        )
    return count


# Rule 2's UPDATE (note_agent_online): an account without groups, and one with them, where
# the agent's scope is the conversations without a group and those of its groups; whole,
# and a chunk at a time. A notification opened after the agent came online is not theirs
# to call off: by a later chunk, the agent may have gone and come back.
_calling_off = (
    Notification.account_id == bindparam("account_id"),
    Notification.kind == NotificationKind.OFFLINE_MESSAGE,
    Notification.state == NotificationState.SCHEDULED,
    Notification.opened_at <= bindparam("at"),
)
_in_scope = Notification.conversation_id.in_(
    select(Conversation.id).where(
        Conversation.account_id == bindparam("scope_account_id"),
        or_(
            Conversation.group_id.is_(None),
            Conversation.group_id.in_(
                select(GroupMember.group_id).where(GroupMember.agent_id == bindparam("agent_id"))
            ),
        ),
    )
)
_calling_off_values: dict[str, Any] = {
    "state": bindparam("called_off"),
    "reason": bindparam("because"),
    "decided_at": bindparam("at"),
    # No push either, if it was still to come: an agent of the scope is here.
    "push_due_at": None,
    "push_reason": case(
        (Notification.push_due_at.is_not(None), bindparam("because")),
        else_=Notification.push_reason,
    ),
}
_call_off_all = update(Notification).where(*_calling_off).values(_calling_off_values)
_CALL_OFF = PlainStatement(_call_off_all)
_CALL_OFF_IN_SCOPE = PlainStatement(_call_off_all.where(_in_scope))


def _chunk_of(*scope: Any) -> PlainStatement:
    """The chunk's rows by their ids alone: with the conditions repeated outside the
    subquery, SQLite walked every scheduled notification for each chunk (38 ms for 1,000
    of 100,000, against 12 ms in the whole statement)."""
    return PlainStatement(
        update(Notification)
        .where(
            Notification.id.in_(
                # In no order: SQLite walks the scheduled ones by due time
                # (ix_notifications_state_due_at) and stops at the chunk's size.
                select(Notification.id).where(*_calling_off, *scope).limit(bindparam("chunk"))
            )
        )
        .values(_calling_off_values)
    )


_CALL_OFF_CHUNK = _chunk_of()
_CALL_OFF_CHUNK_IN_SCOPE = _chunk_of(_in_scope)
_PLAN_OF_ACCOUNT = PlainStatement(select(Account.plan).where(Account.id == bindparam("account_id")))
