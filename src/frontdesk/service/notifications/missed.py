"""The missed-conversation rule's opening (docs/spec.md section 3): when a visitor's
leaving is recorded, a notification for each unserved conversation the visitor wrote in
during this visit while an agent of its scope was online, due at the leaving."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import Session

from frontdesk.core.model import ConversationStatus, MessageAuthor
from frontdesk.core.notifications import (
    NotificationKind,
    NotificationState,
    in_this_visit,
    is_missed,
    missed_decided_by_the_account,
)
from frontdesk.core.plans import group_that_applies
from frontdesk.core.presence import PresenceChange, online_at_some_moment
from frontdesk.service.events import Decided
from frontdesk.service.runtime import Runtime
from frontdesk.service.scope import online_history, scope_of
from frontdesk.store.among import among
from frontdesk.store.models import (
    Account,
    Conversation,
    Message,
    Notification,
    NotificationMessage,
    PresenceChangeRow,
    table_of,
)
from frontdesk.store.plain import PlainStatement

_notifications = table_of(Notification)
_notification_messages = table_of(NotificationMessage)

# A message listed in a notification (its batch).
IN_NOTIFICATION = PlainStatement(
    insert(_notification_messages).values(
        notification_id=bindparam("notification_id"),
        message_id=bindparam("message_id"),
        listed=True,
    )
)


@dataclass(frozen=True, slots=True)
class Departure:
    """A visitor's leaving, as the sweep records it."""

    visitor_id: int
    account_id: int
    left_at: datetime


def note_visitors_left(session: Session, rt: Runtime, departures: Sequence[Departure]) -> None:
    """The missed-conversation rule, when the leavings are recorded: for each, a
    notification per unserved conversation the visitor wrote in during this visit while an
    agent of its scope was online, due at the leaving. At most one notification per visit:
    the visit is named by its first unanswered visitor message, and a unique key on it makes
    a second one impossible.

    Set-based, so that a sweep of a few hundred leavings makes a handful of statements:
    the sweep has to keep up with the visitors arriving."""
    if not departures:
        return
    left_at = {d.visitor_id: d.left_at for d in departures}
    visitor_ids = list(left_at)
    arrived_at = _arrivals(session, left_at)
    conversations = session.execute(
        select(
            Conversation.id, Conversation.visitor_id, Conversation.account_id, Conversation.group_id
        )
        .where(
            among(Conversation.visitor_id, visitor_ids),
            Conversation.status == ConversationStatus.UNSERVED,
        )
        .order_by(Conversation.id)
    ).all()
    if not conversations:
        return
    by_id = {c.id: c for c in conversations}
    visit_messages = select(Message.conversation_id, Message.id, Message.created_at).where(
        among(Message.conversation_id, list(by_id)),
        Message.author == MessageAuthor.VISITOR,
        Message.created_at <= max(left_at.values()),
    )
    if len(arrived_at) == len(left_at):  # every visit has its start: nothing before it counts
        visit_messages = visit_messages.where(Message.created_at >= min(arrived_at.values()))
    unanswered: dict[int, list[tuple[int, datetime]]] = {}
    for conversation_id, message_id, created_at in session.execute(
        visit_messages.order_by(Message.id)
    ):
        visitor_id = by_id[conversation_id].visitor_id
        if in_this_visit(
            created_at, arrived_at=arrived_at.get(visitor_id), left_at=left_at[visitor_id]
        ):
            unanswered.setdefault(conversation_id, []).append((message_id, created_at))
    if not unanswered:
        return
    already = {
        (conversation_id, message_id)
        for conversation_id, message_id in session.execute(
            select(Notification.conversation_id, Notification.visit_message_id).where(
                among(Notification.conversation_id, list(unanswered)),
                Notification.kind == NotificationKind.MISSED_CONVERSATION,
            )
        )
    }
    accounts = {
        a.id: a
        for a in session.scalars(
            select(Account).where(among(Account.id, {by_id[c].account_id for c in unanswered}))
        )
    }
    # Each conversation's scope: its account, and its group where the plan has groups.
    scope_key: dict[int, tuple[int, int | None]] = {}
    for conversation_id in unanswered:
        row = by_id[conversation_id]
        plan = accounts[row.account_id].plan
        scope_key[conversation_id] = (row.account_id, group_that_applies(plan, row.group_id))
    starts: dict[tuple[int, int | None], datetime] = {}
    for conversation_id, messages in unanswered.items():
        key = scope_key[conversation_id]
        starts[key] = min(starts.get(key, messages[0][1]), messages[0][1])
    now = rt.clock.now()
    histories = {
        key: online_history(
            session, scope_of(session, accounts[key[0]], key[1]), start=start, now=now
        )
        for key, start in starts.items()
    }
    opened: list[dict[str, Any]] = []
    listed: dict[int, list[int]] = {}
    for conversation_id, messages in unanswered.items():
        row = by_id[conversation_id]
        first_id, first_at = messages[0]
        if (conversation_id, first_id) in already:
            continue
        key = scope_key[conversation_id]
        left = left_at[row.visitor_id]
        missed = is_missed(
            status=ConversationStatus.UNSERVED,
            first_unanswered_at=first_at,
            left_at=left,
            scope_online_between=online_at_some_moment(histories[key], start=first_at, end=left),
        )
        if not missed:
            continue
        account = accounts[row.account_id]
        decided = missed_decided_by_the_account(
            account.plan, setting_on=account.missed_conversation_email
        )
        opened.append(
            {
                "account_id": row.account_id,
                "conversation_id": conversation_id,
                # Due since the departure: the engine's lateness counts from the event that
                # made it due, so a sweep that falls behind shows there, not as 0 s.
                "due_at": left,
                "visit_message_id": first_id,
                "at": now,
                # Decided by the account alone: decided now, as the engine would at the due
                # time, so the engine does not have to come back to it (most accounts of a
                # busy installation may have these e-mails off).
                "state": NotificationState.SCHEDULED if decided is None else decided.state,
                "reason": None if decided is None else decided.reason,
                "decided_at": None if decided is None else now,
            }
        )
        listed[conversation_id] = [m for m, _ in messages]
        if decided is not None:
            lateness = (now - left).total_seconds()
            rt.record(
                session,
                Decided(
                    NotificationKind.MISSED_CONVERSATION.value,
                    decided.state.value,
                    decided.reason,
                    lateness,
                ),
            )
    if not opened:
        return
    connection = session.connection()
    notification_of = {
        conversation_id: notification_id
        for notification_id, conversation_id in _NEW_MISSED_NOTIFICATION.inserted(
            connection, opened
        )
    }
    IN_NOTIFICATION.run_many(
        connection,
        [
            {"notification_id": notification_of[conversation_id], "message_id": message_id}
            for conversation_id, message_ids in listed.items()
            for message_id in message_ids
        ],
    )
    scheduled = [o["due_at"] for o in opened if o["state"] is NotificationState.SCHEDULED]
    if scheduled:
        rt.notifications_due(session, min(scheduled))


_NEW_MISSED_NOTIFICATION = PlainStatement(
    insert(_notifications)
    .values(
        account_id=bindparam("account_id"),
        conversation_id=bindparam("conversation_id"),
        kind=NotificationKind.MISSED_CONVERSATION,
        state=bindparam("state"),
        reason=bindparam("reason"),
        opened_at=bindparam("at"),
        due_at=bindparam("due_at"),
        decided_at=bindparam("decided_at"),
        visit_message_id=bindparam("visit_message_id"),
        visitor_left_at=bindparam("due_at"),
        not_recipients=[],
    )
    .returning(_notifications.c.id, _notifications.c.conversation_id)
)


def _arrivals(session: Session, left_at: dict[int, datetime]) -> dict[int, datetime]:
    """Each leaving visitor's last arrival at or before its leaving (none: the visitor's
    whole history is one visit)."""
    latest = max(left_at.values())
    arrived: dict[int, datetime] = {}
    later: list[int] = []
    for visitor_id, at in session.execute(
        select(PresenceChangeRow.visitor_id, func.max(PresenceChangeRow.at))
        .where(
            among(PresenceChangeRow.visitor_id, list(left_at)),
            PresenceChangeRow.change == PresenceChange.VISITOR_ARRIVED,
            PresenceChangeRow.at <= latest,
        )
        .group_by(PresenceChangeRow.visitor_id)
    ):
        assert visitor_id is not None
        assert at is not None
        if at <= left_at[visitor_id]:
            arrived[visitor_id] = at
        else:  # arrived again after this leaving: its own look-up
            later.append(visitor_id)
    for visitor_id in later:
        again = session.scalar(
            select(func.max(PresenceChangeRow.at)).where(
                PresenceChangeRow.visitor_id == visitor_id,
                PresenceChangeRow.change == PresenceChange.VISITOR_ARRIVED,
                PresenceChangeRow.at <= left_at[visitor_id],
            )
        )
        if again is not None:
            arrived[visitor_id] = again
    return arrived
