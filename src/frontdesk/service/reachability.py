"""Can I be reached? The checklist of an agent, or of every active agent of the account for
its owners and admins, and "send me a test notification" (docs/reachability.md, "Can I be
reached? The checklist").

The facts are read here and judged by ``frontdesk.core.reachability``; each item carries
them, so the dashboard can say what is the case as well as what to do. The devices are the
one item the caller completes (``devices``): it reads each device's presence the way the
rest of the API does.

A test notification is a row of ``test_notifications`` written with its e-mail (an outbox
e-mail to the agent's address, when it is confirmed), then a push to each subscription of
the agent, whose answers are written onto the row; the e-mail's fate is its outbox row's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio.to_thread
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from frontdesk.core import reachability as verdicts
from frontdesk.core.model import Role
from frontdesk.core.notifications import DeliveryState
from frontdesk.core.permissions import can_manage_account
from frontdesk.core.plans import has_missed_conversation_emails
from frontdesk.core.reachability import ItemKey, Problem, Verdict
from frontdesk.errors import TooManyRequests
from frontdesk.service import bounces, push
from frontdesk.service.accounts import load_account, require_manager
from frontdesk.service.outbox import queue_test_email
from frontdesk.service.presence import devices_by_agent
from frontdesk.service.runtime import AgentCaller, Runtime
from frontdesk.service.sender_domain import SenderDomain, sender_domain
from frontdesk.store.models import (
    Account,
    Agent,
    Delivery,
    Device,
    NotificationTest,
    OutboxEmail,
    OutboxKind,
    PushSubscription,
)

# E-mails of an agent that go to somebody else: a visitor's (its ``agent_id`` is who answered).
_NOT_TO_THE_AGENT = (OutboxKind.VISITOR_REPLY, OutboxKind.TRANSCRIPT)
# Why a test sent no e-mail.
EMAIL_SKIPPED_UNCONFIRMED = "address_unconfirmed"


@dataclass(frozen=True, slots=True)
class Item:
    key: ItemKey
    ok: bool | None
    problem: Problem | None
    facts: dict[str, Any]


def item(key: ItemKey, verdict: Verdict, **facts: Any) -> Item:
    return Item(key, verdict.ok, verdict.problem, facts)


@dataclass(frozen=True, slots=True)
class Checklist:
    """An agent's items, but for ``devices_online``: the caller adds it from ``devices``."""

    agent_id: int
    name: str
    email: str
    role: Role
    items: list[Item]
    devices: list[Device]


def my_checklist(rt: Runtime, caller: AgentCaller) -> Checklist:
    domain = sender_domain(rt)
    (checklist,) = _checklists(rt, caller, domain, only_agent=caller.agent_id)
    return checklist


def team_checklist(rt: Runtime, caller: AgentCaller) -> list[Checklist]:
    """Every active agent of the caller's account (owners and admins only)."""
    require_manager(caller)
    return _checklists(rt, caller, sender_domain(rt), only_agent=None)


def _checklists(
    rt: Runtime, caller: AgentCaller, domain: SenderDomain, *, only_agent: int | None
) -> list[Checklist]:
    # What the DNS check says of the installation (a DKIM key file's path, say) is for
    # those who run the account; an agent sees which check fails, not its words.
    domain_words = can_manage_account(caller.role)
    with rt.database.read() as session:
        account = load_account(session, caller)
        query = select(Agent).where(Agent.account_id == caller.account_id)
        if only_agent is not None:
            query = query.where(Agent.id == only_agent)
        else:
            query = query.where(Agent.active.is_(True))
        agents = list(session.scalars(query.order_by(Agent.id)))
        ids = [a.id for a in agents]
        subscriptions = _subscriptions(session, ids)
        rows = [
            (agent, _last_email(session, agent), _last_test(session, agent.id)) for agent in agents
        ]
    devices = devices_by_agent(rt, ids)
    return [
        Checklist(
            agent_id=agent.id,
            name=agent.name,
            email=agent.email,
            role=agent.role,
            items=_items(
                rt,
                account,
                agent,
                subscriptions.get(agent.id, []),
                domain,
                last,
                test,
                domain_words=domain_words,
            ),
            devices=devices[agent.id],
        )
        for agent, last, test in rows
    ]


def _items(
    rt: Runtime,
    account: Account,
    agent: Agent,
    subscriptions: list[PushSubscription],
    domain: SenderDomain,
    last: dict[str, Any] | None,
    test: dict[str, Any] | None,
    *,
    domain_words: bool,
) -> list[Item]:
    missed_in_plan = has_missed_conversation_emails(account.plan)
    bounce = bounces.bounce_of_address(rt, agent_id=agent.id, email=agent.email)
    return [
        item(
            ItemKey.EMAILS_ON,
            verdicts.emails_on(
                account_offline=account.offline_message_email,
                account_missed=account.missed_conversation_email,
                missed_in_plan=missed_in_plan,
                own_offline=agent.offline_message_email,
                own_missed=agent.missed_conversation_email,
            ),
            account={
                "offline_message_email": account.offline_message_email,
                "missed_conversation_email": account.missed_conversation_email,
            },
            own={
                "offline_message_email": agent.offline_message_email,
                "missed_conversation_email": agent.missed_conversation_email,
            },
            missed_in_plan=missed_in_plan,
        ),
        item(
            ItemKey.ADDRESS_CONFIRMED,
            verdicts.address_confirmed(agent.email_confirmed_at is not None),
            email=agent.email,
            confirmed_at=agent.email_confirmed_at,
        ),
        item(
            ItemKey.ADDRESS_NOT_BOUNCING,
            verdicts.address_not_bouncing(bounce is not None),
            email=agent.email,
            bounce=None
            if bounce is None
            else {"at": bounce.at, "status": bounce.status, "bounce_text": bounce.bounce_text},
        ),
        item(
            ItemKey.PUSH_SUBSCRIBED,
            verdicts.push_subscribed(len(subscriptions)),
            subscriptions=[
                {
                    "id": s.id,
                    "device_name": s.device_name,
                    "created_at": s.created_at,
                    "last_pushed_at": s.last_pushed_at,
                    "last_status": s.last_status,
                    "last_answer": s.last_answer,
                }
                for s in subscriptions
            ],
        ),
        item(
            ItemKey.SENDER_DOMAIN,
            verdicts.sender_domain(domain.state),
            state=domain.state.value,
            domain=domain.domain,
            checked_at=domain.checked_at,
            findings=[
                {
                    "check": f.check,
                    "status": f.status,
                    "summary": f.summary if domain_words else None,
                }
                for f in domain.findings
            ],
        ),
        item(
            ItemKey.LAST_EMAIL,
            verdicts.last_email(DeliveryState(last["state"]) if last else None),
            email=last,
        ),
        test_item(test),
    ]


def devices_item(online: bool, devices: Sequence[dict[str, Any]]) -> Item:
    return item(ItemKey.DEVICES_ONLINE, verdicts.devices_online(), online=online, devices=devices)


def test_item(test: dict[str, Any] | None) -> Item:
    email = test["email"] if test else None
    return item(
        ItemKey.TEST_NOTIFICATION,
        verdicts.last_test(
            requested=test is not None,
            email_state=DeliveryState(email["state"]) if email else None,
            email_skipped=bool(test and test["email_skipped"]),
            push_results=None
            if test is None or test["pushes"] is None
            else [p["result"] for p in test["pushes"]],
        ),
        test=test,
    )


def _subscriptions(session: Session, agent_ids: list[int]) -> dict[int, list[PushSubscription]]:
    found: dict[int, list[PushSubscription]] = {}
    for row in session.scalars(
        select(PushSubscription)
        .where(PushSubscription.agent_id.in_(agent_ids))
        .order_by(PushSubscription.created_at.desc(), PushSubscription.id.desc())
    ):
        found.setdefault(row.agent_id, []).append(row)
    return found


def _email_facts(row: Delivery | OutboxEmail, about: str, at: datetime | None) -> dict[str, Any]:
    return {
        "about": about,
        "address": row.email,
        "state": row.state.value,
        "at": at,
        "attempts": row.attempts,
        "sent_at": row.sent_at,
        "next_attempt_at": row.next_attempt_at,
        "smtp_code": row.smtp_code,
        "smtp_text": row.smtp_text,
        "bounced_at": getattr(row, "bounced_at", None),
        "bounce_status": getattr(row, "bounce_status", None),
        "bounce_text": getattr(row, "bounce_text", None),
    }


def _last_email(session: Session, agent: Agent) -> dict[str, Any] | None:
    """The latest e-mail to the agent's present address: a notification's, or one of the
    outbox's (a confirmation, a test, a digest…)."""
    address = agent.email.lower()
    delivery = session.scalar(
        select(Delivery)
        .where(Delivery.agent_id == agent.id, func.lower(Delivery.email) == address)
        .order_by(Delivery.id.desc())
        .limit(1)
    )
    outboxed = session.scalar(
        select(OutboxEmail)
        .where(
            OutboxEmail.agent_id == agent.id,
            func.lower(OutboxEmail.email) == address,
            OutboxEmail.kind.not_in(_NOT_TO_THE_AGENT),
        )
        .order_by(OutboxEmail.id.desc())
        .limit(1)
    )
    delivered_at = None if delivery is None else delivery.created_at or delivery.first_attempt_at
    if outboxed is not None and (
        delivery is None or delivered_at is None or outboxed.created_at >= delivered_at
    ):
        return _email_facts(outboxed, outboxed.kind.value, outboxed.created_at)
    if delivery is not None:
        return _email_facts(delivery, "notification", delivered_at)
    return None


def _last_test(session: Session, agent_id: int) -> dict[str, Any] | None:
    test = session.scalar(
        select(NotificationTest)
        .where(NotificationTest.agent_id == agent_id)
        .order_by(NotificationTest.id.desc())
        .limit(1)
    )
    if test is None:
        return None
    email = None if test.outbox_id is None else session.get(OutboxEmail, test.outbox_id)
    return _test_facts(test, email)


def _test_facts(test: NotificationTest, email: OutboxEmail | None) -> dict[str, Any]:
    return {
        "id": test.id,
        "requested_at": test.requested_at,
        "email": None if email is None else _email_facts(email, email.kind.value, email.created_at),
        "email_skipped": test.email_skipped,
        "pushes": test.pushes,
    }


# --- a test notification ------------------------------------------------------------------


async def send_test_notification(rt: Runtime, caller: AgentCaller) -> Item:
    """An e-mail to the caller's address (queued: the engine sends it) and a push to each
    of their subscriptions (now); at most one per ``test_notification_every``. Answers the
    test as the checklist's item shows it."""
    test_id = await anyio.to_thread.run_sync(_start_test, rt, caller)
    pushed = await push.push_test(rt, caller)
    results = [
        {
            "subscription_id": p.subscription_id,
            "device_name": p.device_name,
            "result": p.answer.result.value,
            "status": p.answer.status,
            "answer": p.answer.text,
        }
        for p in pushed
    ]
    return await anyio.to_thread.run_sync(_finish_test, rt, test_id, results)


def _start_test(rt: Runtime, caller: AgentCaller) -> int:
    now = rt.clock.now()
    wait = rt.settings.test_notification_every
    with rt.database.write() as session:
        # The agent's row, locked: two tests at once wait for each other, so the second
        # sees the first.
        agent = session.scalar(select(Agent).where(Agent.id == caller.agent_id).with_for_update())
        assert agent is not None  # the caller's token was checked
        last = session.scalar(
            select(func.max(NotificationTest.requested_at)).where(
                NotificationTest.agent_id == agent.id
            )
        )
        if last is not None and (since := (now - last).total_seconds()) < wait:
            raise TooManyRequests(
                "A test notification was sent a moment ago; its results are in your "
                "checklist. Try again in a few seconds.",
                retry_after=wait - since,
                code="test_notification_sent_recently",
            )
        test = NotificationTest(
            account_id=agent.account_id, agent_id=agent.id, requested_at=now, email=agent.email
        )
        if agent.email_confirmed_at is None:
            # An address nobody proved gets nothing but its confirmation link
            # (docs/security.md): the test says so instead.
            test.email_skipped = EMAIL_SKIPPED_UNCONFIRMED
        else:
            test.outbox_id = queue_test_email(session, rt, agent, now).id
        session.add(test)
        session.flush()
        return test.id


def _finish_test(rt: Runtime, test_id: int, results: list[dict[str, Any]]) -> Item:
    with rt.database.write() as session:
        test = session.get_one(NotificationTest, test_id)
        test.pushes = results
        email = None if test.outbox_id is None else session.get(OutboxEmail, test.outbox_id)
        return test_item(_test_facts(test, email))
