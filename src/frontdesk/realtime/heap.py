"""Keeping the garbage collector's full collections short while many sockets are open.

Each open socket holds a few hundred objects the cyclic collector tracks (its protocol,
its task, its session and subscription). A full collection walks every tracked object
that is not frozen, so with 10,000 sockets open it took 700-770 ms, and whatever the
server was doing waited for it: a message fanned out to a thousand dashboards arrived
three quarters of a second late (docs/performance.md).

``HeapKeeper`` freezes the heap (``gc.freeze()``) once a wave of sockets has opened and
the wave has passed: their objects live as long as the sockets, and frozen, no collection
walks them. A frozen object that becomes garbage is not collected until the heap is
unfrozen, so once as many sockets have closed as half of those frozen (at least
``reclaim_after``), it unfreezes, collects once, and freezes again: one full collection
per wave of closings, at a quiet moment, instead of one every few seconds.

That collection walks the whole heap (about a second with 10,000 sockets' garbage), and
every request in flight waits for it. So a quiet moment is a second with few sockets
opening or closing and few HTTP requests (``request``); on a server never that quiet the
collection waits at most ``reclaim_wait`` seconds, then runs in the next second quiet of
sockets.

The policy is a plain object fed with counts (``tick`` once a second), so it is tested
without a collector; ``collector_actions`` are the real ones.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("frontdesk.heap")


@dataclass
class HeapKeeper:
    freeze: Callable[[], None]
    reclaim: Callable[[], None]
    # A wave of at least this many openings is frozen once it has passed.
    freeze_after: int = 256
    # A second with fewer openings than this ends a wave.
    quiet_below: int = 32
    # Unfreeze and collect once at least this many sockets (and half the frozen ones) closed.
    reclaim_after: int = 256
    # ... in a second with fewer HTTP requests than this, or after this many seconds anyway.
    quiet_requests_below: int = 10
    reclaim_wait: int = 60
    opened_since_freeze: int = 0
    closed_since_reclaim: int = 0
    frozen_sockets: int = 0
    reclaim_waited: int = 0
    _opened_this_tick: int = 0
    _closed_this_tick: int = 0
    _requests_this_tick: int = 0

    def opened(self) -> None:
        self.opened_since_freeze += 1
        self._opened_this_tick += 1

    def closed(self) -> None:
        self.closed_since_reclaim += 1
        self._closed_this_tick += 1

    def request(self) -> None:
        self._requests_this_tick += 1

    def tick(self, open_sockets: int) -> str | None:
        """Once a second: what was done (``"freeze"``, ``"reclaim"``), if anything."""
        quiet = (
            self._opened_this_tick < self.quiet_below and self._closed_this_tick < self.quiet_below
        )
        requests = self._requests_this_tick
        self._opened_this_tick = self._closed_this_tick = self._requests_this_tick = 0
        due = self.closed_since_reclaim >= max(self.reclaim_after, self.frozen_sockets // 2)
        if due:
            self.reclaim_waited += 1
        if not quiet:
            return None
        if due:
            if requests >= self.quiet_requests_below and self.reclaim_waited <= self.reclaim_wait:
                return None
            self.reclaim()
            self.closed_since_reclaim = self.opened_since_freeze = self.reclaim_waited = 0
            self.frozen_sockets = open_sockets
            return "reclaim"
        if self.opened_since_freeze >= self.freeze_after:
            self.freeze()
            self.opened_since_freeze = 0
            self.frozen_sockets = open_sockets
            return "freeze"
        return None


def collector_actions() -> tuple[Callable[[], None], Callable[[], None]]:
    """The real ``freeze`` and ``reclaim`` of a ``HeapKeeper``."""

    def freeze() -> None:
        gc.freeze()

    def reclaim() -> None:
        started = time.perf_counter()
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        log.info(
            "collected %d unreachable objects among the frozen heap in %.0f ms",
            found,
            (time.perf_counter() - started) * 1000,
        )

    return freeze, reclaim
