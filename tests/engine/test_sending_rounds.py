"""The sending loop claims the next batch of deliveries while a full one is being sent, for
``SEND_ROUNDS`` batches, then lets the outbox's e-mails have their turn. On a database of
its own (SQLite), with the engine's real steps in-process and a real SMTP server on
loopback; the batches made small so that a handful of e-mails shows them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from frontdesk.clock import SystemClock
from frontdesk.core.model import Plan
from frontdesk.engine import worker as worker_module
from frontdesk.engine.mailer import Mailer
from frontdesk.engine.worker import NotificationWorker
from frontdesk.security import PasswordHasher
from frontdesk.service import accounts, notifications, outbox, visitor_messages, widget
from frontdesk.service.notifications import ClaimedDelivery
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from frontdesk.store.migrate import upgrade
from tests.mailsink import MailSink, mail_sink

E_MAILS = 11
BATCH, ROUNDS = 3, 3
HELD = 0.15


def _offline_messages(rt: Runtime, count: int) -> str:
    """An account whose owner is offline and ``count`` visitors who wrote to it, their
    notifications decided into one delivery each; the owner's address."""
    email = "olga@shop.example.com"
    signed = accounts.sign_up(
        rt,
        name="Tea Shop",
        plan=Plan.STANDARD,
        owner=accounts.NewAgent(name="Olga", email=email, password="steep-the-oolong-4"),
    )
    key = signed.account.widget_key
    for n in range(count):
        visitor = widget.create_visitor(rt, key, name=f"Visitor {n}", email=None, page_url=None)
        caller = widget.authenticate_visitor(rt, key, visitor.token)
        visitor_messages.post_visitor_message(rt, caller, text="Hello?", group_id=None)
    return email


def test_the_next_batch_is_claimed_while_one_is_sent_and_the_outbox_gets_its_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "SEND_BATCH", BATCH)
    monkeypatch.setattr(worker_module, "SEND_ROUNDS", ROUNDS)
    steps: list[tuple[str, Any]] = []
    claim, claim_outbox = notifications.claim_deliveries, outbox.claim_outbox

    def claim_deliveries(rt: Runtime, *, limit: int) -> list[ClaimedDelivery]:
        steps.append(("claim", None))
        claimed = claim(rt, limit=limit)
        steps.append(("claimed", len(claimed)))
        return claimed

    def outbox_turn(rt: Runtime, *, limit: int) -> Any:
        steps.append(("outbox", None))
        return claim_outbox(rt, limit=limit)

    monkeypatch.setattr(notifications, "claim_deliveries", claim_deliveries)
    monkeypatch.setattr(outbox, "claim_outbox", outbox_turn)

    # Each DATA held a while, as a real mail server's reply takes time: a claim started
    # while an e-mail is on its way is seen to start before that e-mail's reply.
    with mail_sink(data_delay=HELD) as sink:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'frontdesk.sqlite3'}",
            data_dir=tmp_path,
            password_hashing="fast",
            offline_email_delay=0.001,
            smtp_url=sink.url,
            smtp_max_connections=2,
            emails_per_agent_per_hour=0,
            emails_per_account_per_hour=0,
            confirm_addresses=False,
        )
        database = Database(settings.effective_database_url)
        upgrade(database)
        try:
            rt = Runtime(
                settings=settings,
                database=database,
                clock=SystemClock(),
                passwords=PasswordHasher("fast"),
            )
            owner = _offline_messages(rt, E_MAILS)
            asyncio.run(_send_everything(rt, settings, steps))
        finally:
            database.dispose()
        received = _received(sink, owner)

    # Every e-mail once.
    assert len(received) == E_MAILS
    assert len(set(received)) == E_MAILS
    claims = [n for step, n in steps if step == "claimed"]
    # Three full batches back to back, then the outbox's turn, then the rest.
    assert claims[:ROUNDS] == [BATCH] * ROUNDS
    assert [step for step, _ in steps].index("outbox") > _nth(steps, "claimed", ROUNDS)
    assert sum(claims) == E_MAILS
    # The second batch was claimed before the first batch's e-mails were all sent.
    second_claim = _nth(steps, "claim", 2)
    assert [step for step, _ in steps[:second_claim]].count("sent") < BATCH


async def _send_everything(rt: Runtime, settings: Settings, steps: list[tuple[str, Any]]) -> None:
    while notifications.decide_due(rt):
        pass
    mailer = Mailer(settings)
    await mailer.start()
    engine = NotificationWorker(rt, mailer)
    send = engine._send

    async def sending(transport: Any, item: ClaimedDelivery) -> Any:
        outcome = await send(transport, item)
        steps.append(("sent", item.delivery_id))
        return outcome

    engine._send = sending  # type: ignore[method-assign]
    try:
        await engine.run_once()
    finally:
        await mailer.stop()


def _nth(steps: list[tuple[str, Any]], name: str, n: int) -> int:
    """Where the ``n``-th step of that name is (from 1)."""
    return [index for index, (step, _) in enumerate(steps) if step == name][n - 1]


def _received(sink: MailSink, address: str) -> list[str]:
    return [str(caught.message["Message-ID"]) for caught in sink.to(address)]
