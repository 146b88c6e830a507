"""The notification engine's side of the store (docs/spec.md section 3; docs/notifications.md).

Three events open and close notifications, each inside the transaction that records it, so
a notification exists exactly when its cause does:

- a visitor message (``note_visitor_message``) opens an offline-message notification or
  joins the open one;
- an agent coming online (``note_agent_online``) calls off the open offline notifications of
  every scope it belongs to;
- a visitor leaving (``note_visitor_left``) opens a missed-conversation notification when the
  conversation was missed.

The worker (``frontdesk.engine``) then calls ``decide_due`` for what is due — one transaction
that claims rows no other worker holds, asks ``frontdesk.core.notifications`` and records the
decision with its deliveries — and ``claim_deliveries`` / ``record_delivery`` around each
e-mail it sends. ``list_notifications`` reads it all back to explain it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from frontdesk.core.model import ConversationStatus, Locale, MessageAuthor, Plan
from frontdesk.core.notifications import (
    FINAL_DELIVERY_STATES,
    RECEIVED_DELIVERY_STATES,
    AgentFacts,
    Audience,
    Decision,
    DeliveryState,
    MissedFacts,
    NotificationKind,
    NotificationState,
    NotRecipientBecause,
    OfflineFacts,
    OnVisitorMessage,
    SuppressedBecause,
    after_attempt,
    audience,
    decide_missed,
    decide_offline,
    is_missed,
    missed_decided_by_the_account,
    offline_due_at,
    on_visitor_message,
    online_at_some_moment,
)
from frontdesk.core.plans import has_groups
from frontdesk.core.presence import PresenceChange, scope_agent_ids
from frontdesk.errors import NotFound
from frontdesk.mail.compose import message_id_domain
from frontdesk.mail.content import ListedMessage, NotificationEmail
from frontdesk.mail.transport import SendOutcome
from frontdesk.mail.verp import return_path, return_path_base, verp_token
from frontdesk.service.events import Decided, DeliveriesDue, DeliveryAttempted, NotificationsDue
from frontdesk.service.outbox import HourlyCaps, next_notice_at
from frontdesk.service.runtime import AgentCaller, Runtime
from frontdesk.service.scope import online_history, scope_is_online, scope_of
from frontdesk.service.secrets import VERP_KEY, installation_secret, unsubscribe_token
from frontdesk.store.models import (
    Account,
    Agent,
    Conversation,
    ConversationRead,
    Delivery,
    GroupMember,
    Message,
    Notification,
    NotificationMessage,
    PresenceChangeRow,
    Visitor,
    table_of,
)
from frontdesk.store.plain import PlainStatement

# PostgreSQL NOTIFY channel: "the engine's schedule changed".
ENGINE_CHANNEL = "frontdesk_engine"
DECIDE_BATCH = 100
_notifications = table_of(Notification)
_notification_messages = table_of(NotificationMessage)
_deliveries = table_of(Delivery)


# --- the events -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountRules:
    """What rule 1 reads of the account, loaded by the caller with the rest of its facts."""

    id: int
    plan: Plan
    offline_message_email: bool
    offline_email_delay: float | None


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
    applies = group_id if has_groups(account.plan) else None
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
        _settle(session, rt, notification, Decision(SuppressedBecause.SETTING_OFF), None, at)
        session.add(notification)
        session.flush()
        open_id = notification.id
    _IN_NOTIFICATION.run(connection, notification_id=open_id, message_id=message_id)


_OPEN_OFFLINE_NOTIFICATION = PlainStatement(
    select(_notifications.c.id).where(
        _notifications.c.conversation_id == bindparam("conversation_id"),
        _notifications.c.kind == NotificationKind.OFFLINE_MESSAGE,
        _notifications.c.state == NotificationState.SCHEDULED,
    )
)
_NEW_OFFLINE_NOTIFICATION = PlainStatement(
    insert(_notifications)
    .values(
        account_id=bindparam("account_id"),
        conversation_id=bindparam("conversation_id"),
        kind=NotificationKind.OFFLINE_MESSAGE,
        state=NotificationState.SCHEDULED,
        opened_at=bindparam("at"),
        due_at=bindparam("due_at"),
        not_recipients=[],
    )
    .returning(_notifications.c.id, _notifications.c.conversation_id)
)
_IN_NOTIFICATION = PlainStatement(
    insert(_notification_messages).values(
        notification_id=bindparam("notification_id"),
        message_id=bindparam("message_id"),
        listed=True,
    )
)


@dataclass(frozen=True, slots=True)
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


def note_visitor_messages(
    session: Session,
    rt: Runtime,
    connection: Connection,
    *,
    opening: Sequence[OfflineOpening],
    joining: Sequence[tuple[int, int]],
) -> None:
    """Rule 1's writes for many visitor messages at once, whose outcomes the caller
    decided (``on_visitor_message``, from ``open_offline_notifications_of`` and
    ``frontdesk.service.scope.accounts_online``, as ``note_visitor_message`` would): the
    notifications ``opening`` opens, and each message listed in its notification
    (``joining``: notification, message)."""
    listed = [{"notification_id": n, "message_id": m} for n, m in joining]
    if opening:
        due = [
            offline_due_at(o.at, o.account.offline_email_delay or rt.settings.offline_email_delay)
            for o in opening
        ]
        opened = _NEW_OFFLINE_NOTIFICATION.inserted(
            connection,
            [
                {
                    "account_id": o.account.id,
                    "conversation_id": o.conversation_id,
                    "at": o.at,
                    "due_at": due_at,
                }
                for o, due_at in zip(opening, due, strict=True)
            ],
        )
        ids = {conversation_id: notification_id for notification_id, conversation_id in opened}
        listed.extend(
            {"notification_id": ids[o.conversation_id], "message_id": o.message_id} for o in opening
        )
        _decisions_due(session, rt, min(due))
    _IN_NOTIFICATION.run_many(connection, listed)


_OPEN_OFFLINE_NOTIFICATIONS = PlainStatement(
    select(_notifications.c.id, _notifications.c.conversation_id).where(
        _notifications.c.conversation_id.in_(bindparam("conversation_ids", expanding=True)),
        _notifications.c.kind == NotificationKind.OFFLINE_MESSAGE,
        _notifications.c.state == NotificationState.SCHEDULED,
    )
)


def note_agent_online(
    session: Session, rt: Runtime, *, agent_id: int, account_id: int, at: datetime
) -> None:
    """Rule 2: every open offline notification of a scope the agent belongs to is called off
    the moment the agent comes online.

    One ``UPDATE`` for all of them: an owner coming online may call off tens of thousands,
    and the transaction holds the turn to write meanwhile (the sweep and the engine wait
    for it). Notification rows this session holds are not refreshed; none of its callers
    has loaded any."""
    called_off = Decision(SuppressedBecause.AGENT_CAME_ONLINE)
    connection = session.connection()
    plan = _PLAN_OF_ACCOUNT.scalar(connection, account_id=account_id)
    values = {
        "account_id": account_id,
        "called_off": called_off.state,
        "because": called_off.reason,
        "at": at,
    }
    # The state changes, never the key: on PostgreSQL the rows are locked FOR NO KEY
    # UPDATE, so a visitor message adding to a batch (its foreign key takes a KEY SHARE
    # lock) neither waits for this nor, in a group-committed batch, deadlocks with it.
    if has_groups(plan):
        count = _CALL_OFF_IN_SCOPE.changed(
            connection, **values, scope_account_id=account_id, agent_id=agent_id
        )
    else:
        count = _CALL_OFF.changed(connection, **values)
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


# Rule 2's UPDATE (note_agent_online): an account without groups, and one with them, where
# the agent's scope is the conversations without a group and those of its groups.
_call_off = (
    update(Notification)
    .where(
        Notification.account_id == bindparam("account_id"),
        Notification.kind == NotificationKind.OFFLINE_MESSAGE,
        Notification.state == NotificationState.SCHEDULED,
    )
    .values(state=bindparam("called_off"), reason=bindparam("because"), decided_at=bindparam("at"))
)
_CALL_OFF = PlainStatement(_call_off)
_CALL_OFF_IN_SCOPE = PlainStatement(
    _call_off.where(
        Notification.conversation_id.in_(
            select(Conversation.id).where(
                Conversation.account_id == bindparam("scope_account_id"),
                or_(
                    Conversation.group_id.is_(None),
                    Conversation.group_id.in_(
                        select(GroupMember.group_id).where(
                            GroupMember.agent_id == bindparam("agent_id")
                        )
                    ),
                ),
            )
        )
    )
)
_PLAN_OF_ACCOUNT = PlainStatement(select(Account.plan).where(Account.id == bindparam("account_id")))


@dataclass(frozen=True, slots=True)
class Departure:
    """A visitor's leaving, as the sweep records it."""

    visitor_id: int
    account_id: int
    left_at: datetime


def note_visitor_left(
    session: Session, rt: Runtime, *, visitor: Visitor, left_at: datetime
) -> None:
    """The missed-conversation rule, when one visitor's leaving is recorded."""
    note_visitors_left(session, rt, [Departure(visitor.id, visitor.account_id, left_at)])


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
            Conversation.visitor_id.in_(visitor_ids),
            Conversation.status == ConversationStatus.UNSERVED,
        )
        .order_by(Conversation.id)
    ).all()
    if not conversations:
        return
    by_id = {c.id: c for c in conversations}
    visit_messages = select(Message.conversation_id, Message.id, Message.created_at).where(
        Message.conversation_id.in_(list(by_id)),
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
        arrived = arrived_at.get(visitor_id)
        if created_at <= left_at[visitor_id] and (arrived is None or created_at >= arrived):
            unanswered.setdefault(conversation_id, []).append((message_id, created_at))
    if not unanswered:
        return
    already = {
        (conversation_id, message_id)
        for conversation_id, message_id in session.execute(
            select(Notification.conversation_id, Notification.visit_message_id).where(
                Notification.conversation_id.in_(list(unanswered)),
                Notification.kind == NotificationKind.MISSED_CONVERSATION,
            )
        )
    }
    accounts = {
        a.id: a
        for a in session.scalars(
            select(Account).where(Account.id.in_({by_id[c].account_id for c in unanswered}))
        )
    }
    # Each conversation's scope: its account, and its group where the plan has groups.
    scope_key: dict[int, tuple[int, int | None]] = {}
    for conversation_id in unanswered:
        row = by_id[conversation_id]
        plan = accounts[row.account_id].plan
        scope_key[conversation_id] = (row.account_id, row.group_id if has_groups(plan) else None)
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
    _IN_NOTIFICATION.run_many(
        connection,
        [
            {"notification_id": notification_of[conversation_id], "message_id": message_id}
            for conversation_id, message_ids in listed.items()
            for message_id in message_ids
        ],
    )
    scheduled = [o["due_at"] for o in opened if o["state"] is NotificationState.SCHEDULED]
    if scheduled:
        _decisions_due(session, rt, min(scheduled))


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
            PresenceChangeRow.visitor_id.in_(list(left_at)),
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


# --- deciding -------------------------------------------------------------------------------


def decide_due(rt: Runtime, *, limit: int = DECIDE_BATCH) -> int:
    """Decide the scheduled notifications that are due, in one transaction; returns how
    many. Rows another worker is deciding are skipped (``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` lets one writer in at a time), and a decided row
    is no longer ``scheduled``, so no notification is ever decided twice."""
    now = rt.clock.now()
    with rt.database.write() as session:
        due = session.scalars(
            select(Notification)
            .where(
                Notification.state == NotificationState.SCHEDULED,
                Notification.due_at <= now,
            )
            .order_by(Notification.due_at, Notification.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not due:
            return 0
        facts = _DueFacts(session, due, now)
        caps = HourlyCaps(session, rt, facts.accounts, now)
        for notification in due:
            decision, reached = facts.decide(notification)
            lateness = (now - notification.due_at).total_seconds()
            _settle(
                session,
                rt,
                notification,
                decision,
                reached,
                now,
                lateness=lateness,
                agents=facts.agents,
                batch=facts.batches.get(notification.id, []),
                caps=caps,
            )
        return len(due)


class _DueFacts:
    """What a batch of due notifications is decided from, read in a few statements for the
    whole batch (a statement or ten per notification made the engine fall behind at the
    rate visitors write): their conversations, accounts, batches of messages, the agents
    of their accounts and groups, read marks, and each scope's online history."""

    def __init__(self, session: Session, due: Sequence[Notification], now: datetime) -> None:
        self.now = now
        self.conversations = {
            c.id: c
            for c in session.scalars(
                select(Conversation).where(Conversation.id.in_({n.conversation_id for n in due}))
            )
        }
        account_ids = {n.account_id for n in due}
        self.accounts = {
            a.id: a for a in session.scalars(select(Account).where(Account.id.in_(account_ids)))
        }
        self.batches: dict[int, list[int]] = {}
        for notification_id, message_id in session.execute(
            select(NotificationMessage.notification_id, NotificationMessage.message_id)
            .where(NotificationMessage.notification_id.in_([n.id for n in due]))
            .order_by(NotificationMessage.notification_id, NotificationMessage.message_id)
        ):
            self.batches.setdefault(notification_id, []).append(message_id)
        self.agents = {
            a.id: a
            for a in session.scalars(
                select(Agent).where(Agent.account_id.in_(account_ids)).order_by(Agent.id)
            )
        }
        groups = {group_id for n in due if (group_id := self._group(n)) is not None}
        self.members: dict[int, set[int]] = {group_id: set() for group_id in groups}
        if groups:
            for group_id, agent_id in session.execute(
                select(GroupMember.group_id, GroupMember.agent_id).where(
                    GroupMember.group_id.in_(groups)
                )
            ):
                self.members[group_id].add(agent_id)
        offline = [n for n in due if n.kind is NotificationKind.OFFLINE_MESSAGE]
        self.read_up_to: dict[int, int | None] = {}
        if offline:
            for conversation_id, read_up_to in session.execute(
                select(
                    ConversationRead.conversation_id,
                    func.max(ConversationRead.last_read_message_id),
                )
                .where(ConversationRead.conversation_id.in_({n.conversation_id for n in offline}))
                .group_by(ConversationRead.conversation_id)
            ):
                self.read_up_to[conversation_id] = read_up_to
        # One history per scope, from the earliest opening that asks about it: a longer
        # history answers a later start the same (online_at_some_moment).
        starts: dict[tuple[int, int | None], datetime] = {}
        for n in offline:
            key = (n.account_id, self._group(n))
            starts[key] = min(starts.get(key, n.opened_at), n.opened_at)
        self.histories = {
            key: online_history(session, self._scope(*key), start=start, now=now)
            for key, start in starts.items()
        }

    def _group(self, notification: Notification) -> int | None:
        return _group_that_applies(
            self.accounts[notification.account_id],
            self.conversations[notification.conversation_id],
        )

    def _scope(self, account_id: int, group_id: int | None) -> frozenset[int]:
        account = self.accounts[account_id]
        return scope_agent_ids(
            plan=account.plan,
            group_member_ids=None if group_id is None else self.members[group_id],
            active_agent_ids=[
                a.id for a in self.agents.values() if a.account_id == account_id and a.active
            ],
        )

    def _audience(self, account_id: int, group_id: int | None, kind: NotificationKind) -> Audience:
        members = None if group_id is None else self.members[group_id]
        return audience(
            [
                AgentFacts(
                    agent_id=agent.id,
                    active=agent.active,
                    in_scope=members is None or agent.id in members,
                    wants_kind=(
                        agent.notify_offline_message
                        if kind is NotificationKind.OFFLINE_MESSAGE
                        else agent.notify_missed_conversation
                    ),
                    confirmed=agent.email_confirmed_at is not None,
                )
                for agent in self.agents.values()
                if agent.account_id == account_id
            ]
        )

    def decide(self, notification: Notification) -> tuple[Decision, Audience]:
        account = self.accounts[notification.account_id]
        conversation = self.conversations[notification.conversation_id]
        batch = self.batches.get(notification.id, [])
        group_id = self._group(notification)
        reached = self._audience(account.id, group_id, notification.kind)
        if notification.kind is NotificationKind.MISSED_CONVERSATION:
            facts = MissedFacts(
                plan=account.plan,
                setting_on=account.missed_conversation_email,
                unanswered=batch,
                audience=reached,
            )
            return decide_missed(facts), reached
        history = self.histories[(account.id, group_id)]
        read_up_to = self.read_up_to.get(conversation.id)
        offline = OfflineFacts(
            setting_on=account.offline_message_email,
            scope_came_online=online_at_some_moment(
                history, start=notification.opened_at, end=self.now
            ),
            status=conversation.status,
            batch=batch,
            opened_in_dashboard=frozenset(m for m in batch if read_up_to and m <= read_up_to),
            audience=reached,
        )
        return decide_offline(offline), reached


def _settle(
    session: Session,
    rt: Runtime,
    notification: Notification,
    decision: Decision,
    reached: Audience | None,
    now: datetime,
    *,
    lateness: float | None = None,
    agents: Mapping[int, Agent] | None = None,
    batch: Sequence[int] | None = None,
    caps: HourlyCaps | None = None,
) -> None:
    """Record a decision; for one to send, the deliveries that will carry it. ``lateness``
    (seconds past the due time) is given for the decisions the worker makes at due time;
    ``agents`` (the recipients' rows) and ``batch`` (the notification's message ids) when
    the caller has them already; ``caps``, the batch's hourly caps (a delivery beyond one
    is held for the agent's digest)."""
    notification.state = decision.state
    notification.reason = decision.reason
    notification.decided_at = now
    audience_decided = decision.send or decision.reason in (
        SuppressedBecause.NO_RECIPIENTS,
        SuppressedBecause.OPTED_OUT,
        SuppressedBecause.UNCONFIRMED,
    )
    if reached is not None and audience_decided:
        notification.not_recipients = [[a, r.value] for a, r in reached.not_recipients]
    if decision.send:
        if batch is None or not set(batch).issubset(decision.message_ids):
            session.execute(
                update(NotificationMessage)
                .where(
                    NotificationMessage.notification_id == notification.id,
                    NotificationMessage.message_id.not_in(decision.message_ids),
                )
                .values(listed=False)
                .execution_options(synchronize_session=False)
            )
        domain = message_id_domain(rt.settings.mail_from)
        recipients = (
            [agents[agent_id] for agent_id in sorted(decision.recipients)]
            if agents is not None
            else session.scalars(
                select(Agent).where(Agent.id.in_(decision.recipients)).order_by(Agent.id)
            ).all()
        )
        if caps is None:
            caps = HourlyCaps(session, rt, [notification.account_id], now)
        for agent in recipients:
            delivery = Delivery(
                notification_id=notification.id,
                agent_id=agent.id,
                email=agent.email,
                message_id_header=(
                    f"<frontdesk.{notification.id}.{agent.id}.{secrets.token_hex(6)}@{domain}>"
                ),
                state=DeliveryState.PENDING,
                next_attempt_at=now,
                created_at=now,
            )
            if not caps.admits(agent.account_id, agent.id):
                caps.hold(session, delivery, agent)
            session.add(delivery)
        deliveries_due(session, rt)
    rt.record(
        session, Decided(notification.kind.value, decision.state.value, decision.reason, lateness)
    )


def _group_that_applies(account: Account, conversation: Conversation) -> int | None:
    return conversation.group_id if has_groups(account.plan) else None


def _decisions_due(session: Session, rt: Runtime, due: datetime | None = None) -> None:
    """The transaction makes notifications due (``due``: the earliest, ``None`` for now)."""
    rt.record(session, NotificationsDue(due))
    rt.database.notify(session, ENGINE_CHANNEL)


def deliveries_due(session: Session, rt: Runtime, due: datetime | None = None) -> None:
    """The transaction makes e-mails to send (``due``: the earliest attempt, ``None`` for
    now)."""
    rt.record(session, DeliveriesDue(due))
    rt.database.notify(session, ENGINE_CHANNEL)


# --- delivering -----------------------------------------------------------------------------


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
            .where(Delivery.id.in_(ids))
            .values(lease_until=lease_until, lease_token=token)
            .execution_options(synchronize_session=False)
        )
        sources = _what_e_mails_are_written_from(session, ids)
        domain = message_id_domain(rt.settings.mail_from)
        base_url = rt.settings.public_url.rstrip("/")
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
                    email=_email_of(rt, source, domain, base_url),
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
    rows = session.execute(_SOURCE.where(Delivery.id.in_(ids))).all()
    listed: dict[int, list[ListedMessage]] = {row.notification_id: [] for row in rows}
    for notification_id, text, created_at in session.execute(
        select(NotificationMessage.notification_id, Message.text, Message.created_at)
        .join(Message, NotificationMessage.message_id == Message.id)
        .where(
            NotificationMessage.notification_id.in_(listed),
            NotificationMessage.listed.is_(True),
        )
        .order_by(Message.id)
    ):
        listed[notification_id].append(ListedMessage(text=text, created_at=created_at))
    shared: dict[int, tuple[ListedMessage, ...]] = {n: tuple(m) for n, m in listed.items()}
    return [_Source(**row._mapping, messages=shared[row.notification_id]) for row in rows]


def _email_of(rt: Runtime, source: _Source, domain: str, base_url: str) -> NotificationEmail:
    assert source.decided_at is not None
    unsubscribe_url = None
    if source.agent_id is not None:
        token = unsubscribe_token(rt, source.agent_id, source.kind)
        unsubscribe_url = f"{base_url}/api/v1/unsubscribe/{token}"
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
        conversation_url=f"{base_url}/dashboard/conversations/{conversation_id}",
        visitor_name=source.visitor_name,
        visitor_email=source.visitor_email,
        page_url=source.page_url,
        messages=source.messages,
        decided_at=source.decided_at,
        visitor_left_at=source.visitor_left_at,
        time_zone=source.agent_time_zone if source.agent_time_zone is not None else "UTC",
        thread_id=f"<frontdesk.conversation.{conversation_id}@{domain}>",
        list_id=f"<account-{source.account_id}.notifications.{domain}>",
        unsubscribe_url=unsubscribe_url,
    )


def record_delivery(rt: Runtime, claimed: ClaimedDelivery, outcome: SendOutcome) -> bool:
    """Record what the mail server said, if this worker still holds the lease (``False``
    when another worker took the delivery over: its record is the one that counts)."""
    return record_deliveries(rt, [(claimed, outcome)])[0]


def record_deliveries(
    rt: Runtime, outcomes: Sequence[tuple[ClaimedDelivery, SendOutcome]]
) -> list[bool]:
    """``record_delivery`` for several outcomes in one transaction: a worker sending over
    several connections records together the outcomes that arrive while a record
    transaction runs, instead of making each wait its turn for a transaction of its own."""
    with rt.database.write() as session:
        return record_outcomes(session, rt, outcomes)


def record_outcomes(
    session: Session, rt: Runtime, outcomes: Sequence[tuple[ClaimedDelivery, SendOutcome]]
) -> list[bool]:
    """``record_deliveries`` in the caller's transaction (``Database.run_write``)."""
    now = rt.clock.now()
    return [_record(session, rt, claimed, outcome, now) for claimed, outcome in outcomes]


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
            text=outcome.text[:1000],
        )
        if recorded is not None:
            rt.record(session, DeliveryAttempted("sent"))
        return recorded is not None
    settings = rt.settings
    delivery = session.scalar(
        select(Delivery)
        .where(Delivery.id == claimed.delivery_id, Delivery.lease_token == claimed.lease_token)
        .with_for_update()
    )
    if delivery is None:
        return False
    delivery.lease_until = None
    delivery.lease_token = None
    delivery.attempts += 1
    first_attempt_at = delivery.first_attempt_at or claimed.claimed_at
    delivery.first_attempt_at = first_attempt_at
    delivery.last_attempt_at = now
    delivery.smtp_code = outcome.code
    after = after_attempt(
        accepted=outcome.accepted,
        code=outcome.code,
        text=outcome.text,
        attempts=delivery.attempts,
        first_attempt_at=first_attempt_at,
        now=now,
        retry_base=settings.smtp_retry_base,
        retry_for=settings.smtp_retry_for,
    )
    delivery.state = after.state
    delivery.smtp_text = after.smtp_text[:1000]
    delivery.next_attempt_at = after.next_attempt_at
    if after.state is DeliveryState.SENT:
        delivery.sent_at = now
    if after.next_attempt_at is not None:
        deliveries_due(session, rt, after.next_attempt_at)
    session.flush()
    fail_if_nobody_got_it(session, delivery.notification_id)
    rt.record(session, DeliveryAttempted(after.result))
    return True


_RECORD_SENT = PlainStatement(
    update(_deliveries)
    .where(
        _deliveries.c.id == bindparam("delivery"),
        _deliveries.c.lease_token == bindparam("token"),
    )
    .values(
        state=DeliveryState.SENT,
        sent_at=bindparam("now"),
        next_attempt_at=None,
        lease_until=None,
        lease_token=None,
        attempts=_deliveries.c.attempts + 1,
        first_attempt_at=func.coalesce(_deliveries.c.first_attempt_at, bindparam("claimed_at")),
        last_attempt_at=bindparam("now"),
        smtp_code=bindparam("code"),
        smtp_text=bindparam("text"),
    )
    .returning(_deliveries.c.id)
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
        deliveries_due(session, rt)


def fail_if_nobody_got_it(session: Session, notification_id: int) -> None:
    """Turn the notification ``failed`` once every delivery is final and none of them is
    ``sent`` (refused, given up, or bounced): nobody got it. Called after each outcome, and
    after a bounce (``frontdesk.service.bounces``)."""
    states = set(
        session.scalars(select(Delivery.state).where(Delivery.notification_id == notification_id))
    )
    if states and states <= FINAL_DELIVERY_STATES and not states & RECEIVED_DELIVERY_STATES:
        session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(state=NotificationState.FAILED)
        )


def next_decision_at(rt: Runtime) -> datetime | None:
    """The earliest moment a scheduled notification falls due."""
    with rt.database.read() as session:
        return session.scalar(
            select(func.min(Notification.due_at)).where(
                Notification.state == NotificationState.SCHEDULED
            )
        )


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


# --- explaining -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NotificationView:
    notification: Notification
    message_ids: list[int]
    listed_message_ids: list[int]
    deliveries: list[Delivery]

    @property
    def not_recipients(self) -> list[tuple[int, NotRecipientBecause]]:
        return [(int(a), NotRecipientBecause(r)) for a, r in self.notification.not_recipients]

    def concerns(self, agent_id: int) -> bool:
        """Whether the decision had this agent in view: it was a recipient or was left out
        for a reason of its own, or the decision concerned everybody alike."""
        if self.notification.state is NotificationState.SCHEDULED:
            return True
        if any(d.agent_id == agent_id for d in self.deliveries):
            return True
        if any(a == agent_id for a, _ in self.not_recipients):
            return True
        return not self.deliveries and not self.notification.not_recipients


def list_notifications(
    rt: Runtime,
    caller: AgentCaller,
    *,
    conversation_id: int | None,
    agent_id: int | None,
    limit: int,
) -> list[NotificationView]:
    """The engine's decisions in the caller's account, oldest first (the newest ``limit``)."""
    with rt.database.read() as session:
        if conversation_id is not None:
            _own(session, Conversation, conversation_id, caller, "conversation")
        if agent_id is not None:
            _own(session, Agent, agent_id, caller, "agent")
        views = _views(session, account_id=caller.account_id, conversation_id=conversation_id)
    if agent_id is not None:
        views = [v for v in views if v.concerns(agent_id)]
    return views[-limit:]


def explain_conversation(
    rt: Runtime, conversation_id: int
) -> tuple[Conversation, list[NotificationView]]:
    """Every decision about one conversation, for the administrator's CLI."""
    with rt.database.read() as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            raise NotFound(
                f"There is no conversation {conversation_id}.", code="conversation_not_found"
            )
        return conversation, _views(
            session, account_id=conversation.account_id, conversation_id=conversation_id
        )


def views_of_account(rt: Runtime, account_id: int) -> list[NotificationView]:
    """Every decision of one account, oldest first."""
    with rt.database.read() as session:
        return _views(session, account_id=account_id, conversation_id=None)


def _own(
    session: Session,
    model: type[Conversation] | type[Agent],
    id_: int,
    caller: AgentCaller,
    name: str,
) -> None:
    found = session.scalar(
        select(model.id).where(model.id == id_, model.account_id == caller.account_id)
    )
    if found is None:
        raise NotFound(f"There is no {name} {id_} in this account.", code=f"{name}_not_found")


def _views(
    session: Session, *, account_id: int, conversation_id: int | None
) -> list[NotificationView]:
    query = select(Notification).where(Notification.account_id == account_id)
    if conversation_id is not None:
        query = query.where(Notification.conversation_id == conversation_id)
    notifications = session.scalars(query.order_by(Notification.id)).all()
    ids = [n.id for n in notifications]
    messages: dict[int, list[tuple[int, bool]]] = {i: [] for i in ids}
    deliveries: dict[int, list[Delivery]] = {i: [] for i in ids}
    if ids:
        for row in session.execute(
            select(
                NotificationMessage.notification_id,
                NotificationMessage.message_id,
                NotificationMessage.listed,
            )
            .where(NotificationMessage.notification_id.in_(ids))
            .order_by(NotificationMessage.message_id)
        ):
            messages[row.notification_id].append((row.message_id, row.listed))
        for delivery in session.scalars(
            select(Delivery).where(Delivery.notification_id.in_(ids)).order_by(Delivery.id)
        ):
            deliveries[delivery.notification_id].append(delivery)
    return [
        NotificationView(
            notification=n,
            message_ids=[m for m, _ in messages[n.id]],
            listed_message_ids=[m for m, listed in messages[n.id] if listed],
            deliveries=deliveries[n.id],
        )
        for n in notifications
    ]
