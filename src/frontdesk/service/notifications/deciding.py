"""Deciding the notifications that are due (docs/spec.md section 3): one transaction claims
the rows no other worker holds, reads the facts of the whole batch, asks
``frontdesk.core.notifications`` and records each decision with the deliveries that will
carry it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from frontdesk.core.model import MessageAuthor
from frontdesk.core.notifications import (
    AgentFacts,
    Audience,
    Decision,
    DeliveryState,
    MissedFacts,
    NotificationKind,
    NotificationState,
    OfflineFacts,
    SuppressedBecause,
    audience,
    decide_missed,
    decide_offline,
    opened_in_dashboard,
)
from frontdesk.core.plans import group_that_applies
from frontdesk.core.presence import online_at_some_moment, scope_agent_ids
from frontdesk.core.webhooks import WebhookEvent, wants
from frontdesk.mail.identifiers import message_id_domain, notification_message_id
from frontdesk.service import alerts, webhooks
from frontdesk.service.events import Decided
from frontdesk.service.outbox import HourlyCaps
from frontdesk.service.runtime import Runtime
from frontdesk.service.scope import online_history
from frontdesk.store.among import among
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
)

DECIDE_BATCH = 100


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
                Notification.kind != NotificationKind.UNSERVED_CONVERSATION,  # a push only
            )
            .order_by(Notification.due_at, Notification.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not due:
            return 0
        facts = DueFacts(session, due, now)
        caps = HourlyCaps(session, rt, facts.accounts, now)
        alerting = alerts.accounts_alerting_of_nobody(session, facts.accounts)
        for notification in due:
            decision, reached = facts.decide(notification)
            lateness = (now - notification.due_at).total_seconds()
            settle(
                session,
                rt,
                notification,
                decision,
                reached=reached,
                now=now,
                lateness=lateness,
                agents=facts.agents,
                batch=facts.batches.get(notification.id, []),
                caps=caps,
            )
            # Nobody to tell is told to the owners and admins; somebody told again ends it
            # (docs/reachability.md).
            if decision.reason in _NOBODY_EMAILED:
                assert decision.reason is not None
                alerts.nobody_emailed(
                    session, rt, notification, decision.reason, facts.group_of(notification), now
                )
            elif decision.send and notification.account_id in alerting:
                alerts.somebody_emailed(
                    session, rt, notification.account_id, facts.group_of(notification), now
                )
            hooks = facts.accounts[notification.account_id].webhook_events
            if wants(hooks, _EVENTS[notification.kind]):
                tell_webhooks(session, rt, facts, notification, decision)
            if notification.kind is NotificationKind.MISSED_CONVERSATION and (
                decision.send or decision.reason in _NOBODY_EMAILED
            ):
                # The missed conversation's push goes with its e-mail (docs/push.md).
                notification.push_due_at = now
                rt.pushes_due(session, now)
        return len(due)


_EVENTS = {
    NotificationKind.OFFLINE_MESSAGE: WebhookEvent.OFFLINE_MESSAGE,
    NotificationKind.MISSED_CONVERSATION: WebhookEvent.MISSED_CONVERSATION,
}
# A notification whose e-mail nobody gets for these reasons still tells the webhooks: the
# visitor was not answered, only no agent wants (or may get) the e-mail.
_NOBODY_EMAILED = (
    SuppressedBecause.NO_RECIPIENTS,
    SuppressedBecause.OPTED_OUT,
    SuppressedBecause.UNCONFIRMED,
)


def tell_webhooks(
    session: Session, rt: Runtime, facts: DueFacts, notification: Notification, decision: Decision
) -> None:
    """``notification.offline_message`` or ``notification.missed_conversation``, when the
    notification is decided to be sent, or would be but nobody gets its e-mail
    (docs/webhooks.md): in the deciding transaction, with the messages it tells of."""
    if not (decision.send or decision.reason in _NOBODY_EMAILED):
        return
    conversation = facts.conversations[notification.conversation_id]
    listed = decision.message_ids if decision.send else facts.batches.get(notification.id, [])
    messages = session.scalars(
        select(Message).where(among(Message.id, listed)).order_by(Message.id)
    ).all()
    webhooks.emit(
        session,
        rt,
        account_id=notification.account_id,
        mask=facts.accounts[notification.account_id].webhook_events,
        event=_EVENTS[notification.kind],
        notification_id=notification.id,
        data=webhooks.about(rt, conversation)
        | {
            "notification": {
                "id": notification.id,
                "kind": notification.kind.value,
                "opened_at": webhooks.iso(notification.opened_at),
                "decided_at": webhooks.iso(facts.now),
                "state": notification.state.value,
                "reason": None if notification.reason is None else str(notification.reason),
                "emailed": [
                    {"id": agent_id, "name": facts.agents[agent_id].name}
                    for agent_id in sorted(decision.recipients)
                ],
            },
            "messages": [
                webhooks.message_data(
                    m.id,
                    author=m.author.value,
                    text=m.text,
                    at=m.created_at,
                    agent=None if m.agent_id is None else (m.agent_id, _name(facts, m.agent_id)),
                )
                for m in messages
            ],
        },
    )


def _wants(agent: Agent, kind: NotificationKind, *, push: bool) -> bool:
    """The agent's own choice of this kind on this channel (``/me/notifications``)."""
    if push:
        if kind is NotificationKind.UNSERVED_CONVERSATION:
            return agent.unserved_conversation_push
        if kind is NotificationKind.MISSED_CONVERSATION:
            return agent.missed_conversation_push
        return agent.offline_message_push
    if kind is NotificationKind.OFFLINE_MESSAGE:
        return agent.offline_message_email
    return agent.missed_conversation_email


def _name(facts: DueFacts, agent_id: int) -> str:
    agent = facts.agents.get(agent_id)
    return agent.name if agent is not None else ""


class DueFacts:
    """What a batch of due notifications is decided from, read in a few statements for the
    whole batch (a statement or ten per notification made the engine fall behind at the
    rate visitors write): their conversations, accounts, batches of messages, the agents
    of their accounts and groups, read marks, and each scope's online history."""

    def __init__(self, session: Session, due: Sequence[Notification], now: datetime) -> None:
        self.now = now
        self.conversations = {
            c.id: c
            for c in session.scalars(
                select(Conversation).where(among(Conversation.id, {n.conversation_id for n in due}))
            )
        }
        account_ids = {n.account_id for n in due}
        self.accounts = {
            a.id: a for a in session.scalars(select(Account).where(among(Account.id, account_ids)))
        }
        self.batches: dict[int, list[int]] = {}
        for notification_id, message_id in session.execute(
            select(NotificationMessage.notification_id, NotificationMessage.message_id)
            .where(among(NotificationMessage.notification_id, [n.id for n in due]))
            .order_by(NotificationMessage.notification_id, NotificationMessage.message_id)
        ):
            self.batches.setdefault(notification_id, []).append(message_id)
        self.agents = {
            a.id: a
            for a in session.scalars(
                select(Agent).where(among(Agent.account_id, account_ids)).order_by(Agent.id)
            )
        }
        groups = {group_id for n in due if (group_id := self._group(n)) is not None}
        self.members: dict[int, set[int]] = {group_id: set() for group_id in groups}
        if groups:
            for group_id, agent_id in session.execute(
                select(GroupMember.group_id, GroupMember.agent_id).where(
                    among(GroupMember.group_id, groups)
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
                .where(
                    among(ConversationRead.conversation_id, {n.conversation_id for n in offline})
                )
                .group_by(ConversationRead.conversation_id)
            ):
                self.read_up_to[conversation_id] = read_up_to
        # The newest join or answer of each conversation (a system message is a join or
        # a close; a closed conversation is suppressed before this counts).
        self.answered_up_to: dict[int, int] = {}
        if offline:
            for conversation_id, answered_up_to in session.execute(
                select(Message.conversation_id, func.max(Message.id))
                .where(
                    among(Message.conversation_id, {n.conversation_id for n in offline}),
                    Message.author.in_((MessageAuthor.AGENT, MessageAuthor.SYSTEM)),
                )
                .group_by(Message.conversation_id)
            ):
                self.answered_up_to[conversation_id] = answered_up_to
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

    def group_of(self, notification: Notification) -> int | None:
        """The group the notification's scope is (``None``: the whole account)."""
        return self._group(notification)

    def _group(self, notification: Notification) -> int | None:
        return group_that_applies(
            self.accounts[notification.account_id].plan,
            self.conversations[notification.conversation_id].group_id,
        )

    def _scope(self, account_id: int, group_id: int | None) -> frozenset[int]:
        return scope_agent_ids(
            group_member_ids=None if group_id is None else self.members[group_id],
            active_agent_ids=[
                a.id for a in self.agents.values() if a.account_id == account_id and a.active
            ],
        )

    def _audience(
        self, account_id: int, group_id: int | None, kind: NotificationKind, *, push: bool = False
    ) -> Audience:
        """Who of the account gets it by e-mail, or with ``push`` its offline message's push
        (the agent's push choice; a push needs no confirmed address)."""
        members = None if group_id is None else self.members[group_id]
        return audience(
            [
                AgentFacts(
                    agent_id=agent.id,
                    active=agent.active,
                    in_scope=members is None or agent.id in members,
                    wants_kind=_wants(agent, kind, push=push),
                    confirmed=push or agent.email_confirmed_at is not None,
                )
                for agent in self.agents.values()
                if agent.account_id == account_id
            ]
        )

    def push_audience(self, notification: Notification) -> Audience:
        return self._audience(
            notification.account_id, self._group(notification), notification.kind, push=True
        )

    def decide(self, notification: Notification) -> tuple[Decision, Audience]:
        account = self.accounts[notification.account_id]
        batch = self.batches.get(notification.id, [])
        reached = self._audience(account.id, self._group(notification), notification.kind)
        if notification.kind is NotificationKind.MISSED_CONVERSATION:
            facts = MissedFacts(
                plan=account.plan,
                setting_on=account.missed_conversation_email,
                unanswered=batch,
                audience=reached,
            )
            return decide_missed(facts), reached
        return decide_offline(self.offline_facts(notification, reached)), reached

    def offline_facts(self, notification: Notification, reached: Audience) -> OfflineFacts:
        """Rule 3's facts of an offline-message notification as of now, for ``reached``."""
        account = self.accounts[notification.account_id]
        conversation = self.conversations[notification.conversation_id]
        batch = self.batches.get(notification.id, [])
        history = self.histories[(account.id, self._group(notification))]
        return OfflineFacts(
            setting_on=account.offline_message_email,
            scope_came_online=online_at_some_moment(
                history, start=notification.opened_at, end=self.now
            ),
            status=conversation.status,
            batch=batch,
            opened_in_dashboard=opened_in_dashboard(batch, self.read_up_to.get(conversation.id)),
            audience=reached,
            served_since=bool(batch) and self.answered_up_to.get(conversation.id, 0) > batch[0],
        )


def settle(
    session: Session,
    rt: Runtime,
    notification: Notification,
    decision: Decision,
    *,
    reached: Audience | None,
    now: datetime,
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
    if notification.push_due_at is not None:
        # Decided before its push was made (the push stage fell behind, or its delay was
        # as long as the e-mail's): the e-mail, or its suppression, is the last word.
        notification.push_due_at = None
        notification.push_reason = decision.reason
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
                select(Agent).where(among(Agent.id, decision.recipients)).order_by(Agent.id)
            ).all()
        )
        if caps is None:
            caps = HourlyCaps(session, rt, [notification.account_id], now)
        for agent in recipients:
            delivery = Delivery(
                notification_id=notification.id,
                agent_id=agent.id,
                email=agent.email,
                message_id_header=notification_message_id(notification.id, agent.id, domain),
                state=DeliveryState.PENDING,
                next_attempt_at=now,
                created_at=now,
            )
            if not caps.admits(agent.account_id, agent.id):
                caps.hold(session, delivery, agent)
            session.add(delivery)
        rt.deliveries_due(session)
    rt.record(
        session, Decided(notification.kind.value, decision.state.value, decision.reason, lateness)
    )


def next_decision_at(rt: Runtime) -> datetime | None:
    """The earliest moment a scheduled notification falls due."""
    with rt.database.read() as session:
        return session.scalar(
            select(func.min(Notification.due_at)).where(
                Notification.state == NotificationState.SCHEDULED,
                Notification.kind != NotificationKind.UNSERVED_CONVERSATION,
            )
        )
