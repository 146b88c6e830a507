"""What every operation needs: settings, the database, the clock and the password hasher,
bundled once at start-up and handed to each call."""

from __future__ import annotations

import secrets
import threading
from collections import deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.orm import Session

from frontdesk import metrics
from frontdesk.clock import Clock, SystemClock
from frontdesk.core.model import Role
from frontdesk.doorbell import Doorbell
from frontdesk.security import PasswordHasher
from frontdesk.service.events import (
    AgentAccessChanged,
    BounceReceived,
    CallOffUnfinished,
    Decided,
    DeliveriesDue,
    DeliveryAttempted,
    Dispatcher,
    NotificationsDue,
    PushesDue,
    WebhooksDue,
)
from frontdesk.settings import Settings
from frontdesk.store.database import Database

# PostgreSQL NOTIFY channel: "the engine's schedule changed".
ENGINE_CHANNEL = "frontdesk_engine"


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    database: Database
    clock: Clock
    passwords: PasswordHasher
    # Rung after a transaction that makes a notification due (``decisions_bell``), an
    # e-mail to send (``deliveries_bell``) or a push to make (``pushes_bell``), so the
    # engine worker of this process looks at that schedule again. Apart, so that deciding
    # never waits for a batch of e-mails or pushes.
    decisions_bell: Doorbell = field(default_factory=Doorbell)
    deliveries_bell: Doorbell = field(default_factory=Doorbell)
    pushes_bell: Doorbell = field(default_factory=Doorbell)
    # And a webhook event to deliver (docs/webhooks.md).
    webhooks_bell: Doorbell = field(default_factory=Doorbell)
    # Rule 2's call-offs left unfinished on SQLite, oldest first, and the bell of the
    # engine loop that finishes them (a process without an engine keeps none: the engine
    # decides what is left at its due time, suppressed all the same).
    call_offs: deque[CallOffUnfinished] = field(default_factory=deque)
    call_offs_bell: Doorbell = field(default_factory=Doorbell)
    visitor_callers: VisitorCallers = field(default_factory=lambda: VisitorCallers())
    agent_callers: AgentCallers = field(default_factory=lambda: AgentCallers())
    # What committed transactions changed, handed to whoever acts on it (service/events.py).
    events: Dispatcher = field(default_factory=Dispatcher)
    # Signs this runtime's PostgreSQL notices (``tell_others``), so that ``hear_others``
    # passes over them: what it commits, its own ``events`` already told it, with more
    # than a notice says.
    sender: str = field(default_factory=lambda: secrets.token_hex(6))

    def __post_init__(self) -> None:
        # One SQLite file is served by one process, which hears every change of access; on
        # PostgreSQL other processes change it too, and their NOTIFY is heard only while a
        # listener runs (frontdesk.api.app): until then, nothing is remembered.
        self.agent_callers.trusted = self.database.is_sqlite
        self.events.subscribe(
            AgentAccessChanged, lambda e: self.agent_callers.forget_agent(e.agent_id)
        )
        self.events.subscribe(NotificationsDue, lambda e: self.decisions_bell.ring(e.due))
        self.events.subscribe(DeliveriesDue, lambda e: self.deliveries_bell.ring(e.due))
        self.events.subscribe(PushesDue, lambda e: self.pushes_bell.ring(e.due))
        self.events.subscribe(WebhooksDue, lambda e: self.webhooks_bell.ring(e.due))
        self.events.subscribe(CallOffUnfinished, self._call_off_later)
        self.events.subscribe(
            Decided, lambda e: metrics.decided(e.kind, e.state, e.reason, e.lateness, count=e.count)
        )
        self.events.subscribe(DeliveryAttempted, lambda e: metrics.delivery_attempted(e.result))
        self.events.subscribe(BounceReceived, lambda e: metrics.bounce_received(e.result))

    def _call_off_later(self, unfinished: CallOffUnfinished) -> None:
        if self.call_offs_bell.attached:
            self.call_offs.append(unfinished)
            self.call_offs_bell.ring()

    def tell_others(self, session: Session, channel: str, payload: str = "") -> None:
        """Tell the other runtimes (processes) listening on ``channel`` when this
        transaction commits (``Database.notify``); ``hear_others`` there yields
        ``payload``."""
        self.database.notify(session, channel, f"{self.sender} {payload}")

    async def hear_others(
        self, channel: str, *, listening: Callable[[], None] | None = None
    ) -> AsyncGenerator[str, None]:
        """The payloads other runtimes tell on ``channel`` (``Database.listen``); this
        one's own are passed over."""
        async for notice in self.database.listen(channel, listening=listening):
            sender, _, payload = notice.partition(" ")
            if sender != self.sender:
                yield payload

    def record(self, session: Session, event: object) -> None:
        """``event`` happens if the session's transaction commits: it is dispatched then."""
        self.database.after_commit(session, partial(self.events.dispatch, event))

    def notifications_due(self, session: Session, due: datetime | None = None) -> None:
        """The transaction makes notifications due (``due``: the earliest, ``None`` for
        now): this process's engine looks again once it commits, other processes' engines
        when they hear ``ENGINE_CHANNEL``."""
        self.record(session, NotificationsDue(due))
        self._tell_engines(session, "decisions", due)

    def pushes_due(self, session: Session, due: datetime | None = None) -> None:
        """The transaction makes pushes due (``due``: the earliest), announced as
        ``notifications_due`` is."""
        self.record(session, PushesDue(due))
        self._tell_engines(session, "pushes", due)

    def webhooks_due(self, session: Session, due: datetime | None = None) -> None:
        """The transaction writes webhook events (``due``: the earliest attempt), announced
        as ``notifications_due`` is."""
        self.record(session, WebhooksDue(due))
        self._tell_engines(session, "webhooks", due)

    def deliveries_due(self, session: Session, due: datetime | None = None) -> None:
        """The transaction makes e-mails to send (``due``: the earliest attempt, ``None`` for
        now), announced as ``notifications_due`` is."""
        self.record(session, DeliveriesDue(due))
        self._tell_engines(session, "deliveries", due)

    def _tell_engines(self, session: Session, bell: str, due: datetime | None) -> None:
        # "<bell> <due>": the other processes' engines ring that bell alone, and wake for
        # it only if it is due before they would wake anyway (``hear_engine_notice``).
        when = "" if due is None else due.isoformat()
        self.tell_others(session, ENGINE_CHANNEL, f"{bell} {when}")

    @property
    def engine_bells(self) -> dict[str, Doorbell]:
        """The engine's doorbells that other processes ring, by the name their notices
        give (``_tell_engines``)."""
        return {
            "decisions": self.decisions_bell,
            "pushes": self.pushes_bell,
            "webhooks": self.webhooks_bell,
            "deliveries": self.deliveries_bell,
        }

    def hear_engine_notice(self, payload: str) -> None:
        """Another process's ``*_due`` (heard on ``ENGINE_CHANNEL``): the bell it names,
        rung with its due time; every bell for a notice this version cannot read."""
        bells = self.engine_bells
        name, _, when = payload.partition(" ")
        bell = bells.get(name)
        try:
            due = datetime.fromisoformat(when) if when else None
        except ValueError:
            bell = None
        if bell is None or (due is not None and due.tzinfo is None):
            for every in bells.values():
                every.ring()
            return
        bell.ring(due)

    @classmethod
    def create(cls, settings: Settings, *, clock: Clock | None = None) -> Runtime:
        return cls(
            settings=settings,
            database=Database(
                settings.effective_database_url,
                checkpoint_every=settings.sqlite_checkpoint_every,
                pool_size=settings.database_pool_size,
                max_overflow=settings.database_max_overflow,
            ),
            clock=clock or SystemClock(),
            passwords=PasswordHasher(settings.password_hashing),
        )

    @property
    def agent_device_timeout(self) -> timedelta:
        """How long a heartbeat, or one renewal of a socket's lease, keeps a device connected."""
        return timedelta(seconds=self.settings.agent_device_timeout)

    @property
    def visitor_left_after(self) -> timedelta:
        """How long a visitor stays on the website after its last open connection."""
        return timedelta(seconds=self.settings.visitor_left_after)


@dataclass(frozen=True, slots=True)
class AgentCaller:
    """An authenticated agent: every query it causes is scoped to ``account_id``."""

    agent_id: int
    account_id: int
    role: Role
    token_id: int
    # Until when a remembered token may be taken without a look at the database: then it
    # is time to record its use, or it has reached its lifetime (``prove_agent_token``).
    fresh_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class VisitorCaller:
    visitor_id: int
    account_id: int


class VisitorCallers:
    """Visitor tokens already proven, by widget key and token digest, so that a widget's
    calls skip the look-up. A visitor token is never revoked (visitors are only ever
    created, and a widget key never changes), so an entry stays true for the life of the
    process.

    Bounded by two generations: when the young one is full it becomes the old one and the
    one before is dropped, and a token found in the old one moves back to the young one.
    Visitors who write now stay; the many who wrote once long ago go, and the memory with
    them (at most ``2 * generation`` entries, ~300 bytes each)."""

    def __init__(self, generation: int = 10_000) -> None:
        self._young: dict[tuple[str, str], VisitorCaller] = {}
        self._old: dict[tuple[str, str], VisitorCaller] = {}
        self._generation = generation

    def get(self, widget_key: str, token_digest: str) -> VisitorCaller | None:
        key = (widget_key, token_digest)
        caller = self._young.get(key)
        if caller is None and (caller := self._old.pop(key, None)) is not None:
            self._keep(key, caller)
        return caller

    def remember(self, widget_key: str, token_digest: str, caller: VisitorCaller) -> None:
        self._keep((widget_key, token_digest), caller)

    def __len__(self) -> int:
        return len(self._young) + len(self._old)

    def _keep(self, key: tuple[str, str], caller: VisitorCaller) -> None:
        if len(self._young) >= self._generation:
            self._old, self._young = self._young, {}
        self._young[key] = caller


# The PostgreSQL channel a change of an agent's access is told on, so that every process
# forgets the tokens it remembered (``AgentCallers``).
ACCESS_CHANNEL = "frontdesk_access"


class AgentCallers:
    """Agent tokens already proven, by token digest, so that the dashboard's requests and
    sockets skip the look-up. An agent's access changes (a logout, a deactivation, another
    role: ``AgentAccessChanged``); once that transaction commits, the agent's entries are
    forgotten here, and on PostgreSQL every other process is told on ``ACCESS_CHANNEL`` and
    forgets all of its own.

    A look-up that began before a change and ends after it is not remembered (``seen``:
    the version the caller read before its look-up), so no entry outlives the change that
    made it wrong. While ``trusted`` is off (PostgreSQL before its listener runs, or after
    it lost the connection), nothing is remembered and nothing is found."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.trusted = False
        self.version = 0
        self._callers: dict[str, AgentCaller] = {}
        self._of_agent: dict[int, set[str]] = {}
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def get(self, token_digest: str) -> AgentCaller | None:
        return self._callers.get(token_digest) if self.trusted else None

    def remember(self, token_digest: str, caller: AgentCaller, *, seen: int) -> None:
        with self._lock:
            if not self.trusted or self.version != seen:
                return
            if len(self._callers) >= self._max_entries:
                self._forget_all()
            self._callers[token_digest] = caller
            self._of_agent.setdefault(caller.agent_id, set()).add(token_digest)

    def forget_agent(self, agent_id: int) -> None:
        with self._lock:
            self.version += 1
            for token_digest in self._of_agent.pop(agent_id, ()):
                self._callers.pop(token_digest, None)

    def forget_all(self, *, trusted: bool | None = None) -> None:
        """Forget everything; ``trusted``: whether to remember again from now on."""
        with self._lock:
            self._forget_all()
            if trusted is not None:
                self.trusted = trusted

    def __len__(self) -> int:
        return len(self._callers)

    def _forget_all(self) -> None:
        self.version += 1
        self._callers.clear()
        self._of_agent.clear()
