"""What one attempt at an e-mail leaves on its row, the same for a notification's delivery
and an outbox e-mail (docs/notifications.md): the lease let go, the attempt counted, the
state ``frontdesk.core.notifications.after_attempt`` decides, and the engine told when to
try again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from frontdesk.core.notifications import AfterAttempt, DeliveryState, after_attempt
from frontdesk.mail.transport import SendOutcome
from frontdesk.service.runtime import Runtime
from frontdesk.store.models import Delivery, OutboxEmail

# The longest mail server's reply a row keeps (the columns' length).
SMTP_TEXT_MAX = 1000


def record_attempt(
    session: Session,
    rt: Runtime,
    row: Delivery | OutboxEmail,
    *,
    claimed_at: datetime,
    outcome: SendOutcome,
    now: datetime,
) -> AfterAttempt:
    """Record the attempt on ``row``, whose lease this worker holds; what it left the row in."""
    row.lease_until = None
    row.lease_token = None
    row.attempts += 1
    first_attempt_at = row.first_attempt_at or claimed_at
    row.first_attempt_at = first_attempt_at
    row.smtp_code = outcome.code
    after = after_attempt(
        accepted=outcome.accepted,
        code=outcome.code,
        text=outcome.text,
        attempts=row.attempts,
        first_attempt_at=first_attempt_at,
        now=now,
        retry_base=rt.settings.smtp_retry_base,
        retry_for=rt.settings.smtp_retry_for,
    )
    row.state = after.state
    row.smtp_text = after.smtp_text[:SMTP_TEXT_MAX]
    row.next_attempt_at = after.next_attempt_at
    if after.state is DeliveryState.SENT:
        row.sent_at = now
    if after.next_attempt_at is not None:
        rt.deliveries_due(session, after.next_attempt_at)
    return after
