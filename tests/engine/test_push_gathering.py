"""The push stage gathers the pushes that fall due close together (``push_gather_for``):
under a burst of offline messages, each one's push due a little after the previous one's,
it decides them in a run or two, not in a run each. On a database of its own (SQLite), with
the engine's real loops in-process on the real clock; each run of the stage recorded with
when it ran and how many pushes it decided."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from frontdesk.core.model import Plan
from frontdesk.core.notifications import SuppressedBecause
from frontdesk.engine.mailer import Mailer
from frontdesk.engine.worker import NotificationWorker
from frontdesk.service import accounts, notifications, visitor_messages, widget
from frontdesk.service.notifications import ClaimedPush
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings
from frontdesk.store.migrate import upgrade
from frontdesk.store.models import Notification

PUSH_DELAY = 0.3
MESSAGES = 3
APART = 0.25  # between two messages, so between their pushes' due times


@pytest.mark.parametrize("gather_for", [1.0, 0.0])
def test_pushes_falling_due_close_together_are_decided_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gather_for: float
) -> None:
    runs: list[tuple[float, int]] = []  # (when, pushes decided) of each run of the stage
    claim = notifications.claim_pushes

    def claim_pushes(rt: Runtime) -> tuple[int, list[ClaimedPush]]:
        decided, claimed = claim(rt)
        runs.append((time.monotonic(), decided))
        return decided, claimed

    monkeypatch.setattr(notifications, "claim_pushes", claim_pushes)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'frontdesk.sqlite3'}",
        data_dir=tmp_path,
        password_hashing="fast",
        offline_email_delay=60,
        offline_push_delay=PUSH_DELAY,
        push_gather_for=gather_for,
        worker_max_sleep=60,
        confirm_addresses=False,
    )
    rt = Runtime.create(settings)
    upgrade(rt.database)
    try:
        posted = asyncio.run(_burst(rt, settings))
        with rt.database.read() as session:
            reasons = list(session.scalars(select(Notification.push_reason)))
    finally:
        rt.database.dispose()

    # Nobody of the account has a browser subscribed: every push decided, to nobody.
    assert reasons == [SuppressedBecause.NO_RECIPIENTS] * MESSAGES
    deciding = [(at, decided) for at, decided in runs if decided]
    assert sum(decided for _, decided in deciding) == MESSAGES
    if gather_for:
        # Due APART apart, decided in at most two runs, those at least gather_for apart ...
        assert len(deciding) <= 2, deciding
        assert all(b[0] - a[0] >= gather_for - 0.05 for a, b in itertools.pairwise(deciding))
        # ... and none later than gather_for after its due time (with the loop's own slack).
        assert deciding[-1][0] - (posted[-1] + PUSH_DELAY) <= gather_for + 0.25
    else:
        # Without gathering, a run for each push as it falls due.
        assert len(deciding) == MESSAGES, deciding


async def _burst(rt: Runtime, settings: Settings) -> list[float]:
    """An offline account's visitors writing APART seconds apart, the engine running until
    every push is decided; when each message was stored."""
    signed = accounts.sign_up(
        rt,
        name="Tea Shop",
        plan=Plan.STANDARD,
        owner=accounts.NewAgent(
            name="Olga", email="olga@shop.example.com", password="steep-the-oolong-4"
        ),
    )
    key = signed.account.widget_key
    callers = []
    for n in range(MESSAGES):
        visitor = widget.create_visitor(rt, key, name=f"Visitor {n}", email=None, page_url=None)
        callers.append(widget.authenticate_visitor(rt, key, visitor.token))
    mailer = Mailer(settings)
    await mailer.start()
    engine = NotificationWorker(rt, mailer)
    await engine.start()
    posted: list[float] = []
    try:
        for caller in callers:
            await asyncio.to_thread(
                visitor_messages.post_visitor_message, rt, caller, text="Hello?", group_id=None
            )
            posted.append(time.monotonic())
            await asyncio.sleep(APART)
        deadline = time.monotonic() + 10
        while not _all_pushes_decided(rt):
            assert time.monotonic() < deadline, "the pushes were not decided within 10 s"
            await asyncio.sleep(0.05)
    finally:
        await engine.stop()
        await mailer.stop()
    return posted


def _all_pushes_decided(rt: Runtime) -> bool:
    with rt.database.read() as session:
        due = session.scalars(select(Notification.push_due_at)).all()
    return len(due) == MESSAGES and all(at is None for at in due)
