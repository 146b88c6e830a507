"""Alerts: telling owners and admins that a visitor's message reached nobody, or soon
cannot (docs/reachability.md; the causes are ``frontdesk.core.alerts``).

An alert is raised in the transaction that found its cause (a decision with nobody to
tell, the last e-mail of a notification refused, the mail server failing, nobody online
within business hours). Raising it queues an e-mail to each owner and admin with a
confirmed address, a push to their browsers and phones (the engine's push stage makes it),
and an ``alerts.changed`` frame for the dashboards' banner. While it is open, another
occurrence of its cause and subject only counts: one alert per cause, not one per message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from frontdesk.core.alerts import (
    NOBODY_WOULD_BE_TOLD,
    AlertCause,
    ClearedBy,
    open_key,
    subject_of_group,
)
from frontdesk.core.hours import BusinessHours, is_open, opened_at
from frontdesk.core.notifications import DeliveryState, PushState, SuppressedBecause
from frontdesk.core.permissions import MANAGER_ROLES
from frontdesk.core.presence import PresenceChange
from frontdesk.errors import NotFound
from frontdesk.mail.compose import alert_title
from frontdesk.mail.identifiers import settings_link
from frontdesk.push.webpush import PushAnswer, Subscription
from frontdesk.service.accounts import require_manager
from frontdesk.service.events import AlertsChanged
from frontdesk.service.hours import read_hours
from frontdesk.service.outbox import queue_alert
from frontdesk.service.push import login_holds, note_answer
from frontdesk.service.runtime import AgentCaller, Runtime
from frontdesk.service.scope import online_agents_of_accounts
from frontdesk.store.models import (
    Account,
    Agent,
    AgentToken,
    Alert,
    Delivery,
    Notification,
    OutboxEmail,
    PresenceChangeRow,
    PushDelivery,
    PushSubscription,
)

log = logging.getLogger("frontdesk.alerts")

# An alert's push waits this long at the push service for the browser to come online.
ALERT_PUSH_TTL = 24 * 3600
ALERT_PUSH_BATCH = 100


def raise_alert(
    session: Session,
    rt: Runtime,
    *,
    account_id: int,
    cause: AlertCause,
    subject: str = "account",
    details: Mapping[str, Any] | None = None,
    now: datetime,
) -> Alert | None:
    """Raise an alert, or count one more occurrence of the open one: returns the alert if
    this raised it (and so told the owners and admins), ``None`` if it only counted."""
    key = open_key(cause, subject)
    found = _open(session, account_id, key)
    if found is None:
        alert = Alert(
            account_id=account_id,
            cause=cause.value,
            subject=subject,
            open_key=key,
            raised_at=now,
            last_seen_at=now,
            occurrences=1,
            details=dict(details or {}),
            push_due_at=now,
        )
        if _insert(session, rt, alert):
            _tell(session, rt, alert)
            return alert
        found = _open(session, account_id, key)  # another process raised it meanwhile
    if found is not None:
        found.occurrences += 1
        found.last_seen_at = now
        if details:
            found.details = dict(details)
    return None


def _tell(session: Session, rt: Runtime, alert: Alert) -> None:
    """An e-mail to each owner and admin with a proven address, their pushes (due now),
    and the dashboards' frame."""
    managers = session.scalars(
        select(Agent)
        .where(
            Agent.account_id == alert.account_id,
            Agent.active.is_(True),
            Agent.role.in_(MANAGER_ROLES),
            Agent.email_confirmed_at.is_not(None),
        )
        .order_by(Agent.id)
    ).all()
    for manager in managers:
        queue_alert(session, rt, manager, alert.id, alert.raised_at)
    rt.pushes_due(session, alert.raised_at)
    rt.record(session, AlertsChanged(alert.account_id))
    # The cause and the account only: details may hold what visitors typed.
    log.warning("alert %s (%s) raised for account %s", alert.cause, alert.subject, alert.account_id)


def _open(session: Session, account_id: int, key: str) -> Alert | None:
    return session.scalar(
        select(Alert).where(Alert.account_id == account_id, Alert.open_key == key).with_for_update()
    )


def _insert(session: Session, rt: Runtime, alert: Alert) -> bool:
    """Add the alert; ``False`` if another transaction holds one open for its cause and
    subject (PostgreSQL: two processes raising it at once; SQLite has one writer)."""
    if not rt.database.is_postgresql:
        session.add(alert)
        session.flush()
        return True
    try:
        with session.begin_nested():
            session.add(alert)
            session.flush()
    except IntegrityError:
        return False
    return True


def resolve(
    session: Session,
    rt: Runtime,
    *,
    account_ids: Collection[int],
    cause: AlertCause,
    now: datetime,
    subject: str | None = None,
) -> int:
    """The cause ended: its open alerts of these accounts (of ``subject``, or every one)
    are cleared. Returns how many."""
    if not account_ids:
        return 0
    query = (
        update(Alert)
        .where(
            Alert.account_id.in_(list(account_ids)),
            Alert.cause == cause.value,
            Alert.open_key.is_not(None),
        )
        .values(open_key=None, cleared_at=now, cleared_by=ClearedBy.RESOLVED.value)
        .execution_options(synchronize_session=False)
    )
    if subject is not None:
        query = query.where(Alert.subject == subject)
    cleared = int(session.execute(query).rowcount)  # type: ignore[attr-defined]
    if cleared:
        for account_id in account_ids:
            rt.record(session, AlertsChanged(account_id))
    return cleared


def list_alerts(rt: Runtime, caller: AgentCaller, *, limit: int = 50) -> list[Alert]:
    """The account's alerts for owners and admins: the open ones first, then the latest
    cleared."""
    require_manager(caller)
    with rt.database.read() as session:
        return list(
            session.scalars(
                select(Alert)
                .where(Alert.account_id == caller.account_id)
                .order_by(Alert.open_key.is_(None), Alert.id.desc())
                .limit(limit)
            )
        )


def dismiss(rt: Runtime, caller: AgentCaller, alert_id: int) -> Alert:
    """An owner or admin has seen it: cleared; a later occurrence raises a new one."""
    require_manager(caller)
    with rt.database.write() as session:
        alert = session.scalar(
            select(Alert)
            .where(Alert.id == alert_id, Alert.account_id == caller.account_id)
            .with_for_update()
        )
        if alert is None:
            raise NotFound("There is no such alert.", code="alert_not_found")
        if alert.open_key is not None:
            alert.open_key = None
            alert.cleared_at = rt.clock.now()
            alert.cleared_by = ClearedBy.DISMISSED.value
            alert.push_due_at = None
            rt.record(session, AlertsChanged(alert.account_id))
        return alert


_NOBODY_TOLD = tuple(cause.value for cause in NOBODY_WOULD_BE_TOLD)


def nobody_would_be_told(connection: Connection, account_id: int) -> bool:
    """Whether an open alert says that a visitor writing now would reach nobody: the widget
    then says so instead of promising an e-mail."""
    return (
        connection.execute(
            select(Alert.id)
            .where(
                Alert.account_id == account_id,
                Alert.open_key.is_not(None),
                Alert.cause.in_(_NOBODY_TOLD),
            )
            .limit(1)
        ).first()
        is not None
    )


# --- the causes found outside a decision ----------------------------------------------------


def nobody_got_it(session: Session, rt: Runtime, notification_id: int, now: datetime) -> None:
    """Every e-mail of this notification was refused or bounced: unless a push reached
    somebody, nobody was told (``deliveries_failed``)."""
    if _pushed_to_somebody(session, notification_id):
        return
    notification = session.get_one(Notification, notification_id)
    raise_alert(
        session,
        rt,
        account_id=notification.account_id,
        cause=AlertCause.DELIVERIES_FAILED,
        details={
            "conversation_id": notification.conversation_id,
            "notification_id": notification.id,
        },
        now=now,
    )


def nobody_emailed(
    session: Session,
    rt: Runtime,
    notification: Notification,
    reason: SuppressedBecause,
    group_id: int | None,
    now: datetime,
) -> None:
    """A decision found nobody to e-mail (``reason``: no active agent in the scope, all
    opted out or unconfirmed): unless a push reached somebody, nobody was told."""
    if _pushed_to_somebody(session, notification.id):
        return
    cause = (
        AlertCause.NOBODY_IN_SCOPE
        if reason is SuppressedBecause.NO_RECIPIENTS
        else AlertCause.NOBODY_TO_TELL
    )
    raise_alert(
        session,
        rt,
        account_id=notification.account_id,
        cause=cause,
        subject=subject_of_group(group_id),
        details={
            "conversation_id": notification.conversation_id,
            "notification_id": notification.id,
            "reason": reason.value,
            "group_id": group_id,
        },
        now=now,
    )


def _pushed_to_somebody(session: Session, notification_id: int) -> bool:
    """Whether a push of the notification was taken by a push service: somebody was told."""
    return (
        session.scalar(
            select(PushDelivery.id)
            .where(
                PushDelivery.notification_id == notification_id,
                PushDelivery.state == PushState.SENT,
            )
            .limit(1)
        )
        is not None
    )


def accounts_alerting_of_nobody(session: Session, account_ids: Collection[int]) -> set[int]:
    """Which of these accounts have an open nobody-to-tell alert: read once per batch of
    decisions, so that a decision that e-mails somebody looks for one to resolve only
    where there is one."""
    if not account_ids:
        return set()
    return set(
        session.scalars(
            select(Alert.account_id).where(
                Alert.account_id.in_(list(account_ids)),
                Alert.open_key.is_not(None),
                Alert.cause.in_(
                    (AlertCause.NOBODY_IN_SCOPE.value, AlertCause.NOBODY_TO_TELL.value)
                ),
            )
        )
    )


def somebody_emailed(
    session: Session, rt: Runtime, account_id: int, group_id: int | None, now: datetime
) -> None:
    """A decision e-mails somebody of this scope: its nobody-to-tell alerts are resolved."""
    for cause in (AlertCause.NOBODY_IN_SCOPE, AlertCause.NOBODY_TO_TELL):
        resolve(
            session,
            rt,
            account_ids=[account_id],
            cause=cause,
            subject=subject_of_group(group_id),
            now=now,
        )


def mail_server_failing(rt: Runtime, *, since: datetime, text: str, now: datetime) -> int:
    """The mail server has taken no e-mail since ``since`` (longer than
    ``FRONTDESK_ALERT_AFTER``): every account with e-mail waiting is alerted. Returns how
    many alerts were raised."""
    raised = 0
    with rt.database.write() as session:
        waiting = set(
            session.scalars(
                select(OutboxEmail.account_id)
                .where(OutboxEmail.state.in_((DeliveryState.PENDING, DeliveryState.DEFERRED)))
                .distinct()
            )
        )
        waiting |= set(
            session.scalars(
                select(Notification.account_id)
                .join(Delivery, Delivery.notification_id == Notification.id)
                .where(Delivery.state.in_((DeliveryState.PENDING, DeliveryState.DEFERRED)))
                .distinct()
            )
        )
        for account_id in sorted(waiting):
            if raise_alert(
                session,
                rt,
                account_id=account_id,
                cause=AlertCause.SMTP_FAILING,
                subject="mail_server",
                details={"since": since.isoformat(), "reply": text[:300]},
                now=now,
            ):
                raised += 1
    return raised


def mail_server_works(rt: Runtime, now: datetime) -> int:
    """The mail server took an e-mail: its alerts are resolved."""
    with rt.database.write() as session:
        accounts = set(
            session.scalars(
                select(Alert.account_id).where(
                    Alert.cause == AlertCause.SMTP_FAILING.value, Alert.open_key.is_not(None)
                )
            )
        )
        return resolve(session, rt, account_ids=accounts, cause=AlertCause.SMTP_FAILING, now=now)


def check_nobody_online(rt: Runtime) -> int:
    """Within business hours, nobody online for longer than an account's
    ``alert_nobody_online_after`` raises ``nobody_online`` (opt-in); somebody online
    resolves it. Returns how many alerts were raised."""
    now = rt.clock.now()
    raised = 0
    with rt.database.read() as session:  # most installations: nobody asked, no write
        wanted = session.scalar(
            select(Account.id).where(Account.alert_nobody_online_after.is_not(None)).limit(1)
        )
    if wanted is None:
        return 0
    with rt.database.write() as session:
        accounts = session.scalars(
            select(Account)
            .where(Account.alert_nobody_online_after.is_not(None))
            .order_by(Account.id)
        ).all()
        online = online_agents_of_accounts(session.connection(), [a.id for a in accounts], now=now)
        for account in accounts:
            hours = read_hours(account.business_hours)
            if online[account.id] or (hours is not None and not is_open(hours, now)):
                resolve(
                    session, rt, account_ids=[account.id], cause=AlertCause.NOBODY_ONLINE, now=now
                )
                continue
            since = _nobody_online_since(session, account, hours, now)
            assert account.alert_nobody_online_after is not None
            if now - since < timedelta(seconds=account.alert_nobody_online_after):
                continue
            if raise_alert(
                session,
                rt,
                account_id=account.id,
                cause=AlertCause.NOBODY_ONLINE,
                details={"since": since.isoformat()},
                now=now,
            ):
                raised += 1
    return raised


def _nobody_online_since(
    session: Session, account: Account, hours: BusinessHours | None, now: datetime
) -> datetime:
    """Since when nobody has been online within business hours: the latest of the last
    agent going offline, the current opening's start and the account's creation."""
    last_offline = session.scalar(
        select(func.max(PresenceChangeRow.at)).where(
            PresenceChangeRow.account_id == account.id,
            PresenceChangeRow.change == PresenceChange.AGENT_OFFLINE,
        )
    )
    moments = [account.created_at]
    if last_offline is not None:
        moments.append(last_offline)
    if hours is not None and (start := opened_at(hours, now)) is not None:
        moments.append(start)
    return max(moments)


# --- pushes -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimedAlertPush:
    subscription_id: int
    subscription: Subscription
    payload: bytes
    topic: str
    ttl: int


def claim_alert_pushes(rt: Runtime, *, limit: int = ALERT_PUSH_BATCH) -> list[ClaimedAlertPush]:
    """The due alerts' pushes, one per subscription of each owner and admin of their
    accounts; claimed (``push_due_at`` cleared) in this transaction, so made at most once."""
    now = rt.clock.now()
    first = next_alert_push_at(rt)
    if first is None or first > now:
        return []
    settings = rt.settings
    claimed: list[ClaimedAlertPush] = []
    with rt.database.write() as session:
        due = session.scalars(
            select(Alert)
            .where(Alert.push_due_at <= now)
            .order_by(Alert.push_due_at, Alert.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not due:
            return []
        accounts = {
            a.id: a
            for a in session.scalars(
                select(Account).where(Account.id.in_({d.account_id for d in due}))
            )
        }
        rows = session.execute(
            select(PushSubscription, Agent)
            .join(Agent, Agent.id == PushSubscription.agent_id)
            .join(AgentToken, AgentToken.id == PushSubscription.token_id)
            .where(
                Agent.account_id.in_(list(accounts)),
                Agent.active.is_(True),
                Agent.role.in_(MANAGER_ROLES),
                login_holds(rt, now),
            )
            .order_by(PushSubscription.id)
        ).all()
        for alert in due:
            alert.push_due_at = None
            shop = (accounts[alert.account_id].name or "")[:40]
            for subscription, agent in rows:
                if agent.account_id != alert.account_id:
                    continue
                payload = json.dumps(
                    {
                        "kind": "alert",
                        "alert_id": alert.id,
                        "title": alert_title(agent.locale, AlertCause(alert.cause), shop),
                        "body": "",
                        "url": settings_link(settings.public_url),
                        "tag": f"frontdesk-alert-{alert.id}",
                    },
                    ensure_ascii=False,
                ).encode()
                claimed.append(
                    ClaimedAlertPush(
                        subscription_id=subscription.id,
                        subscription=Subscription(
                            subscription.endpoint, subscription.p256dh, subscription.auth
                        ),
                        payload=payload,
                        topic=f"alert-{alert.id}",
                        ttl=ALERT_PUSH_TTL,
                    )
                )
    return claimed


def next_alert_push_at(rt: Runtime) -> datetime | None:
    with rt.database.read() as session:
        return session.scalar(
            select(func.min(Alert.push_due_at)).where(Alert.push_due_at.is_not(None))
        )


def record_alert_pushes(rt: Runtime, answered: list[tuple[int, PushAnswer]], at: datetime) -> None:
    """What the push services answered, on the subscriptions pushed to."""
    with rt.database.write() as session:
        for subscription_id, answer in answered:
            note_answer(session, subscription_id, answer, at)
