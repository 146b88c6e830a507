"""Asynchronous bounces: what a delivery-status notification does to the records, and what
an agent is shown about its own address. Design notes: docs/email.md (bounces).

A mail server that accepted an e-mail (its delivery is ``sent``) may still fail to deliver it
and report so later, to the e-mail's VERP return path (``frontdesk.mail.verp``), whose token
names the delivery. ``record_bounce`` turns that delivery ``bounced`` with the report's
status and text, and the notification ``failed`` when nobody else got it. Only a
``sent`` delivery can bounce: a report about an e-mail the engine has not seen accepted
(pending or deferred: the accepted copy was sent just before a crash, or its 250 was lost)
is dropped, because the engine sends that e-mail again and a new report will follow about
that one. The same report twice changes nothing the second time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select

from frontdesk import metrics
from frontdesk.core.notifications import DeliveryState
from frontdesk.mail.verp import delivery_of_token, outbox_of_token, return_path_base
from frontdesk.service.events import BounceReceived
from frontdesk.service.notifications import fail_if_nobody_got_it
from frontdesk.service.runtime import Runtime
from frontdesk.service.secrets import VERP_KEY, installation_secret
from frontdesk.settings import Settings
from frontdesk.store.models import Delivery, OutboxEmail, OutboxKind

log = logging.getLogger("frontdesk.bounces")

BOUNCE_TEXT_MAX = 1000  # the width of ``deliveries.bounce_text``
# Outbox e-mails to somebody else than the agent of the row: a visitor's.
_TO_VISITORS = (OutboxKind.VISITOR_REPLY, OutboxKind.TRANSCRIPT)
# The outbox e-mails whose acceptance after a bounce says the mailbox takes mail again:
# notifications in a digest, and the tests the agent asked for or a new address got. Not an
# e-mail that a bounce itself causes (an alert that nobody got a notification), which would
# otherwise clear the bounce it is about.
_SHOW_ROOM = (OutboxKind.DIGEST, OutboxKind.ADDRESS_TEST, OutboxKind.TEST_NOTIFICATION)
BOUNCE_STATUS_MAX = 16  # the width of ``deliveries.bounce_status``


class BounceResult(StrEnum):
    BOUNCED = "bounced"  # the delivery is now bounced
    DUPLICATE = "duplicate"  # it already was: nothing changed
    NOT_SENT = "not_sent"  # the delivery was not accepted (yet): nothing changed
    # The e-mail is being sent right now (claimed, its outcome not recorded yet): nothing
    # changed, and the reporting server is asked to try again later.
    IN_FLIGHT = "in_flight"
    UNKNOWN = "unknown"  # no such delivery (any more)
    FORGED = "forged"  # the token was not made by this installation


def bounce_address(settings: Settings) -> str:
    """The address whose ``+token`` variants are the return paths: ``bounce_address``, or
    the address of ``mail_from``."""
    return return_path_base(settings.bounce_address, settings.mail_from)


def verp_key(rt: Runtime) -> bytes:
    """The key of the return paths' tokens (made on first use, outside any transaction)."""
    return installation_secret(rt, VERP_KEY)


def record_bounce(
    rt: Runtime,
    token: str,
    *,
    status: str | None,
    bounce_text: str | None,
    final_recipient: str | None = None,
) -> BounceResult:
    """Record that the e-mail of the return path ``token`` was returned undelivered with
    ``status`` (``5.1.1``) and ``bounce_text`` (the remote server's words, already cleaned of
    control characters by the reader)."""
    # Before the write transaction: making the key on first use is a write of its own.
    key = verp_key(rt)
    outbox_id = outbox_of_token(key, token)
    if outbox_id is not None:
        return _record_outbox_bounce(
            rt, outbox_id, status=status, bounce_text=bounce_text, final_recipient=final_recipient
        )
    delivery_id = delivery_of_token(key, token)
    if delivery_id is None:
        log.warning("a bounce for a return path this installation did not make: %r", token[:64])
        metrics.bounce_received(BounceResult.FORGED.value)
        return BounceResult.FORGED
    now = rt.clock.now()
    with rt.database.write() as session:
        delivery = session.scalar(
            select(Delivery).where(Delivery.id == delivery_id).with_for_update()
        )
        result = _mark_bounced(delivery, status=status, bounce_text=bounce_text, now=now)
        if delivery is not None and result is BounceResult.BOUNCED:
            session.flush()
            fail_if_nobody_got_it(session, rt, delivery.notification_id, now)
        state = delivery.state.value if delivery is not None else None
        rt.record(session, BounceReceived(result.value))
    _log_bounce("delivery", delivery_id, status, final_recipient, result, state)
    return result


def _record_outbox_bounce(
    rt: Runtime,
    outbox_id: int,
    *,
    status: str | None,
    bounce_text: str | None,
    final_recipient: str | None,
) -> BounceResult:
    """An outbox e-mail (a confirmation, an address test, a test notification…) returned:
    the same rules as a delivery's, and no notification to fail."""
    now = rt.clock.now()
    with rt.database.write() as session:
        row = session.scalar(
            select(OutboxEmail).where(OutboxEmail.id == outbox_id).with_for_update()
        )
        result = _mark_bounced(row, status=status, bounce_text=bounce_text, now=now)
        state = row.state.value if row is not None else None
        rt.record(session, BounceReceived(result.value))
    _log_bounce("outbox e-mail", outbox_id, status, final_recipient, result, state)
    return result


def _mark_bounced(
    row: Delivery | OutboxEmail | None,
    *,
    status: str | None,
    bounce_text: str | None,
    now: datetime,
) -> BounceResult:
    """The one rule for a returned e-mail, a delivery's or an outbox e-mail's: only one the
    mail server accepted can bounce, and only once; one being sent right now is asked
    about again later (``IN_FLIGHT``)."""
    if row is None:
        return BounceResult.UNKNOWN
    if row.state is DeliveryState.BOUNCED:
        return BounceResult.DUPLICATE
    if row.state is DeliveryState.PENDING and row.lease_until is not None and row.lease_until > now:
        # Accepted a moment ago, its 250 not recorded yet: a report this fast comes from
        # the mail server that took it, and is recorded when it comes again.
        return BounceResult.IN_FLIGHT
    if row.state is not DeliveryState.SENT:
        return BounceResult.NOT_SENT
    row.state = DeliveryState.BOUNCED
    row.bounced_at = now
    row.bounce_status = status[:BOUNCE_STATUS_MAX] if status else None
    row.bounce_text = bounce_text[:BOUNCE_TEXT_MAX] if bounce_text else None
    return BounceResult.BOUNCED


def _log_bounce(
    what: str,
    row_id: int,
    status: str | None,
    final_recipient: str | None,
    result: BounceResult,
    state: str | None,
) -> None:
    log.log(
        logging.INFO if result is BounceResult.BOUNCED else logging.WARNING,
        "bounce for %s %s (%s, final recipient %r): %s (it was %s)",
        what,
        row_id,
        status,
        (final_recipient or "")[:100],
        result.value,
        state or "not found",
    )


# --- the agent's address ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddressBounce:
    """The latest e-mail to an agent's address that came back, and what the server said."""

    email: str
    at: datetime
    status: str | None
    bounce_text: str | None
    delivery_id: int | None  # None: an outbox e-mail's (a confirmation, a test…)


def bounce_of_address(rt: Runtime, *, agent_id: int, email: str) -> AddressBounce | None:
    """Whether the agent's e-mail to ``email`` (its current address) bounces: the latest
    bounce of an e-mail to it, unless an e-mail accepted after that bounce came in has not
    bounced (the mailbox was full and is not any more). It is per address, so a new address
    starts clean. A bounce of the outbox's e-mails to the agent (a confirmation, an address
    test, a test notification) counts like a notification's; a digest or a test accepted
    after it clears it like a notification."""
    key = email.lower()
    to_delivery = (Delivery.agent_id == agent_id, func.lower(Delivery.email) == key)
    to_outbox = (
        OutboxEmail.agent_id == agent_id,
        func.lower(OutboxEmail.email) == key,
        OutboxEmail.kind.not_in(_TO_VISITORS),
    )
    with rt.database.read() as session:
        delivery = session.scalar(
            select(Delivery)
            .where(*to_delivery, Delivery.state == DeliveryState.BOUNCED)
            .order_by(Delivery.bounced_at.desc(), Delivery.id.desc())
            .limit(1)
        )
        outboxed = session.scalar(
            select(OutboxEmail)
            .where(*to_outbox, OutboxEmail.state == DeliveryState.BOUNCED)
            .order_by(OutboxEmail.bounced_at.desc(), OutboxEmail.id.desc())
            .limit(1)
        )
        found = [
            AddressBounce(row.email, row.bounced_at, row.bounce_status, row.bounce_text, row_id)
            for row, row_id in (
                (delivery, delivery.id if delivery else None),
                (outboxed, None),
            )
            if row is not None and row.bounced_at is not None
        ]
        if not found:
            return None
        latest = max(found, key=lambda bounce: bounce.at)
        superseded = session.scalar(
            select(Delivery.id)
            .where(
                *to_delivery,
                Delivery.state == DeliveryState.SENT,
                Delivery.sent_at > latest.at,
            )
            .limit(1)
        ) or session.scalar(
            select(OutboxEmail.id)
            .where(
                *to_outbox,
                OutboxEmail.kind.in_(_SHOW_ROOM),
                OutboxEmail.state == DeliveryState.SENT,
                OutboxEmail.sent_at > latest.at,
            )
            .limit(1)
        )
        return None if superseded is not None else latest
