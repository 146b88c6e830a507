"""Domain events: what a transaction changed, recorded on it and acted on once it commits.

A service operation records what it changed (``Runtime.record``) in the same transaction.
When that transaction commits, and only then, the dispatcher hands each event, in the order
recorded, to the handlers subscribed to its kind: the live side publishes frames
(``frontdesk.api.live``), the engine's doorbells ring, the metrics count. A transaction
that rolls back tells nobody; a route cannot forget to announce what its operation did,
because routes announce nothing.

Handlers run on the thread that committed (a pool thread, or the event loop for a group
commit), so they do no I/O but handing things over (the hub, a doorbell), and a failing
handler is logged without keeping the others from running.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from frontdesk.service.presence import PresenceEvent
    from frontdesk.service.visitor_messages import Posted
    from frontdesk.store.models import Conversation, Message

log = logging.getLogger("frontdesk.events")

E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class PresenceChanged:
    """Recorded transitions of agents and visitors, described for their announcements."""

    events: tuple[PresenceEvent, ...]


# Not frozen: one is made for each visitor message, where a frozen one takes three times
# as long to make (docs/performance.md).
@dataclass(slots=True)
class VisitorMessagePosted:
    """A visitor message stored; the live side builds its frames only if anybody listens."""

    posted: Posted


@dataclass(frozen=True, slots=True)
class ConversationChanged:
    """A conversation an agent changed (joined, replied to, closed), with the messages the
    change added. Its rows are loaded with what a frame shows (the visitor among it)."""

    conversation: Conversation
    messages: tuple[Message, ...]


@dataclass(frozen=True, slots=True)
class ConversationRead:
    conversation_id: int
    account_id: int
    agent_id: int
    up_to: int | None


@dataclass(frozen=True, slots=True)
class AgentDeactivated:
    account_id: int
    agent_id: int


@dataclass(frozen=True, slots=True)
class SessionsEnded:
    """Tokens of an agent revoked: ``token_ids``, or with ``all_but``, every token but that
    one (``None``: every one). Their open sockets close."""

    account_id: int
    agent_id: int
    token_ids: tuple[int, ...] = ()
    every_token: bool = False
    all_but: int | None = None

    def ends(self, agent_id: int, token_id: int) -> bool:
        if agent_id != self.agent_id:
            return False
        if self.every_token:
            return token_id != self.all_but
        return token_id in self.token_ids


@dataclass(frozen=True, slots=True)
class AgentAccessChanged:
    """What the agent's tokens prove changed: a token revoked (a logout, a deactivation) or
    another role. The agent's tokens are proven from the database again."""

    agent_id: int


@dataclass(frozen=True, slots=True)
class AlertsChanged:
    """An alert of the account was raised or cleared: the dashboards' banner reads them
    again (docs/reachability.md)."""

    account_id: int


@dataclass(frozen=True, slots=True)
class NotificationsDue:
    """Notifications to decide; ``due``: when the earliest falls due (``None``: now)."""

    due: datetime | None


@dataclass(frozen=True, slots=True)
class CallOffUnfinished:
    """An agent came online at ``at`` and, on SQLite, rule 2 called off only the first chunk
    of the account's notifications in that transaction: the engine goes on with the rest."""

    agent_id: int
    account_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class PushesDue:
    """Pushes to make; ``due``: when the earliest falls due (``None``: now)."""

    due: datetime | None


@dataclass(frozen=True, slots=True)
class WebhooksDue:
    """Webhook events to deliver; ``due``: the earliest attempt (``None``: now)."""

    due: datetime | None


@dataclass(frozen=True, slots=True)
class DeliveriesDue:
    """E-mails to send; ``due``: the earliest attempt (``None``: now)."""

    due: datetime | None


@dataclass(frozen=True, slots=True)
class Decided:
    """``count`` notifications decided alike; ``lateness``: seconds past the due time, for
    a decision made at it."""

    kind: str
    state: str
    reason: str | None
    lateness: float | None = None
    count: int = 1


@dataclass(frozen=True, slots=True)
class DeliveryAttempted:
    result: str


@dataclass(frozen=True, slots=True)
class BounceReceived:
    result: str


class Dispatcher:
    """Hands each committed event to the handlers of its kind."""

    def __init__(self) -> None:
        self._handlers: defaultdict[type[Any], list[Callable[[Any], None]]] = defaultdict(list)

    def subscribe(self, kind: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        """Call ``handler`` with every event of ``kind`` committed from now on; returns the
        function that ends it."""
        self._handlers[kind].append(handler)

        def unsubscribe() -> None:
            handlers = self._handlers[kind]
            if handler in handlers:
                handlers.remove(handler)

        return unsubscribe

    def dispatch(self, event: object) -> None:
        for handler in tuple(self._handlers.get(type(event), ())):
            try:
                handler(event)
            except Exception:  # the commit stands; the other handlers still run
                log.exception("a handler of %s failed", type(event).__name__)
