"""The push before the e-mail (docs/push.md): an offline-message notification still open
``offline_push_delay`` after the message pushes the agents of its scope who want pushes,
to every browser and phone of theirs subscribed.

``claim_pushes`` decides the due ones in one transaction, as ``decide_due`` decides
e-mails (the same facts, the same rule 3 as of now: a message read, a conversation served
or closed pushes nobody), clears their ``push_due_at`` and writes a ``sending`` row for
each push; the engine then sends them and ``record_push_answers`` records what each push
service answered. A push is made at most once: a worker that dies between the claim and the
answer leaves its rows ``sending``, and the e-mail, still to come, is the safety net.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from frontdesk.core.model import DeviceStatus, Locale
from frontdesk.core.notifications import (
    NotificationKind,
    NotificationState,
    PushState,
    SuppressedBecause,
    decide_offline_push,
    decide_unserved_push,
    push_to,
)
from frontdesk.mail.compose import (
    missed_title,
    new_messages_title,
    unserved_title,
    visitor_words,
)
from frontdesk.mail.identifiers import conversation_link
from frontdesk.push.webpush import PushAnswer, PushResult, Subscription
from frontdesk.service.notifications.deciding import DueFacts
from frontdesk.service.push import login_holds, note_answer
from frontdesk.service.runtime import Runtime
from frontdesk.store.among import among
from frontdesk.store.models import (
    Agent,
    AgentToken,
    Alert,
    Device,
    Message,
    Notification,
    PushDelivery,
    PushSubscription,
    Visitor,
)

PUSH_BATCH = 100
# A push waits at its push service this long for a phone that is off: after the e-mail's
# delay it says nothing the e-mail does not.
PUSH_TTL_MAX = 3600
# A reminder of an unserved conversation is stale after ten minutes.
REMINDER_TTL = 600
# The reminder's rows in the one-statement settlement of accounts nobody can be pushed in.
_is_reminder = Notification.kind == NotificationKind.UNSERVED_CONVERSATION
TEXT_MAX = 500


@dataclass(frozen=True, slots=True)
class ClaimedPush:
    push_id: int
    subscription_id: int
    subscription: Subscription
    payload: bytes
    topic: str
    ttl: int


def claim_pushes(rt: Runtime, *, limit: int = PUSH_BATCH) -> tuple[int, list[ClaimedPush]]:
    """Decide the due pushes (``FOR UPDATE SKIP LOCKED``, as ``decide_due``); returns how
    many notifications were decided and the pushes to send."""
    now = rt.clock.now()
    settings = rt.settings
    first = next_push_at(rt)
    if first is None or first > now:
        # Nothing due: no write transaction (every engine hears every process's commits).
        return 0, []
    with rt.database.write() as session:
        # Most offline messages of most installations: an account none of whose agents has
        # a browser or phone subscribed pushes nobody, settled in one statement.
        settled = session.execute(
            update(Notification)
            .where(
                # A push is pending exactly while its push_due_at is set: every decision
                # and call-off of its notification clears it (a missed conversation's is
                # set when its e-mail is decided).
                Notification.push_due_at <= now,
                Notification.account_id.not_in(
                    select(Agent.account_id).join(
                        PushSubscription, PushSubscription.agent_id == Agent.id
                    )
                ),
            )
            .values(
                push_due_at=None,
                push_reason=SuppressedBecause.NO_RECIPIENTS,
                push_not_recipients=[],
                # A reminder is a push only: nobody to push, it is decided.
                state=case((_is_reminder, NotificationState.SUPPRESSED), else_=Notification.state),
                reason=case(
                    (_is_reminder, SuppressedBecause.NO_RECIPIENTS), else_=Notification.reason
                ),
                decided_at=case((_is_reminder, now), else_=Notification.decided_at),
            )
            .execution_options(synchronize_session=False)
        )
        unsubscribed = int(settled.rowcount)  # type: ignore[attr-defined]
        due = session.scalars(
            select(Notification)
            .where(Notification.push_due_at <= now)
            .order_by(Notification.push_due_at, Notification.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not due:
            return unsubscribed, []
        facts = DueFacts(session, due, now)
        wanting = {
            agent.id
            for agent in facts.agents.values()
            if agent.active
            and (
                agent.offline_message_push
                or agent.missed_conversation_push
                or agent.unserved_conversation_push
            )
        }
        # The subscriptions of logins that still hold (a logout or a revoked token deleted
        # theirs already; an expired one's browser is told nothing more).
        subscriptions: dict[int, list[PushSubscription]] = {}
        for subscribed in session.scalars(
            select(PushSubscription)
            .join(AgentToken, AgentToken.id == PushSubscription.token_id)
            .where(
                among(PushSubscription.agent_id, wanting),
                login_holds(rt, now),
            )
            .order_by(PushSubscription.id)
        ):
            subscriptions.setdefault(subscribed.agent_id, []).append(subscribed)
        texts = _newest_texts(session, facts)
        visitors = {
            v.id: v
            for v in session.scalars(
                select(Visitor).where(
                    among(Visitor.id, {c.visitor_id for c in facts.conversations.values()})
                )
            )
        }
        reminders = [n for n in due if n.kind is NotificationKind.UNSERVED_CONVERSATION]
        away = _away(session, facts, reminders, now) if reminders else None
        claimed: list[tuple[PushDelivery, PushSubscription, bytes, str, int]] = []
        for notification in due:
            reminder = notification.kind is NotificationKind.UNSERVED_CONVERSATION
            if reminder:
                assert away is not None
                online, looking = away
                decision = decide_unserved_push(
                    status=facts.conversations[notification.conversation_id].status,
                    audience=facts.push_audience(notification),
                    online=online,
                    looking=looking,
                    subscribed=frozenset(subscriptions),
                )
                notification.state = (
                    NotificationState.SENT
                    if decision.reason is None
                    else NotificationState.SUPPRESSED
                )
                notification.reason = decision.reason
                notification.decided_at = now
            elif notification.kind is NotificationKind.MISSED_CONVERSATION:
                decision = push_to(facts.push_audience(notification), frozenset(subscriptions))
            else:
                decision = decide_offline_push(
                    facts.offline_facts(notification, facts.push_audience(notification)),
                    frozenset(subscriptions),
                )
            notification.push_due_at = None
            notification.push_reason = decision.reason
            notification.push_not_recipients = [[a, r.value] for a, r in decision.not_recipients]
            if decision.reason is not None:
                continue
            conversation = facts.conversations[notification.conversation_id]
            visitor = visitors[conversation.visitor_id]
            account = facts.accounts[notification.account_id]
            batch = facts.batches.get(notification.id, [])
            ttl = (
                REMINDER_TTL
                if reminder
                else PUSH_TTL_MAX
                if notification.kind is NotificationKind.MISSED_CONVERSATION
                else max(1, min(PUSH_TTL_MAX, int((notification.due_at - now).total_seconds())))
            )
            for agent_id in decision.recipients:
                locale = facts.agents[agent_id].locale
                who = visitor_words(
                    locale, _short(visitor.name, 60), _short(visitor.email, 60), conversation.id
                )
                shop = _short(account.name, 40) or ""
                payload = json.dumps(
                    {
                        "kind": notification.kind.value,
                        "notification_id": notification.id,
                        "conversation_id": conversation.id,
                        "title": _title(notification.kind, locale, who, shop, len(batch)),
                        "body": _short(texts.get(notification.id), TEXT_MAX) or "",
                        "url": conversation_link(settings.public_url, conversation.id),
                        "tag": f"frontdesk-conversation-{conversation.id}",
                    },
                    ensure_ascii=False,
                ).encode()
                for subscription in subscriptions[agent_id]:
                    push = PushDelivery(
                        notification_id=notification.id,
                        agent_id=agent_id,
                        subscription_id=subscription.id,
                        device_name=subscription.device_name,
                        push_service=urlsplit(subscription.endpoint).hostname or "",
                        state=PushState.SENDING,
                        created_at=now,
                    )
                    session.add(push)
                    claimed.append((push, subscription, payload, f"c{conversation.id}", ttl))
        session.flush()
        return unsubscribed + len(due), [
            ClaimedPush(
                push_id=push.id,
                subscription_id=subscription.id,
                subscription=Subscription(
                    subscription.endpoint, subscription.p256dh, subscription.auth
                ),
                payload=payload,
                topic=topic,
                ttl=ttl,
            )
            for push, subscription, payload, topic, ttl in claimed
        ]


def _title(kind: NotificationKind, locale: Locale, who: str, shop: str, count: int) -> str:
    """A push's title in the agent's language: the e-mail's subject, or the reminder's."""
    if kind is NotificationKind.UNSERVED_CONVERSATION:
        return unserved_title(locale, who, shop)
    if kind is NotificationKind.MISSED_CONVERSATION:
        return missed_title(locale, who, shop)
    return new_messages_title(locale, who, shop, count)


def _away(
    session: Session, facts: DueFacts, reminders: list[Notification], now: datetime
) -> tuple[frozenset[int], frozenset[int]]:
    """Of the agents of the reminders' accounts: who is online (as presence last recorded
    it), and who of them has an online device in view (``Device.looking``)."""
    accounts = {n.account_id for n in reminders}
    online = frozenset(
        agent.id for agent in facts.agents.values() if agent.online and agent.account_id in accounts
    )
    looking = frozenset(
        session.scalars(
            select(Device.agent_id)
            .where(
                among(Device.agent_id, online),
                Device.status == DeviceStatus.ONLINE,
                Device.connected_until > now,
                Device.looking.is_(True),
            )
            .distinct()
        )
    )
    return online, looking


def _short(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _newest_texts(session: Session, facts: DueFacts) -> dict[int, str]:
    """Each notification's newest message, the words its push shows."""
    newest = {
        notification_id: max(batch) for notification_id, batch in facts.batches.items() if batch
    }
    if not newest:
        return {}
    texts: dict[int, str] = dict(
        session.execute(
            select(Message.id, Message.text).where(among(Message.id, set(newest.values())))
        ).all()
    )
    return {n: texts[m] for n, m in newest.items() if m in texts}


def record_push_answers(
    rt: Runtime, answered: list[tuple[ClaimedPush, PushAnswer]], at: datetime
) -> None:
    """What each push service answered, on its push and its subscription; a subscription
    gone (404, 410) is deleted."""
    with rt.database.write() as session:
        for push, answer in answered:
            state = {
                PushResult.SENT: PushState.SENT,
                PushResult.GONE: PushState.GONE,
            }.get(answer.result, PushState.FAILED)
            session.execute(
                update(PushDelivery)
                .where(PushDelivery.id == push.push_id)
                .values(state=state, status=answer.status, answer=answer.text[:300], answered_at=at)
            )
            note_answer(session, push.subscription_id, answer, at)


def next_push_at(rt: Runtime) -> datetime | None:
    """The earliest moment a push falls due: a notification's, or an alert's
    (``frontdesk.service.alerts``)."""
    with rt.database.read() as session:
        notification = session.scalar(
            select(func.min(Notification.push_due_at)).where(Notification.push_due_at.is_not(None))
        )
        alert = session.scalar(
            select(func.min(Alert.push_due_at)).where(Alert.push_due_at.is_not(None))
        )
    return min((t for t in (notification, alert) if t is not None), default=None)
