"""A visitor on the website (docs/presence.md): every sign of life (a socket, a heartbeat,
a message) renews the visitor's lease; one that finds the lease run out records the
leaving first, at its end, then the return. A visitor message takes the hot path
(``visitor_active``), which writes nothing while the lease reaches far enough."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import Connection, bindparam, or_, select, update
from sqlalchemy.orm import Session

from frontdesk.core.model import ConversationStatus
from frontdesk.core.presence import PresenceChange, visitor_transition
from frontdesk.service import notifications
from frontdesk.service.events import PresenceChanged
from frontdesk.service.presence.recording import (
    VISITOR_PRESENCE_CHANGED,
    PresenceEvent,
    announced,
    record_transition,
)
from frontdesk.service.runtime import Runtime, VisitorCaller
from frontdesk.store.models import Conversation, Visitor, table_of
from frontdesk.store.plain import PlainStatement, unnested

_visitors = table_of(Visitor)


def visitor_seen(rt: Runtime, caller: VisitorCaller) -> list[PresenceEvent]:
    """A visitor connection opened, closed, or heartbeated: the visitor is on the website
    for at least ``visitor_left_after`` more."""
    with rt.database.write() as session:
        # Locked before the clock is read (docs/presence.md, one clock).
        visitor = session.get_one(Visitor, caller.visitor_id, with_for_update=True)
        return mark_visitor_seen(session, rt, visitor)


def mark_visitor_seen(
    session: Session, rt: Runtime, visitor: Visitor, *, now: datetime | None = None
) -> list[PresenceEvent]:
    """In the caller's transaction: the visitor showed a sign of life (a connection, a
    heartbeat, a message) at ``now``."""
    return announced(session, rt, visitor_seen_at(session, rt, visitor, now or rt.clock.now()))


def visitor_seen_at(
    session: Session, rt: Runtime, visitor: Visitor, now: datetime
) -> list[PresenceEvent]:
    """``mark_visitor_seen``, its events not described (nor recorded) yet."""
    # Gone unnoticed before this sign of life (the sweep has not come by): that was a
    # leaving, recorded at its moment, and this is a return.
    left = _settle_visitor(session, rt, visitor, now)
    lease_end = now + rt.visitor_left_after
    visitor.present_until = max(visitor.present_until or lease_end, lease_end)
    arrived = _settle_visitor(session, rt, visitor, now)
    return [e for e in (left, arrived) if e is not None]


def _settle_visitor(
    session: Session, rt: Runtime, visitor: Visitor, now: datetime
) -> PresenceEvent | None:
    transition = visitor_transition(
        was_present=visitor.present, present_until=visitor.present_until, now=now
    )
    if transition is None:
        return None
    visitor.present = transition.change is PresenceChange.VISITOR_ARRIVED
    event = record_transition(session, visitor.account_id, transition, visitor_id=visitor.id)
    notifications.presence_recorded(session, rt, [event])
    return event


class VisitorLease(Enum):
    """What a visitor message does to its visitor's lease (``visitor_lease``)."""

    KEEP = "keep"  # on the website, the lease reaches far enough: nothing written
    RENEW = "renew"  # on the website: the lease renewed
    ARRIVE = "arrive"  # not on the website: an arrival recorded
    RECORD_LEAVING_FIRST = "record_leaving_first"  # lapsed, unrecorded: the full path


def visitor_lease(
    rt: Runtime, *, present: bool, present_until: datetime | None, now: datetime
) -> tuple[VisitorLease, datetime | None]:
    """What a visitor message does to the lease, as ``visitor_active`` explains, and the
    lease's new end (renewed, or arrived)."""
    lease_end = now + rt.visitor_left_after
    if present and present_until is not None and present_until > now:
        if present_until < lease_end:
            return VisitorLease.RENEW, lease_end + timedelta(
                seconds=rt.settings.visitor_seen_coalesce
            )
        return VisitorLease.KEEP, None
    if present:
        return VisitorLease.RECORD_LEAVING_FIRST, None
    return VisitorLease.ARRIVE, max(present_until or lease_end, lease_end)


def visitor_active(
    session: Session,
    rt: Runtime,
    connection: Connection,
    *,
    visitor_id: int,
    account_id: int,
    present: bool,
    present_until: datetime | None,
    now: datetime,
) -> list[PresenceEvent]:
    """``mark_visitor_seen`` for the hot path (a visitor message), given the visitor's
    lease as the caller read it, in plain statements. A visitor on the website whose lease
    already reaches ``visitor_left_after`` past ``now`` writes nothing; one whose lease
    needs renewing gets it renewed ``visitor_seen_coalesce`` further, so that the messages
    of the next moment write nothing either. A lease is never shortened, and at most that
    much longer than the rule's (docs/presence.md). A visitor arriving is recorded here
    too; only a leaving nobody has recorded yet (a lapsed lease) takes the full path,
    which records it first and may open a missed-conversation notification."""
    lease, until = visitor_lease(rt, present=present, present_until=present_until, now=now)
    if lease is VisitorLease.KEEP:
        return []
    if lease is VisitorLease.RENEW:
        _RENEW_VISITOR_LEASE.run(connection, visitor_id=visitor_id, renewed=until)
        return []
    if lease is VisitorLease.RECORD_LEAVING_FIRST:
        return mark_visitor_seen(session, rt, session.get_one(Visitor, visitor_id), now=now)
    assert until is not None
    open_ids = [row[0] for row in _OPEN_CONVERSATION_IDS.rows(connection, visitor_id=visitor_id)]
    return visitors_arrived(
        session, rt, connection, [(account_id, visitor_id, until, open_ids)], now=now
    )


def visitors_arrived(
    session: Session,
    rt: Runtime,
    connection: Connection,
    arrivals: Sequence[tuple[int, int, datetime, Sequence[int]]],
    *,
    now: datetime,
) -> list[PresenceEvent]:
    """Visitors arriving (``VisitorLease.ARRIVE``) by their messages, in one statement per
    table: (account, visitor, the lease's end, the visitor's open conversations) each,
    announced once the transaction commits."""
    if not arrivals:
        return []
    events: list[PresenceEvent] = []
    for account_id, visitor_id, until, open_ids in arrivals:
        transition = visitor_transition(was_present=False, present_until=until, now=now)
        assert transition is not None  # not present, and the lease runs: an arrival
        events.append(
            PresenceEvent(
                account_id=account_id,
                change=transition.change,
                at=transition.at,
                visitor_id=visitor_id,
                conversation_ids=tuple(open_ids),
            )
        )
    _VISITOR_ARRIVED.run_many(
        connection,
        [{"visitor_id": visitor_id, "until": until} for _, visitor_id, until, _ in arrivals],
    )
    VISITOR_PRESENCE_CHANGED.run_many(
        connection,
        [
            {
                "account_id": event.account_id,
                "visitor_id": event.visitor_id,
                "change": event.change,
                "at": event.at,
            }
            for event in events
        ],
    )
    rt.record(session, PresenceChanged(tuple(events)))
    return events


def renew_visitor_leases(connection: Connection, renewals: Sequence[tuple[int, datetime]]) -> None:
    """``VisitorLease.RENEW`` for many visitors: (visitor, the lease's new end) each."""
    _RENEW_VISITOR_LEASE.run_many(
        connection, [{"visitor_id": visitor_id, "renewed": until} for visitor_id, until in renewals]
    )


_ARRIVALS = unnested(visitor_id=_visitors.c.id.type, until=_visitors.c.present_until.type)
_VISITOR_ARRIVED = PlainStatement(
    update(_visitors)
    .where(_visitors.c.id == bindparam("visitor_id"))
    .values(present=True, present_until=bindparam("until")),
    many_on_postgresql=update(_visitors)
    .where(_visitors.c.id == _ARRIVALS.c.visitor_id)
    .values(present=True, present_until=_ARRIVALS.c.until),
)


_OPEN_CONVERSATION_IDS = PlainStatement(
    select(Conversation.id)
    .where(
        Conversation.visitor_id == bindparam("visitor_id"),
        Conversation.status != ConversationStatus.CLOSED,
    )
    .order_by(Conversation.id)
)


_RENEWALS = unnested(visitor_id=_visitors.c.id.type, renewed=_visitors.c.present_until.type)
_RENEW_VISITOR_LEASE = PlainStatement(
    update(_visitors)
    .where(
        _visitors.c.id == bindparam("visitor_id"),
        # Never shorter: a socket's renewal may have gone further meanwhile.
        or_(_visitors.c.present_until.is_(None), _visitors.c.present_until < bindparam("renewed")),
    )
    .values(present_until=bindparam("renewed")),
    many_on_postgresql=update(_visitors)
    .where(
        _visitors.c.id == _RENEWALS.c.visitor_id,
        or_(_visitors.c.present_until.is_(None), _visitors.c.present_until < _RENEWALS.c.renewed),
    )
    .values(present_until=_RENEWALS.c.renewed),
)
