"""What the mail server said about several e-mails, recorded in one transaction (the
worker's group recorder): on PostgreSQL the sent ones go in one statement, each with the
outcome it would have had alone. A delivery whose lease another worker took meanwhile is
not recorded, a refused one is, and nothing of one delivery lands on another."""

from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient

from frontdesk.clock import ManualClock
from frontdesk.core.notifications import DeliveryState
from frontdesk.mail.transport import SendOutcome
from frontdesk.service import notifications
from frontdesk.service.runtime import Runtime
from frontdesk.store.models import Delivery
from tests.support import SignedUp, new_visitor

DELAY = 120  # the default offline_email_delay


def test_sent_taken_over_and_refused_outcomes_recorded_together(
    runtime: Runtime, client: TestClient, account: SignedUp, clock: ManualClock
) -> None:
    for n in range(4):
        new_visitor(client, account.widget_key).say(f"Anyone there? {n}")
    clock.advance(DELAY + 1)
    while notifications.decide_due(runtime):
        pass
    claimed = [
        c
        for c in notifications.claim_deliveries(runtime, limit=50)
        if c.email.recipient_email == account.email
    ]
    assert len(claimed) == 4
    first, second, taken_over, refused = sorted(claimed, key=lambda c: c.delivery_id)
    clock.advance(1)
    with runtime.database.write() as session:
        results = notifications.record_outcomes(
            session,
            runtime,
            [
                (first, SendOutcome(accepted=True, code=250, text="2.0.0 Ok: queued as A")),
                (replace(taken_over, lease_token="0" * 32), SendOutcome(True, 250, "2.0.0 B")),
                (refused, SendOutcome(accepted=False, code=550, text="5.1.1 No such user")),
                (second, SendOutcome(accepted=True, code=251, text="2.1.5 Ok: queued as C")),
            ],
        )
    assert results == [True, False, True, True]
    with runtime.database.read() as session:
        rows = {c.delivery_id: session.get_one(Delivery, c.delivery_id) for c in claimed}
    for delivery, code, text in (
        (first, 250, "2.0.0 Ok: queued as A"),
        (second, 251, "2.1.5 Ok: queued as C"),
    ):
        row = rows[delivery.delivery_id]
        assert (row.state, row.smtp_code, row.smtp_text, row.attempts) == (
            DeliveryState.SENT,
            code,
            text,
            1,
        )
        assert row.sent_at == row.last_attempt_at == clock.now()
        assert row.first_attempt_at == delivery.claimed_at
        assert (row.lease_token, row.lease_until) == (None, None)
    untouched = rows[taken_over.delivery_id]
    assert (untouched.state, untouched.attempts, untouched.lease_token) == (
        DeliveryState.PENDING,
        0,
        taken_over.lease_token,
    )
    assert rows[refused.delivery_id].state is DeliveryState.REJECTED
