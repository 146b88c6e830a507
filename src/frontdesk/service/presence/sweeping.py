"""The sweep: leases that simply run out change nobody's row, so the sweep finds them and
records each transition at the moment the lease ended, not when it happened to notice;
and the history of transitions, read back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from frontdesk.core.model import ConversationStatus
from frontdesk.core.presence import PresenceChange, visitor_transition
from frontdesk.service import notifications
from frontdesk.service.events import PresenceChanged
from frontdesk.service.presence.devices import settle_agent
from frontdesk.service.presence.recording import VISITOR_PRESENCE_CHANGED, PresenceEvent, announced
from frontdesk.service.runtime import Runtime
from frontdesk.service.scope import device_counts_at
from frontdesk.store.among import among
from frontdesk.store.models import Agent, Conversation, Device, PresenceChangeRow, Visitor

# How many agents or visitors one sweep transaction settles at most; the next sweep
# continues, so a burst of expiries never makes one long write transaction. On SQLite the
# server's sweep runs on the event loop (``sweep_soon``): a full batch holds it about as
# long as a full group commit of visitor messages (~50 µs a departure).
SWEEP_BATCH = 256
# On PostgreSQL, where the sweep runs on a pool thread and holds nothing but the rows it
# settles, a sweep settles this many times as many: each one pays a round trip per scope
# for its online history, 30 of its 43 statements under the engine benchmark, and with 256
# a sweep it recorded ~1,800 departures a second, behind visitors leaving at 1,500
# (docs/performance.md).
POSTGRESQL_SWEEP_BATCHES = 4


def sweep_batch(rt: Runtime) -> int:
    """How many agents, and how many visitors, one sweep settles at most."""
    if rt.database.is_postgresql:
        return SWEEP_BATCH * POSTGRESQL_SWEEP_BATCHES
    return SWEEP_BATCH


def sweep(rt: Runtime) -> list[PresenceEvent]:
    """Record the transitions of leases that ran out since the last sweep."""
    with rt.database.write() as session:
        return sweep_in(session, rt)


async def sweep_soon(rt: Runtime) -> list[PresenceEvent]:
    """``sweep`` from the event loop, the way the server's sweep runs: on SQLite in the
    group commit, on the loop, ahead of the requests' writes waiting; on PostgreSQL in a
    transaction of its own, also on the loop, its round trips awaited
    (``Database.run_write_first``). From a pool thread the sweep spent more time taking the
    interpreter lock back from the busy loop after each call than running its statements,
    and under the engine benchmark departures were recorded up to 0.9 s late on SQLite and
    0.5 s on PostgreSQL (docs/performance.md)."""
    return await rt.database.run_write_first(partial(sweep_in, rt=rt))


def sweep_in(session: Session, rt: Runtime) -> list[PresenceEvent]:
    """``sweep`` in the caller's write transaction."""
    now = rt.clock.now()
    events: list[PresenceEvent] = []
    lapsed_agents = session.scalars(
        select(Agent)
        .where(Agent.online.is_(True))
        .where(
            ~select(Device.id).where(Device.agent_id == Agent.id, device_counts_at(now)).exists()
        )
        .order_by(Agent.id)
        .limit(sweep_batch(rt))
        .with_for_update(skip_locked=True)
    ).all()
    for agent in lapsed_agents:
        if (event := settle_agent(session, rt, agent, now)) is not None:
            events.append(event)
    described = announced(session, rt, events)
    return described + _sweep_visitors(session, rt, now)


def _sweep_visitors(session: Session, rt: Runtime, now: datetime) -> list[PresenceEvent]:
    """The visitors whose lease ran out, recorded as gone at its end, in a few statements
    for the whole batch (the sweep has to keep up with the visitors arriving)."""
    left = session.execute(
        select(Visitor.id, Visitor.account_id, Visitor.present_until)
        .where(Visitor.present.is_(True), Visitor.present_until <= now)
        # The longest gone first: a sweep behind its backlog still records each departure
        # within a batch or two of its lease's end (the index on both columns serves it).
        .order_by(Visitor.present_until, Visitor.id)
        .limit(sweep_batch(rt))
        .with_for_update(skip_locked=True)
    ).all()
    if not left:
        return []
    departures: list[PresenceEvent] = []
    for visitor_id, account_id, present_until in left:
        transition = visitor_transition(was_present=True, present_until=present_until, now=now)
        assert transition is not None
        assert transition.change is PresenceChange.VISITOR_LEFT
        departures.append(
            PresenceEvent(
                account_id=account_id,
                change=transition.change,
                at=transition.at,
                visitor_id=visitor_id,
            )
        )
    visitor_ids = [visitor_id for visitor_id, _, _ in left]
    session.execute(
        update(Visitor)
        .where(among(Visitor.id, visitor_ids))
        .values(present=False)
        .execution_options(synchronize_session=False)
    )
    VISITOR_PRESENCE_CHANGED.run_many(
        session.connection(),
        [
            {
                "account_id": d.account_id,
                "visitor_id": d.visitor_id,
                "change": PresenceChange.VISITOR_LEFT,
                "at": d.at,
            }
            for d in departures
        ],
    )
    notifications.presence_recorded(session, rt, departures)
    open_ids: dict[int | None, list[int]] = {}
    for visitor_id, conversation_id in session.execute(
        select(Conversation.visitor_id, Conversation.id)
        .where(
            among(Conversation.visitor_id, visitor_ids),
            Conversation.status != ConversationStatus.CLOSED,
        )
        .order_by(Conversation.id)
    ):
        open_ids.setdefault(visitor_id, []).append(conversation_id)
    for departure in departures:  # made here, not shared yet: completed in place
        departure.conversation_ids = tuple(open_ids.get(departure.visitor_id, ()))
    rt.record(session, PresenceChanged(tuple(departures)))
    return departures


def next_sweep_at(rt: Runtime) -> datetime | None:
    """When the next lease of someone online or on the website runs out."""
    now = rt.clock.now()
    # Only leases still running count: one that ended while the same agent holds another
    # is no reason to sweep again (and would make the sweep spin). A device turning idle
    # ends what it counts for as a lease does.
    with rt.database.read() as session:
        counting = (Agent.online.is_(True), device_counts_at(now))
        agent_lease = session.scalar(
            select(func.min(Device.connected_until))
            .join(Agent, Agent.id == Device.agent_id)
            .where(*counting)
        )
        idle_at = session.scalar(
            select(func.min(Device.idle_at))
            .join(Agent, Agent.id == Device.agent_id)
            .where(*counting)
        )
        # A visitor still present is one to record as gone at its lease's end, even
        # if that end has passed (it ran out while the last sweep was under way).
        visitor_lease = session.scalar(
            select(func.min(Visitor.present_until)).where(Visitor.present.is_(True))
        )
    leases = [t for t in (agent_lease, idle_at, visitor_lease) if t is not None]
    return min(leases, default=None)


def changes_since(
    rt: Runtime, *, agent_ids: Sequence[int], since: datetime
) -> list[PresenceChangeRow]:
    """The recorded transitions of these agents after ``since``, oldest first."""
    with rt.database.read() as session:
        return list(
            session.scalars(
                select(PresenceChangeRow)
                .where(PresenceChangeRow.agent_id.in_(agent_ids), PresenceChangeRow.at > since)
                .order_by(PresenceChangeRow.at, PresenceChangeRow.id)
            )
        )
