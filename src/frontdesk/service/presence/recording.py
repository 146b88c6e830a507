"""What presence records and announces: each transition as a row of ``presence_changes``
and as a ``PresenceEvent``, described with what its announcement needs and announced once
the transaction commits (``PresenceChanged``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from frontdesk.core.model import ConversationStatus
from frontdesk.core.presence import PresenceChange, Transition
from frontdesk.service.events import PresenceChanged
from frontdesk.service.runtime import Runtime
from frontdesk.service.scope import online_agents_of_accounts
from frontdesk.store.models import Conversation, PresenceChangeRow, table_of
from frontdesk.store.plain import PlainStatement


# Not frozen: one is made for each visitor message, where a frozen one takes three times
# as long to make (docs/performance.md).
@dataclass(slots=True)
class PresenceEvent:
    """A recorded transition, for the live side to announce, with what the announcement
    needs read in the same transaction: for an agent, who of the account is online now (so
    each widget can recompute its status); for a visitor, its open conversations (leaving
    and returning are events of the conversation)."""

    account_id: int
    change: PresenceChange
    at: datetime
    agent_id: int | None = None
    visitor_id: int | None = None
    online_agent_ids: frozenset[int] = frozenset()
    conversation_ids: tuple[int, ...] = ()

    @property
    def online(self) -> bool:
        return self.change in (PresenceChange.AGENT_ONLINE, PresenceChange.VISITOR_ARRIVED)


def presence_changed_statement(who: str) -> PlainStatement:
    """An ``INSERT`` of presence changes of agents (``who``: ``agent_id``) or of visitors
    (``visitor_id``), that column bound and the other one empty."""
    return PlainStatement(
        insert(table_of(PresenceChangeRow)).values(
            account_id=bindparam("account_id"),
            change=bindparam("change"),
            at=bindparam("at"),
            **{"agent_id": None, "visitor_id": None, who: bindparam(who)},
        )
    )


AGENT_PRESENCE_CHANGED = presence_changed_statement("agent_id")


VISITOR_PRESENCE_CHANGED = presence_changed_statement("visitor_id")


def record_transition(
    session: Session,
    account_id: int,
    transition: Transition,
    *,
    agent_id: int | None = None,
    visitor_id: int | None = None,
) -> PresenceEvent:
    session.add(
        PresenceChangeRow(
            account_id=account_id,
            agent_id=agent_id,
            visitor_id=visitor_id,
            change=transition.change,
            at=transition.at,
        )
    )
    return PresenceEvent(
        account_id=account_id,
        change=transition.change,
        at=transition.at,
        agent_id=agent_id,
        visitor_id=visitor_id,
    )


def announced(session: Session, rt: Runtime, events: list[PresenceEvent]) -> list[PresenceEvent]:
    """The events with what their announcements need, read in one query per account (who
    is online) and one for all the visitors' open conversations, recorded on the
    transaction: they are announced once it commits (``PresenceChanged``)."""
    if not events:
        return []
    session.flush()
    visitor_ids = {event.visitor_id for event in events if event.visitor_id is not None}
    conversations: dict[int, list[int]] = {visitor_id: [] for visitor_id in visitor_ids}
    if visitor_ids:
        for conversation_id, visitor_id in session.execute(
            select(Conversation.id, Conversation.visitor_id)
            .where(
                Conversation.visitor_id.in_(list(visitor_ids)),
                Conversation.status != ConversationStatus.CLOSED,
            )
            .order_by(Conversation.id)
        ):
            conversations[visitor_id].append(conversation_id)
    online = online_agents_of_accounts(
        session.connection(),
        {event.account_id for event in events if event.agent_id is not None},
        now=rt.clock.now(),
    )
    described = []
    for event in events:
        if event.agent_id is not None:
            described.append(replace(event, online_agent_ids=online[event.account_id]))
        else:
            assert event.visitor_id is not None
            described.append(
                replace(event, conversation_ids=tuple(conversations[event.visitor_id]))
            )
    rt.record(session, PresenceChanged(tuple(described)))
    return described
