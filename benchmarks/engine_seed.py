"""The engine benchmark's data (benchmarks/engine.py): ACCOUNTS accounts, an owner each, and
their visitors, inserted in bulk (making them is not what is measured); their first
messages written in-process; and the notifications counted by state."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, insert, select

from frontdesk.core.model import DeviceStatus, Plan
from frontdesk.service import accounts, notifications, presence, visitor_messages_together
from frontdesk.service.accounts import NewAgent
from frontdesk.service.runtime import AgentCaller, Runtime, VisitorCaller
from frontdesk.store.models import Notification, Visitor, table_of

ACCOUNTS = 5
SUPPRESSED_ACCOUNTS = 4
# Visitors writing at once in-process: as many clients as a server has requests in flight.
CONCURRENT = 256


@dataclass
class Seeded:
    owners: list[AgentCaller]
    owner_tokens: list[str]
    account_ids: list[int]
    keys: list[str]
    callers: list[VisitorCaller]  # visitor i < n belongs to account i % ACCOUNTS
    tokens: list[str]  # then the staffed account's visitors, if any


def seed(rt: Runtime, n: int, *, staffed: int = 0) -> Seeded:
    """ACCOUNTS accounts, an owner each, and N visitors spread over them (inserted in bulk:
    creating visitors is not what is measured). With ``staffed``, one more account (the
    last) with that many visitors of its own after the N."""
    owners: list[AgentCaller] = []
    owner_tokens: list[str] = []
    keys: list[str] = []
    for a in range(ACCOUNTS + (1 if staffed else 0)):
        signed = accounts.sign_up(
            rt,
            name=f"Shop {a}",
            plan=Plan.STANDARD,
            owner=NewAgent(
                name="Olga", email=f"owner{a}@bench.example.com", password="steep-the-oolong-4"
            ),
        )
        owners.append(accounts.authenticate_agent(rt, signed.token))
        owner_tokens.append(signed.token)
        keys.append(signed.account.widget_key)
    tokens = [f"fdv_bench_{secrets.token_hex(8)}" for _ in range(n + staffed)]
    now = datetime.now(UTC)
    visitors = table_of(Visitor)
    with rt.database.write() as session:
        for start in range(0, n + staffed, 5000):
            session.execute(
                insert(visitors),
                [
                    {
                        "account_id": owners[i % ACCOUNTS if i < n else ACCOUNTS].account_id,
                        "token_hash": hashlib.sha256(tokens[i].encode()).hexdigest(),
                        "created_at": now,
                        "present": False,
                    }
                    for i in range(start, min(n + staffed, start + 5000))
                ],
            )
    with rt.database.read() as session:
        rows = session.execute(
            select(Visitor.id, Visitor.account_id, Visitor.token_hash).order_by(Visitor.id)
        ).all()
    by_hash = {
        row.token_hash: VisitorCaller(visitor_id=row.id, account_id=row.account_id) for row in rows
    }
    callers = [by_hash[hashlib.sha256(t.encode()).hexdigest()] for t in tokens]
    return Seeded(
        owners=owners,
        owner_tokens=owner_tokens,
        account_ids=[o.account_id for o in owners],
        keys=keys,
        callers=callers,
        tokens=tokens,
    )


def count_by_state(rt: Runtime) -> dict[str, int]:
    with rt.database.read() as session:
        return {
            state.value: count
            for state, count in session.execute(
                select(Notification.state, func.count()).group_by(Notification.state)
            )
        }


async def open_all(rt: Runtime, callers: list[VisitorCaller]) -> None:
    """Each visitor's first message through the service call, CONCURRENT callers at a
    time, each posting the next visitor's message once its own is stored."""
    waiting = iter(callers)

    async def client() -> None:
        for caller in waiting:
            await visitor_messages_together.post_visitor_message_soon(
                rt, caller, text="Anyone there?", group_id=None
            )

    await asyncio.gather(*(client() for _ in range(CONCURRENT)))


def call_off_in_process(rt: Runtime, owners: list[AgentCaller]) -> None:
    """The owners come online through the service call; on SQLite, what their own
    transactions leave of the call-off (beyond the first chunk) is done here in chunks, as
    the serve's engine does it (``continue_call_off``)."""

    async def engine_listens() -> None:
        rt.call_offs_bell.attach()

    with asyncio.Runner() as runner:
        runner.run(engine_listens())
        try:
            for owner in owners:
                presence.set_status(rt, owner, status=DeviceStatus.ONLINE, device_key="bench")
            while rt.call_offs:
                notifications.continue_call_off(rt)
        finally:
            rt.call_offs_bell.detach()
