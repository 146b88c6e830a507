"""What every operation needs: settings, the database, the clock and the password hasher,
bundled once at start-up and handed to each call."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from frontdesk.clock import Clock, SystemClock
from frontdesk.core.model import Role
from frontdesk.doorbell import Doorbell
from frontdesk.security import PasswordHasher
from frontdesk.settings import Settings
from frontdesk.store.database import Database


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    database: Database
    clock: Clock
    passwords: PasswordHasher
    # Rung after a transaction that makes a notification due (``decisions_bell``) or an
    # e-mail to send (``deliveries_bell``), so the engine worker of this process looks at
    # that schedule again. Apart, so that deciding never waits for a batch of e-mails.
    decisions_bell: Doorbell = field(default_factory=Doorbell)
    deliveries_bell: Doorbell = field(default_factory=Doorbell)
    visitor_callers: VisitorCallers = field(default_factory=lambda: VisitorCallers())

    @classmethod
    def create(cls, settings: Settings, *, clock: Clock | None = None) -> Runtime:
        return cls(
            settings=settings,
            database=Database(settings.effective_database_url),
            clock=clock or SystemClock(),
            passwords=PasswordHasher(settings.password_hashing),
        )

    @property
    def device_lease(self) -> timedelta:
        """How long a heartbeat, or one renewal of a socket's lease, keeps a device connected."""
        return timedelta(seconds=self.settings.agent_device_timeout)

    @property
    def visitor_grace(self) -> timedelta:
        """How long a visitor stays on the website after its last open connection."""
        return timedelta(seconds=self.settings.visitor_left_after)


@dataclass(frozen=True, slots=True)
class AgentCaller:
    """An authenticated agent: every query it causes is scoped to ``account_id``."""

    agent_id: int
    account_id: int
    role: Role
    token_id: int


@dataclass(frozen=True, slots=True)
class VisitorCaller:
    visitor_id: int
    account_id: int


class VisitorCallers:
    """Visitor tokens already proven, by widget key and token digest, so that a widget's
    calls skip the look-up. A visitor token is never revoked (visitors are only ever
    created, and a widget key never changes), so an entry stays true for the life of the
    process; the count is bounded, and a full cache starts over."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._callers: dict[tuple[str, str], VisitorCaller] = {}
        self._max_entries = max_entries

    def get(self, widget_key: str, token_digest: str) -> VisitorCaller | None:
        return self._callers.get((widget_key, token_digest))

    def remember(self, widget_key: str, token_digest: str, caller: VisitorCaller) -> None:
        if len(self._callers) >= self._max_entries:
            self._callers.clear()
        self._callers[(widget_key, token_digest)] = caller
