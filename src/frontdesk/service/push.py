"""Agents' Web Push subscriptions, and pushes to them (docs/push.md).

A subscription is one browser or phone of an agent: the dashboard subscribes with the
installation's VAPID public key (``vapid_key``) and posts what the browser gave. It lives
as long as the login it was made with (a logout or a revoked token deletes it, so a browser
nobody is logged in on is not told what visitors write), and until its push service says
it is gone (404, 410). Re-subscribing a browser, by the same agent or by another one who
logged in on it, keeps one row: the latest login's.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, func, select, update
from sqlalchemy.orm import Session

from frontdesk.errors import InvalidInput, NotFound
from frontdesk.push.webpush import (
    PushAnswer,
    PushResult,
    PushSender,
    Subscription,
    VapidKey,
    subscription_problem,
)
from frontdesk.service.runtime import AgentCaller, Runtime
from frontdesk.service.secrets import installation_secret
from frontdesk.store.models import Account, AgentToken, PushSubscription

VAPID_KEY = "vapid"
# A test push waits this long at the push service for the browser to come online.
TEST_PUSH_TTL = 60


def login_holds(rt: Runtime, now: datetime) -> ColumnElement[bool]:
    """A push subscription's login (joined as ``AgentToken``) still holds: not revoked, not
    expired, not idle too long. A logout or a revoked token deleted its subscriptions
    already; an expired one's browser is told nothing more."""
    settings = rt.settings
    return and_(
        AgentToken.revoked_at.is_(None),
        AgentToken.created_at > now - timedelta(seconds=settings.token_lifetime),
        func.coalesce(AgentToken.last_used_at, AgentToken.created_at)
        > now - timedelta(seconds=settings.token_idle_timeout),
    )


def vapid_key(rt: Runtime) -> VapidKey:
    """The installation's VAPID key pair, made on first use and kept like its other
    secrets (``installation_secret``): every process pushes with the same one."""
    return VapidKey(installation_secret(rt, VAPID_KEY))


@asynccontextmanager
async def push_sender(rt: Runtime) -> AsyncIterator[PushSender]:
    """A push session, its key read (or made, the first time) on a pool thread: the event
    loop that pushes never waits for the database."""
    import anyio.to_thread

    key = await anyio.to_thread.run_sync(vapid_key, rt)
    async with PushSender(
        key, contact=rt.settings.effective_push_contact, timeout=rt.settings.push_timeout
    ) as sender:
        yield sender


def subscribe(
    rt: Runtime,
    caller: AgentCaller,
    subscription: Subscription,
    *,
    device_name: str,
    device_key: str | None,
) -> PushSubscription:
    """Keep the caller's subscription of this browser (one row per endpoint). An agent has
    at most ``max_devices_per_agent`` subscriptions: a new one takes the place of the one
    pushed to (or made) longest ago."""
    problem = subscription_problem(subscription, http_hosts=rt.settings.push_http_hosts)
    if problem is not None:
        raise InvalidInput(problem, code="invalid_push_subscription")
    now = rt.clock.now()
    with rt.database.write() as session:
        row = session.scalar(
            select(PushSubscription).where(PushSubscription.endpoint == subscription.endpoint)
        )
        if row is None:
            row = PushSubscription(endpoint=subscription.endpoint, created_at=now)
            session.add(row)
        row.agent_id = caller.agent_id
        row.token_id = caller.token_id
        row.p256dh = subscription.p256dh
        row.auth = subscription.auth
        row.device_name = device_name
        row.device_key = device_key
        session.flush()
        _keep_at_most(session, caller.agent_id, rt.settings.max_devices_per_agent, row.id)
        # From now on, conversations of the account left unserved remind by push.
        session.execute(
            update(Account)
            .where(Account.id == caller.account_id, Account.push_subscribed.is_(False))
            .values(push_subscribed=True)
        )
        return row


def _keep_at_most(session: Session, agent_id: int, most: int, newest: int) -> None:
    last_used = func.coalesce(PushSubscription.last_pushed_at, PushSubscription.created_at)
    others = session.scalars(
        select(PushSubscription.id)
        .where(PushSubscription.agent_id == agent_id, PushSubscription.id != newest)
        .order_by(last_used.desc(), PushSubscription.id.desc())
        .offset(most - 1)
    ).all()
    if others:
        session.execute(delete(PushSubscription).where(PushSubscription.id.in_(others)))


def subscriptions_of(rt: Runtime, caller: AgentCaller) -> list[PushSubscription]:
    """The caller's subscriptions, newest first."""
    with rt.database.read() as session:
        return list(
            session.scalars(
                select(PushSubscription)
                .where(PushSubscription.agent_id == caller.agent_id)
                .order_by(PushSubscription.created_at.desc(), PushSubscription.id.desc())
            )
        )


def unsubscribe(rt: Runtime, caller: AgentCaller, endpoint: str) -> None:
    """Forget the caller's subscription of ``endpoint`` (404 when the caller has none)."""
    with rt.database.write() as session:
        deleted = session.execute(
            delete(PushSubscription).where(
                PushSubscription.agent_id == caller.agent_id,
                PushSubscription.endpoint == endpoint,
            )
        )
        if not deleted.rowcount:  # type: ignore[attr-defined]
            raise NotFound(
                "You have no push subscription with this endpoint.",
                code="push_subscription_not_found",
            )


@dataclass(frozen=True, slots=True)
class Pushed:
    """What one subscription's push service answered."""

    subscription_id: int
    device_name: str
    answer: PushAnswer


async def push_test(rt: Runtime, caller: AgentCaller) -> list[Pushed]:
    """A test push to each of the caller's subscriptions, now; what each push service
    answered is recorded on the subscription, and one that is gone is forgotten."""
    import anyio.to_thread

    rows = await anyio.to_thread.run_sync(subscriptions_of, rt, caller)
    payload = json.dumps(
        {"kind": "test", "title": "Frontdesk", "body": "Push notifications reach you here."}
    ).encode()
    pushed: list[Pushed] = []
    async with push_sender(rt) as sender:
        for row in rows:
            answer = await sender.push(
                Subscription(row.endpoint, row.p256dh, row.auth),
                payload,
                now=rt.clock.now(),
                ttl=TEST_PUSH_TTL,
            )
            pushed.append(Pushed(row.id, row.device_name, answer))
    await anyio.to_thread.run_sync(record_answers, rt, pushed, rt.clock.now())
    return pushed


def record_answers(rt: Runtime, pushed: list[Pushed], at: datetime) -> None:
    """What the push services answered, on their subscriptions; the ones gone deleted."""
    with rt.database.write() as session:
        for p in pushed:
            note_answer(session, p.subscription_id, p.answer, at)


def note_answer(session: Session, subscription_id: int, answer: PushAnswer, at: datetime) -> None:
    """A push service's answer, on the subscription pushed to: deleted when it is gone
    (404, 410), else what was answered when."""
    if answer.result is PushResult.GONE:
        session.execute(delete(PushSubscription).where(PushSubscription.id == subscription_id))
        return
    session.execute(
        update(PushSubscription)
        .where(PushSubscription.id == subscription_id)
        .values(last_pushed_at=at, last_status=answer.status, last_answer=answer.text[:300])
    )
